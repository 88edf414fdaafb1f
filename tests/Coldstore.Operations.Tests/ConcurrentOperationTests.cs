using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Two service instances (as two processes would: own chDB connection, own adapters, one shared state store) work
/// on one workspace at once. The lease lets one through at a time; nothing is ever archived or restored twice.
/// </summary>
public abstract class ConcurrentOperationTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly TimeSpan HoldLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Of_two_archives_started_at_once_without_waiting_one_runs_and_the_other_is_refused_as_a_conflict()
    {
        var loserFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = await OpenAsync(HoldAt(Steps.ArchiveStarted, loserFailed.Task));
        var second = await OpenAsync(HoldAt(Steps.ArchiveStarted, loserFailed.Task));
        var workspace = await first.NewWorkspaceAsync();
        await first.IngestAsync(workspace, 500, seed: 501);
        var before = await first.ChecksumsAsync(workspace);

        var (winner, loser) = await RaceAsync(
            () => first.Service.ColdStoreWorkspaceEventsAsync(workspace),
            () => second.Service.ColdStoreWorkspaceEventsAsync(workspace),
            loserFailed);

        Assert.Equal(500, winner.Rows);
        var conflict = Assert.IsType<WorkspaceOperationException>(loser);
        Assert.Equal(WorkspaceErrorKind.Busy, conflict.Kind);
        Assert.Equal(workspace, conflict.WorkspaceId);
        Assert.Equal(ArchiveState.Archived, Assert.Single(await first.LedgerAsync(workspace)).State);
        Assert.Equal(0, await first.HotRowsAsync(workspace));
        await first.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(before, await first.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Two_archives_started_at_once_with_a_long_wait_run_one_after_the_other_and_never_duplicate_a_row()
    {
        var feeder = await OpenAsync();
        var workspace = await feeder.NewWorkspaceAsync();
        var fed = 0;
        var options = Fast with
        {
            LeaseWait = TimeSpan.FromSeconds(60),
            // Whichever archive runs first lets 100 new events in once its deletes are submitted: the second
            // archive must take exactly those.
            StepCompleted = step =>
            {
                if (step == Steps.ArchiveDeletesSubmitted && Interlocked.Exchange(ref fed, 1) == 0)
                {
                    feeder.Service.IngestAsync(workspace, Messages("late", 100))
                        .GetAwaiter().GetResult();
                }
            },
        };
        var first = await OpenAsync(options);
        var second = await OpenAsync(options);
        await first.Service.IngestAsync(workspace, Messages("early", 500));

        var results = await Task.WhenAll(
            Task.Run(() => first.Service.ColdStoreWorkspaceEventsAsync(workspace)),
            Task.Run(() => second.Service.ColdStoreWorkspaceEventsAsync(workspace)));

        Assert.Equal([100L, 500L], results.Select(r => r.Rows).Order());
        var ledger = await first.LedgerAsync(workspace);
        Assert.Equal(2, ledger.Count);
        Assert.All(ledger, a => Assert.Equal(ArchiveState.Archived, a.State));
        Assert.Equal(0, await first.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await first.RowsAfterDeletesAsync(workspace));
        var archivedIds = new List<string>();
        foreach (var archive in ledger)
        {
            archivedIds.AddRange(await first.ArchivedMessageIdsAsync(archive.ObjectPrefix));
        }

        Assert.Equal(Ids("early", 500).Concat(Ids("late", 100)).Order(StringComparer.Ordinal), archivedIds.Order(StringComparer.Ordinal));

        var restored = await first.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(600, restored.Rows);
        Assert.Equal(Ids("early", 500).Concat(Ids("late", 100)).Order(StringComparer.Ordinal), (await first.HotMessageIdsAsync(workspace)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_restore_and_an_archive_started_at_once_without_waiting_let_one_run_and_refuse_the_other()
    {
        var loserFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var setup = await OpenAsync();
        var workspace = await setup.NewWorkspaceAsync();
        await setup.Service.IngestAsync(workspace, Messages("first", 300));
        var first = await setup.ChecksumsAsync(workspace);
        await setup.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await setup.Service.IngestAsync(workspace, Messages("second", 200));
        var second = await setup.ChecksumsAsync(workspace);
        var restorer = await OpenAsync(HoldAt(Steps.RestoreStarted, loserFailed.Task));
        var archiver = await OpenAsync(HoldAt(Steps.ArchiveStarted, loserFailed.Task));

        var (_, loser) = await RaceAsync(
            () => restorer.Service.RestoreWorkspaceEventsAsync(workspace),
            () => archiver.Service.ColdStoreWorkspaceEventsAsync(workspace),
            loserFailed);

        Assert.Equal(WorkspaceErrorKind.Busy, Assert.IsType<WorkspaceOperationException>(loser).Kind);
        await AssertEveryRowOnceAsync(setup, workspace, 500);
        await setup.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(Sum(workspace, first, second), await setup.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task A_restore_racing_an_archive_with_a_long_wait_leaves_every_row_exactly_once()
    {
        var setup = await OpenAsync();
        var workspace = await setup.NewWorkspaceAsync();
        await setup.Service.IngestAsync(workspace, Messages("first", 300));
        var first = await setup.ChecksumsAsync(workspace);
        await setup.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await setup.Service.IngestAsync(workspace, Messages("second", 200));
        var second = await setup.ChecksumsAsync(workspace);
        var options = Fast with { LeaseWait = TimeSpan.FromSeconds(60) };
        var restorer = await OpenAsync(options);
        var archiver = await OpenAsync(options);

        await Task.WhenAll(
            Task.Run(() => restorer.Service.RestoreWorkspaceEventsAsync(workspace)),
            Task.Run(() => archiver.Service.ColdStoreWorkspaceEventsAsync(workspace)));

        await AssertEveryRowOnceAsync(setup, workspace, 500);
        await setup.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(Sum(workspace, first, second), await setup.ChecksumsAsync(workspace));
        Assert.Empty(await setup.ObjectsAsync(workspace));
    }

    /// <summary>Every row is either hot or in exactly one archived archive, never both, never twice.</summary>
    private static async Task AssertEveryRowOnceAsync(Harness h, Guid workspace, int total)
    {
        var ids = await h.HotMessageIdsAsync(workspace);
        foreach (var archive in (await h.LedgerAsync(workspace)).Where(a => a.State == ArchiveState.Archived))
        {
            var archived = await h.ArchivedMessageIdsAsync(archive.ObjectPrefix);
            Assert.Equal(archive.RowCount, archived.Count);
            ids.AddRange(archived);
        }

        Assert.Equal(total, ids.Count);
        Assert.Equal(total, ids.Distinct(StringComparer.Ordinal).Count());
    }

    private static WorkspaceChecksums Sum(Guid workspace, WorkspaceChecksums a, WorkspaceChecksums b) => new(
        workspace,
        a.EventRows + b.EventRows,
        unchecked(a.EventChecksum + b.EventChecksum),
        a.InternalEventRows + b.InternalEventRows,
        unchecked(a.InternalEventChecksum + b.InternalEventChecksum));

    /// <summary>Options whose operation, once it holds the lease, waits at <paramref name="step"/> until the other one has failed.</summary>
    private static ColdstoreOptions HoldAt(string step, Task release) => Fast with
    {
        StepCompleted = completed =>
        {
            if (completed == step)
            {
                release.Wait(HoldLimit);
            }
        },
    };

    /// <summary>Starts both at once; returns the result of the one that succeeded and the exception of the one that did not.</summary>
    private static async Task<(OperationResult Winner, Exception Loser)> RaceAsync(
        Func<Task<OperationResult>> a, Func<Task<OperationResult>> b, TaskCompletionSource loserFailed)
    {
        var tasks = new[] { Task.Run(a), Task.Run(b) };
        foreach (var task in tasks)
        {
            _ = task.ContinueWith(t => loserFailed.TrySetResult(), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        catch (Exception)
        {
            // Inspected below.
        }

        var succeeded = tasks.Where(t => t.IsCompletedSuccessfully).ToList();
        var failed = tasks.Where(t => t.IsFaulted).ToList();
        Assert.True(succeeded.Count == 1 && failed.Count == 1,
            $"expected one success and one failure, got {succeeded.Count} and {failed.Count}: {string.Join("; ", failed.Select(t => t.Exception!.InnerException!.Message))}");
        return (succeeded[0].Result, failed[0].Exception!.InnerException!);
    }

    private static IEnumerable<string> Ids(string label, int count) =>
        Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{label}-{i:D5}"));

    private static SegmentMessage[] Messages(string label, int count)
    {
        var template = SegmentEventGenerator.Generate(60, seed: label.Length).ToArray();
        return Ids(label, count).Select((id, i) => new SegmentMessage(id, template[i % template.Length].Raw)).ToArray();
    }
}

public sealed class ConcurrentOperationOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : ConcurrentOperationTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class ConcurrentOperationOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : ConcurrentOperationTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
