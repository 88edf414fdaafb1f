using System.Globalization;
using System.Text;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// Gives every statement of a workspace's operation a query id that names the events table, the workspace, the run and
/// the step: <c>coldstore:&lt;table&gt;:&lt;workspace&gt;:&lt;run&gt;:&lt;n&gt;:&lt;step&gt;</c>. A server goes on running an INSERT … SELECT
/// or a mutation after its client timed out, died or lost its lease; the next holder of the workspace's lease finds such
/// statements by the prefix <c>coldstore:&lt;table&gt;:&lt;workspace&gt;:</c> and kills them before it repeats any step (see
/// <see cref="PrefixFor"/>). The table is part of it because the lease is per state store: two deployments on one
/// server (a staging copy, or tests) may hold the same workspace id in different databases, and must not kill each
/// other's statements.
/// </summary>
/// <remarks>
/// The operation in progress is carried in an <see cref="AsyncLocal{T}"/> set by <see cref="Begin"/>, so every statement
/// the operation sends, however deep, is tagged without threading an id through each call; a statement outside an
/// operation gets an id of its own under <see cref="OtherPrefix"/>. The lease makes one operation per workspace at a time, so the prefix of a
/// workspace belongs to one live holder.
/// </remarks>
internal sealed class StatementTagger(IClickHouseClient inner) : IClickHouseClient
{
    /// <summary>The prefix of the ids of statements sent outside any operation.</summary>
    internal const string OtherPrefix = "coldstore:other:";

    private static readonly AsyncLocal<Scope?> Current = new();

    /// <inheritdoc />
    public string Description => inner.Description;

    /// <summary>The prefix of every query id of the workspace's operations on these tables.</summary>
    public static string PrefixFor(EventTables tables, Guid workspaceId) =>
        string.Create(CultureInfo.InvariantCulture, $"{TablePrefixFor(tables)}{workspaceId:N}:");

    /// <summary>
    /// The prefix of a batch's query ids: it names the batch, not its workspaces, so a search for one workspace's
    /// statements does not find it; a batch statement is bounded to end before its leases could lapse instead
    /// (<see cref="ColdstoreOptions.BatchStatementTimeout"/>).
    /// </summary>
    public static string BatchPrefixFor(EventTables tables, Guid batchId) =>
        string.Create(CultureInfo.InvariantCulture, $"{TablePrefixFor(tables)}batch-{batchId:N}:");

    /// <summary>The prefix of every query id of any workspace's operations on these tables.</summary>
    public static string TablePrefixFor(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return string.Create(CultureInfo.InvariantCulture, $"coldstore:{Fnv1a($"{tables.Database}\n{tables.Events}"):x16}:");
    }

    /// <summary>Tags the statements sent from this async flow, under <paramref name="prefix"/>, until the scope is disposed.</summary>
    public static IDisposable Begin(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var previous = Current.Value;
        var scope = new Scope(prefix + Guid.NewGuid().ToString("N")[..12] + ":", previous);
        Current.Value = scope;
        return scope;
    }

    /// <summary>The query id for the next statement: the scope's prefix, a sequence number and the purpose as a slug.</summary>
    internal static string NextId(string prefix, long sequence, string? purpose)
    {
        var slug = new StringBuilder();
        foreach (var character in (purpose ?? "statement").ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(character))
            {
                slug.Append(character);
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }

            if (slug.Length >= 40)
            {
                break;
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{prefix}{sequence}:{slug.ToString().TrimEnd('-')}");
    }

    /// <inheritdoc />
    public Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default) =>
        TracedAsync(Tag(query), async q =>
        {
            await inner.ExecuteAsync(q, cancellationToken).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default) =>
        TracedAsync(Tag(query), q => inner.QueryAsync(q, cancellationToken));

    /// <inheritdoc />
    public Task<object?> ScalarAsync(ClickHouseQuery query, CancellationToken cancellationToken = default) =>
        TracedAsync(Tag(query), q => inner.ScalarAsync(q, cancellationToken));

    /// <inheritdoc />
    public Task InsertAsync(ClickHouseQuery insert, string format, Stream data, CancellationToken cancellationToken = default) =>
        TracedAsync(Tag(insert), async q =>
        {
            await inner.InsertAsync(q, format, data, cancellationToken).ConfigureAwait(false);
            return true;
        });

    /// <summary>
    /// Sends one statement inside a client span that carries its query id, so a trace leads to the statement's row in
    /// <c>system.query_log</c> (and to <c>KILL QUERY</c> when it outlives its client). Parameters, which may hold
    /// secrets, are never put on the span; the purpose is.
    /// </summary>
    private static async Task<T> TracedAsync<T>(ClickHouseQuery query, Func<ClickHouseQuery, Task<T>> send)
    {
        using var span = Diagnostics.ColdstoreTelemetry.Source.StartActivity(query.Purpose ?? "clickhouse statement", System.Diagnostics.ActivityKind.Client);
        span?.SetTag("db.system.name", "clickhouse");
        span?.SetTag("db.operation.name", query.Purpose);
        span?.SetTag("db.query.id", query.QueryId);
        try
        {
            return await send(query).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.GetType().Name);
            span?.SetTag("error.type", e.GetType().Name);
            throw;
        }
    }

    /// <summary>FNV-1a over the UTF-16 code units: stable across processes and runs, unlike string.GetHashCode.</summary>
    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var unit in text)
        {
            hash = unchecked((hash ^ unit) * 1099511628211UL);
        }

        return hash;
    }

    /// <summary>The tagger does not own the client it wraps.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ClickHouseQuery Tag(ClickHouseQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        return query.QueryId is not null ? query
            : Current.Value is { } scope ? query.WithQueryId(NextId(scope.Prefix, Interlocked.Increment(ref scope.Sequence), query.Purpose))
            // Outside an operation (status, listings, init): an id of its own, so its span still leads to its row in
            // system.query_log. "other" is no table prefix (those are 16 hex digits), so no orphan search matches it.
            : query.WithQueryId(NextId(string.Create(CultureInfo.InvariantCulture, $"{OtherPrefix}{Guid.NewGuid():N}:"), 0, query.Purpose));
    }

    private sealed class Scope(string prefix, Scope? previous) : IDisposable
    {
        public long Sequence;

        public string Prefix { get; } = prefix;

        public void Dispose() => Current.Value = previous;
    }
}
