using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>Queries over a workspace's archives, in place (see <see cref="ArchiveQuerySql"/>).</summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    private const string QueryStep = "query";

    /// <summary>The server's built-in functions, read on the first query (a function created later is never among them).</summary>
    private QueryFunctions? _queryFunctions;

    private async Task<QueryFunctions> QueryFunctionsAsync(CancellationToken ct)
    {
        if (_queryFunctions is { } known)
        {
            return known;
        }

        var functions = await _clickHouse.QueryAsync(ArchiveQuerySql.BuiltInFunctions(), ct).ConfigureAwait(false);
        var combinators = await _clickHouse.QueryAsync(ArchiveQuerySql.AggregateCombinators(), ct).ConfigureAwait(false);
        return _queryFunctions = new QueryFunctions(
            functions.Select(r => (r.GetString("name"), r.GetInt64("case_insensitive") != 0, r.GetInt64("is_aggregate") != 0)),
            combinators.Select(r => r.GetString("name")));
    }

    public async Task<ArchiveQueryResult> QueryAsync(Guid workspaceId, string sql, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sql);
        await RequireWorkspaceAsync(workspaceId, QueryStep, ct).ConfigureAwait(false);
        var text = sql.Trim().TrimEnd(';').TrimEnd();
        if (text.Length == 0)
        {
            throw Refused(workspaceId, "it is empty");
        }

        // One statement only. The engine is asked to parse the text, and an embedded engine runs every statement of a
        // text it is given: a ';' anywhere (even in a string literal) is refused before the text reaches it.
        if (text.Contains(';', StringComparison.Ordinal))
        {
            throw Refused(workspaceId, "it has a ';': give one statement, without semicolons inside it");
        }

        IReadOnlyList<string> tree;
        try
        {
            tree = [.. (await _clickHouse.QueryAsync(ArchiveQuerySql.ExplainSyntax(text), ct).ConfigureAwait(false)).Select(r => r[0]?.ToString() ?? string.Empty)];
        }
        catch (ClickHouseException e) when (!e.IsTransient)
        {
            throw Refused(workspaceId, $"ClickHouse cannot parse it ({e.EngineMessage})");
        }

        if (ArchiveQueryCheck.Problem(tree, await QueryFunctionsAsync(ct).ConfigureAwait(false)) is { } problem)
        {
            throw Refused(workspaceId, problem);
        }

        var archives = (await _ledger.ListAsync(workspaceId, ct).ConfigureAwait(false)).Where(a => a.State == ArchiveState.Archived).ToList();
        if (archives.Count == 0)
        {
            throw new WorkspaceOperationException(workspaceId, QueryStep,
                $"Workspace {workspaceId} has no archived rows to query (no archive is in state archived); its events are in the hot tables, so query user_events_v2 there.",
                WorkspaceErrorKind.Conflict);
        }

        var columns = (await _clickHouse.QueryAsync(ArchiveQuerySql.EventColumns(tables), ct).ConfigureAwait(false))
            .Select(r => new EventColumn(r.GetString("name"), r.GetString("type"), r.GetString("default_kind"), r.GetString("default_expression")))
            .ToList();
        // Each archive is read through exactly the objects its manifest names (an unfinished erasure may have left others).
        var sources = new List<TableFunctionExpression>();
        foreach (var archive in archives)
        {
            var (manifest, unreadable) = await ReadManifestAsync(archive, ct).ConfigureAwait(false);
            sources.Add(manifest is null
                ? throw new WorkspaceOperationException(workspaceId, QueryStep, $"Archive {archive.ArchiveId} of workspace {workspaceId} cannot be queried: {unreadable}. Nothing was run; check it with `coldstore verify {workspaceId}`.", WorkspaceErrorKind.Failed)
                : ExactSource(archive, manifest, $"a{sources.Count}"));
        }

        var rows = await _clickHouse.QueryAsync(ArchiveQuerySql.OverArchives(text, columns, workspaceId, sources, options.StatementTimeout), ct).ConfigureAwait(false);
        return new ArchiveQueryResult(workspaceId, [.. archives.Select(a => a.ArchiveId)], rows.Count > 0 ? rows[0].ColumnNames : [], rows);
    }

    /// <summary>
    /// Every archive of the workspace with what its manifest says (objects, sizes, months), for <c>coldstore archives</c>.
    /// Reads the ledger and the manifests only; an unreadable manifest is reported on its archive, not thrown.
    /// </summary>
    public async Task<IReadOnlyList<ArchiveDescription>> DescribeAsync(Guid workspaceId, CancellationToken ct)
    {
        await RequireWorkspaceAsync(workspaceId, "archives", ct).ConfigureAwait(false);
        var described = new List<ArchiveDescription>();
        foreach (var archive in await _ledger.ListAsync(workspaceId, ct).ConfigureAwait(false))
        {
            if (archive.State is ArchiveState.Restored or ArchiveState.Abandoned or ArchiveState.Purged or ArchiveState.Copying)
            {
                // Their objects are gone (or being written): the ledger row is all there is.
                described.Add(new ArchiveDescription(archive, [], [], null));
                continue;
            }

            var (manifest, problem) = await ReadManifestAsync(archive, ct).ConfigureAwait(false);
            described.Add(manifest is null
                ? new ArchiveDescription(archive, [], [], problem)
                : new ArchiveDescription(archive, manifest.Objects,
                    [.. manifest.Objects.Select(o => MonthOf(o.Key)).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)], null));
        }

        return described;

        // month=202401.parquet → 2024-01
        static string? MonthOf(string key) =>
            key.StartsWith("month=", StringComparison.Ordinal) && key.Length >= 12 && key[6..12].All(char.IsAsciiDigit)
                ? $"{key[6..10]}-{key[10..12]}"
                : null;
    }

    private static WorkspaceOperationException Refused(Guid workspaceId, string problem) =>
        new(workspaceId, QueryStep, $"The query over the archives of workspace {workspaceId} was refused: {problem}. Nothing was run.", WorkspaceErrorKind.InvalidInput);
}
