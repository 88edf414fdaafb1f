using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coldstore.Diagnostics;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Metrics and traces of real operations: the counters move by what an archive and a restore did, a failure is counted
/// with its kind, each step is timed, and every ClickHouse statement is a span under its operation carrying its query id.
/// Other tests run beside these in the same process and share the meter, so counts are compared as at least what this
/// test's own operations add, and spans are picked by this test's workspace.
/// </summary>
public abstract class TelemetryTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task An_archive_and_a_restore_move_the_counters_time_their_steps_and_trace_every_statement_with_its_query_id()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 90, seed: 5);
        using var metrics = new Recorder();
        using var spans = new SpanRecorder();

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.True(metrics.Sum("coldstore.operations", ("coldstore.operation", "archive"), ("coldstore.outcome", "succeeded")) >= 1);
        Assert.True(metrics.Sum("coldstore.operations", ("coldstore.operation", "restore"), ("coldstore.outcome", "succeeded")) >= 1);
        Assert.True(metrics.Sum("coldstore.rows", ("coldstore.operation", "archive")) >= archived.Rows);
        Assert.True(metrics.Sum("coldstore.bytes", ("coldstore.operation", "archive")) >= archived.Bytes);
        Assert.True(metrics.Sum("coldstore.rows", ("coldstore.operation", "restore")) >= restored.Rows);
        Assert.Equal(90, archived.Rows);
        foreach (var step in new[] { Steps.ArchiveCopied, Steps.ArchiveVerified, Steps.ArchiveDeletesApplied, Steps.RestoreInserted, Steps.RestoreVerified })
        {
            Assert.True(metrics.Count("coldstore.step.duration", ("coldstore.step", step)) >= 1, $"no duration recorded for {step}");
        }

        var operations = spans.Completed.Where(a => (a.GetTagItem("coldstore.workspace.id") as string) == workspace.ToString("D")).ToList();
        Assert.Equal(["coldstore.archive", "coldstore.restore"], operations.Select(a => a.OperationName));
        Assert.Contains(operations[0].Events, e => e.Name == Steps.ArchiveVerified);
        // Query ids are coldstore:<tables>:<workspace, 32 hex digits>:<run>:<n>:<purpose> (StatementTagger).
        var ofWorkspace = $":{workspace:N}:";
        foreach (var operation in operations)
        {
            var statements = spans.Completed.Where(a => a.ParentSpanId == operation.SpanId && a.Kind == ActivityKind.Client).ToList();
            Assert.NotEmpty(statements);
            Assert.All(statements, s => Assert.Equal("clickhouse", s.GetTagItem("db.system.name")));
            // The orphan search runs untagged on purpose (a tagged statement would find itself); every other carries the id.
            Assert.All(statements.Where(s => s.GetTagItem("db.query.id") is not null), s => Assert.Contains(ofWorkspace, (string)s.GetTagItem("db.query.id")!, StringComparison.Ordinal));
            Assert.Contains(statements, s => s.OperationName == "copy rows to archive" || s.OperationName == "insert archived rows");
        }

        // A statement outside any operation (a status read) is a span too, with an id of its own that no workspace's
        // orphan search matches. A parent activity of the test's own picks them out from other tests' statements.
        ActivitySpanId parent;
        using (var reading = new Activity("status read").Start())
        {
            parent = reading.SpanId;
            await h.Service.GetStatusAsync(workspace);
        }

        var status = spans.Completed.Where(a => a.ParentSpanId == parent && a.Kind == ActivityKind.Client).ToList();
        Assert.NotEmpty(status);
        Assert.All(status, s => Assert.Matches("^coldstore:other:[0-9a-f]{32}:0:", (string)s.GetTagItem("db.query.id")!));
    }

    [Fact]
    public async Task A_failed_operation_is_counted_with_its_kind_and_its_span_says_so()
    {
        var h = await OpenAsync();
        var other = await OpenAsync(Fast with { LeaseWait = TimeSpan.Zero });
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 10, seed: 6);
        using var metrics = new Recorder();
        using var spans = new SpanRecorder();
        var lease = await h.State.TryAcquireLeaseAsync(workspace, "someone else", TimeSpan.FromMinutes(1));
        Assert.True(lease.Acquired);

        var busy = await Assert.ThrowsAsync<WorkspaceOperationException>(() => other.Service.ColdStoreWorkspaceEventsAsync(workspace));

        Assert.Equal(WorkspaceErrorKind.Busy, busy.Kind);
        Assert.True(metrics.Sum("coldstore.operations", ("coldstore.operation", "archive"), ("coldstore.outcome", "failed"), ("error.type", "busy")) >= 1);
        var span = Assert.Single(spans.Completed, a => (a.GetTagItem("coldstore.workspace.id") as string) == workspace.ToString("D"));
        Assert.Equal((ActivityStatusCode.Error, "busy"), (span.Status, span.GetTagItem("error.type")));
        await h.State.ReleaseLeaseAsync(lease.Lease!);
    }

    [Fact]
    public async Task Taking_over_a_lapsed_lease_is_counted_and_the_archive_goes_on()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 15, seed: 7);
        using var metrics = new Recorder();
        // A holder that died: its lease lapses without a release.
        Assert.True((await h.State.TryAcquireLeaseAsync(workspace, "crashed-host:1", TimeSpan.FromMilliseconds(200))).Acquired);
        await Task.Delay(600);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(15, archived.Rows);
        // Other tests share the meter (and some take leases over), so this is at least this test's one.
        Assert.True(metrics.Sum("coldstore.lease.takeovers", ("coldstore.operation", "archive")) >= 1);
    }

    /// <summary>Collects Coldstore's measurements while it lives.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentBag<(string Instrument, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = [];

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ColdstoreTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _measurements.Add((i.Name, v, tags.ToArray())));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => _measurements.Add((i.Name, v, tags.ToArray())));
            _listener.Start();
        }

        public double Sum(string instrument, params (string Key, string Value)[] tags) => Matching(instrument, tags).Sum(m => m.Value);

        public int Count(string instrument, params (string Key, string Value)[] tags) => Matching(instrument, tags).Count();

        private IEnumerable<(string Instrument, double Value, KeyValuePair<string, object?>[] Tags)> Matching(string instrument, (string Key, string Value)[] tags) =>
            _measurements.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.Any(k => k.Key == t.Key && Equals(k.Value, t.Value))));

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Collects Coldstore's finished spans while it lives.</summary>
    private sealed class SpanRecorder : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentQueue<Activity> _completed = new();

        public SpanRecorder()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == ColdstoreTelemetry.Name,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _completed.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public IReadOnlyList<Activity> Completed => [.. _completed];

        public void Dispose() => _listener.Dispose();
    }
}

public sealed class TelemetryOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : TelemetryTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class TelemetryOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : TelemetryTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
