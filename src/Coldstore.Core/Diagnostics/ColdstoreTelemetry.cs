using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using Coldstore.Domain;
using Coldstore.Errors;

namespace Coldstore.Diagnostics;

/// <summary>
/// Coldstore's metrics and traces, under one name for both: subscribe with OpenTelemetry's
/// <c>AddMeter(ColdstoreTelemetry.Name)</c> and <c>AddSource(ColdstoreTelemetry.Name)</c>.
/// </summary>
/// <remarks>
/// <para>Metrics (OpenTelemetry naming; attributes in brackets):</para>
/// <list type="bullet">
/// <item><c>coldstore.operations</c> {operation}: operations started, succeeded and failed [<c>coldstore.operation</c>:
/// archive, restore, reconcile, erase, purge; <c>coldstore.outcome</c>: started, succeeded, failed;
/// <c>error.type</c> on failures: busy, conflict, not_found, invalid_input, failed, lease_lost, engine_unavailable, …].</item>
/// <item><c>coldstore.rows</c> {row} and <c>coldstore.bytes</c> By: rows and archive bytes moved [<c>coldstore.operation</c>].</item>
/// <item><c>coldstore.step.duration</c> s: each named step [<c>coldstore.step</c>].</item>
/// <item><c>coldstore.retries</c> {retry}: copies made again, moves retried by the worker, tries again for a lease another
/// holds, and reconnects of the Postgres change feed [<c>coldstore.reason</c>: copy_mismatch, rows_arrived_after_copy,
/// move_failed, lease_busy, feed_reconnect].</item>
/// <item><c>coldstore.lease.lost</c> {lease}: operations that lost their lease on the way.</item>
/// <item><c>coldstore.workspaces</c> {workspace} (gauge) by <c>coldstore.storage</c>, and
/// <c>coldstore.mutations.unfinished</c> {mutation} (gauge): as the worker last saw them.</item>
/// </list>
/// <para>Traces: one span per operation (<c>coldstore.archive</c>, …) with its workspace and one event per step, and one
/// client span per ClickHouse statement carrying its <c>db.query.id</c> (the id <c>system.query_log</c> has).</para>
/// </remarks>
public static class ColdstoreTelemetry
{
    /// <summary>The name of Coldstore's <see cref="System.Diagnostics.Metrics.Meter"/> and <see cref="System.Diagnostics.ActivitySource"/>.</summary>
    public const string Name = "Coldstore";

    private static readonly string? Version = typeof(ColdstoreTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    internal static readonly ActivitySource Source = new(Name, Version);

    internal static readonly Meter Meter = new(Name, Version);

    internal static readonly Counter<long> Operations =
        Meter.CreateCounter<long>("coldstore.operations", "{operation}", "Operations started, succeeded and failed, by operation and outcome.");

    internal static readonly Counter<long> Rows = Meter.CreateCounter<long>("coldstore.rows", "{row}", "Rows moved: archived, restored or erased.");

    internal static readonly Counter<long> Bytes = Meter.CreateCounter<long>("coldstore.bytes", "By", "Archive bytes written by archives or read back by restores.");

    internal static readonly Histogram<double> StepDuration =
        Meter.CreateHistogram<double>("coldstore.step.duration", "s", "How long each named step of an operation took.");

    internal static readonly Counter<long> Retries = Meter.CreateCounter<long>("coldstore.retries", "{retry}", "Copies made again, moves the worker retries, lease tries and change-feed reconnects, by reason.");

    internal static readonly Counter<long> LeasesLost = Meter.CreateCounter<long>("coldstore.lease.lost", "{lease}", "Operations that lost their workspace's lease on the way.");

    internal static readonly Counter<long> LeaseTakeovers = Meter.CreateCounter<long>(
        "coldstore.lease.takeovers", "{lease}", "Leases taken over from a holder whose lease lapsed without a release (it crashed or was cut off).");

    private static FleetSnapshot _fleet = new(new Dictionary<StorageState, long>(), null);

    static ColdstoreTelemetry()
    {
        Meter.CreateObservableGauge("coldstore.workspaces", ObserveWorkspaces, "{workspace}", "Workspaces by storage state, as the worker last listed them.");
        Meter.CreateObservableGauge("coldstore.mutations.unfinished", ObserveMutations, "{mutation}", "Unfinished deletes of the events tables that name a workspace, as the worker last counted them.");
    }

    /// <summary>What the worker saw on its last pass: workspaces by storage state, and unfinished deletes (null when not counted).</summary>
    internal static void RecordFleet(IReadOnlyDictionary<StorageState, long> byStorage, long? unfinishedMutations) =>
        Volatile.Write(ref _fleet, new FleetSnapshot(byStorage, unfinishedMutations ?? Volatile.Read(ref _fleet).UnfinishedMutations));

    private static IEnumerable<Measurement<long>> ObserveWorkspaces()
    {
        var snapshot = Volatile.Read(ref _fleet);
        return Enum.GetValues<StorageState>().Select(s => new Measurement<long>(snapshot.ByStorage.GetValueOrDefault(s), new KeyValuePair<string, object?>("coldstore.storage", s.ToText())));
    }

    private static IEnumerable<Measurement<long>> ObserveMutations() =>
        Volatile.Read(ref _fleet).UnfinishedMutations is { } count ? [new Measurement<long>(count)] : [];

    /// <summary>The attribute value for a failure: the kind of a workspace error, else the exception's kind.</summary>
    internal static string ErrorType(Exception exception) => exception switch
    {
        WorkspaceOperationException e => e.Kind switch
        {
            WorkspaceErrorKind.Busy => "busy",
            WorkspaceErrorKind.Conflict => "conflict",
            WorkspaceErrorKind.NotFound => "not_found",
            WorkspaceErrorKind.InvalidInput => "invalid_input",
            _ => "failed",
        },
        LeaseLostException => "lease_lost",
        EngineUnavailableException => "engine_unavailable",
        OperationCanceledException => "cancelled",
        ConfigurationException => "configuration",
        _ => exception.GetType().Name,
    };

    /// <summary>
    /// Runs one operation of one workspace as a span, counting it started, then succeeded (with the rows and bytes it
    /// moved) or failed (with the kind of failure).
    /// </summary>
    internal static async Task<T> TraceAsync<T>(string operation, Guid workspaceId, Func<Task<T>> body, Func<T, (long Rows, long Bytes)>? moved = null)
    {
        var tag = new KeyValuePair<string, object?>("coldstore.operation", operation);
        using var activity = Source.StartActivity("coldstore." + operation, ActivityKind.Internal);
        activity?.SetTag("coldstore.workspace.id", workspaceId.ToString("D"));
        Operations.Add(1, tag, new("coldstore.outcome", "started"));
        try
        {
            var result = await body().ConfigureAwait(false);
            Operations.Add(1, tag, new("coldstore.outcome", "succeeded"));
            if (moved?.Invoke(result) is var (rows, bytes))
            {
                Rows.Add(rows, tag);
                Bytes.Add(bytes, tag);
                activity?.SetTag("coldstore.rows", rows);
            }

            return result;
        }
        catch (Exception e)
        {
            var type = ErrorType(e);
            Operations.Add(1, tag, new("coldstore.outcome", "failed"), new("error.type", type));
            if (e is LeaseLostException)
            {
                LeasesLost.Add(1, tag);
            }

            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.SetTag("error.type", type);
            throw;
        }
    }

    /// <summary>Counts one workspace a batch settled itself (those it hands back are counted by the single path they take).</summary>
    internal static void BatchMemberSettled(string operation, Exception? error, long rows, long bytes)
    {
        var tag = new KeyValuePair<string, object?>("coldstore.operation", operation);
        Operations.Add(1, tag, new("coldstore.outcome", "started"));
        if (error is null)
        {
            Operations.Add(1, tag, new("coldstore.outcome", "succeeded"));
            Rows.Add(rows, tag);
            Bytes.Add(bytes, tag);
        }
        else
        {
            Operations.Add(1, tag, new("coldstore.outcome", "failed"), new("error.type", ErrorType(error)));
        }
    }

    private sealed record FleetSnapshot(IReadOnlyDictionary<StorageState, long> ByStorage, long? UnfinishedMutations);
}
