using System.Collections.Concurrent;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// The worker keeps every workspace's events where its status says: statuses set by plain SQL (as any application
/// would), flipped back mid-archive, watched by two workers at once, or failing for a while all end exactly right.
/// </summary>
public abstract class WorkerTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_pass_moves_several_workspaces_in_one_batch_each_way_and_each_ends_exact()
    {
        var h = await OpenAsync();
        var workspaces = new List<(Guid Id, WorkspaceChecksums Before)>();
        for (var i = 0; i < 7; i++)
        {
            var id = await h.NewWorkspaceAsync();
            await h.IngestAsync(id, 40 + (i * 9), seed: 170 + i);
            workspaces.Add((id, await h.ChecksumsAsync(id)));
            await Engines.SetStatusAsAnApplicationAsync(id, i % 2 == 0 ? "Paused" : "Tombstoned");
        }

        var steps = new ConcurrentBag<OperationProgress>();
        var worker = new ColdstoreWorker(h.Service, new WorkerOptions { Concurrency = 2 }) { Progress = new SynchronousProgress(steps.Add) };
        var pass = await worker.RunOnceAsync();

        Assert.True(pass.Converged, string.Join("; ", pass.Attempts.Select(a => $"{a.WorkspaceId}: {a.Outcome} {a.Error}")));
        Assert.Equal(7, pass.Attempts.Count(a => a.Action == "archive" && a.Outcome == WorkerOutcome.Done));
        // One batch: every workspace's archive started in it, with one cutoff.
        var started = steps.Where(s => s.Step == Steps.ArchiveStarted).ToList();
        Assert.Equal(7, started.Count);
        Assert.All(started, s => Assert.Contains("(batch of 7)", s.Detail, StringComparison.Ordinal));
        foreach (var (id, _) in workspaces)
        {
            Assert.Equal(StorageState.Cold, (await h.State.GetWorkspaceAsync(id))!.Storage);
            Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(id));
            await Engines.SetStatusAsAnApplicationAsync(id, "Active");
        }

        steps.Clear();
        var back = await worker.RunOnceAsync();
        Assert.True(back.Converged);
        Assert.Equal(7, back.Attempts.Count(a => a.Action == "restore" && a.Outcome == WorkerOutcome.Done));
        Assert.All(steps.Where(s => s.Step == Steps.RestoreStarted), s => Assert.Contains("(batch of 7)", s.Detail, StringComparison.Ordinal));
        foreach (var (id, before) in workspaces)
        {
            Assert.Equal(before, await h.ChecksumsAsync(id));
        }
    }

    [Fact]
    public async Task One_pass_moves_every_workspace_to_where_its_status_says_and_back_exactly()
    {
        var h = await OpenAsync();
        var statuses = new[] { "Paused", "Tombstoned", "Active", "Paused", "Active" };
        var workspaces = new List<(Guid Id, string Status, WorkspaceChecksums Before)>();
        for (var i = 0; i < statuses.Length; i++)
        {
            var id = await h.NewWorkspaceAsync();
            await h.IngestAsync(id, 150 + (i * 70), seed: 60 + i);
            workspaces.Add((id, statuses[i], await h.ChecksumsAsync(id)));
            await Engines.SetStatusAsAnApplicationAsync(id, statuses[i]);
        }

        var worker = new ColdstoreWorker(h.Service, new WorkerOptions { Concurrency = 3 });
        var pass = await worker.RunOnceAsync();

        Assert.True(pass.Converged, string.Join("; ", pass.Attempts.Select(a => $"{a.WorkspaceId}: {a.Outcome} {a.Error}")));
        Assert.Equal(3, pass.Attempts.Count(a => a.Action == "archive" && a.Outcome == WorkerOutcome.Done));
        foreach (var (id, status, before) in workspaces)
        {
            var storage = (await h.State.GetWorkspaceAsync(id))!.Storage;
            Assert.Equal(status == "Active" ? StorageState.Hot : StorageState.Cold, storage);
            Assert.Equal(status == "Active" ? before.EventRows : 0, await h.HotRowsAsync(id));
            Assert.Equal(status == "Active" ? 0 : 1, (await h.LedgerAsync(id)).Count);
        }

        Assert.Empty((await worker.RunOnceAsync()).Attempts);

        foreach (var (id, _, _) in workspaces)
        {
            await Engines.SetStatusAsAnApplicationAsync(id, "Active");
        }

        var back = await worker.RunOnceAsync();
        Assert.True(back.Converged);
        Assert.Equal(3, back.Attempts.Count(a => a.Action == "restore"));
        foreach (var (id, _, before) in workspaces)
        {
            Assert.Equal(before, await h.ChecksumsAsync(id));
        }
    }

    [Fact]
    public async Task A_status_flipped_back_while_the_archive_runs_ends_hot_with_every_row_exactly_once()
    {
        Guid workspace = default;
        var flipped = 0;
        var h = await OpenAsync(Fast with
        {
            StepCompleted = step =>
            {
                // The application resumes the workspace while its archive is half-way: copied, nothing deleted yet.
                if (step == Steps.ArchiveCopied && Interlocked.Exchange(ref flipped, 1) == 0)
                {
                    Engines.SetStatusAsAnApplicationAsync(workspace, "Active").GetAwaiter().GetResult();
                }
            },
        });
        workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 600, seed: 70);
        var before = await h.ChecksumsAsync(workspace);
        await Engines.SetStatusAsAnApplicationAsync(workspace, "Paused");

        var pass = await new ColdstoreWorker(h.Service).RunOnceAsync();

        Assert.Equal(1, flipped);
        Assert.True(pass.Converged);
        Assert.Equal(["archive", "restore"], pass.Attempts.Where(a => a.WorkspaceId == workspace).Select(a => a.Action));
        var after = (await h.State.GetWorkspaceAsync(workspace))!;
        Assert.Equal(WorkspaceStatus.Active, after.Status);
        Assert.Equal(StorageState.Hot, after.Storage);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        // Physically, once every delete has applied: each row once, none twice.
        Assert.Equal(600, (await h.RowsAfterDeletesAsync(workspace)).Events);
    }

    [Fact]
    public async Task A_running_worker_follows_status_changes_made_with_plain_sql_and_stops_promptly_when_cancelled()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 500, seed: 71);
        var before = await h.ChecksumsAsync(workspace);
        // On Postgres the poll is far longer than the test: only the trigger's notification can wake the worker.
        var options = new WorkerOptions { PollInterval = Engines.NotifiesChanges ? TimeSpan.FromMinutes(10) : TimeSpan.FromMilliseconds(200) };
        var worker = new ColdstoreWorker(h.Service, options);
        using var stop = new CancellationTokenSource();
        var running = worker.RunAsync(stop.Token);

        await Engines.SetStatusAsAnApplicationAsync(workspace, "Paused");
        await WaitForStorageAsync(h, workspace, StorageState.Cold);
        Assert.Equal(0, await h.HotRowsAsync(workspace));

        await Engines.SetStatusAsAnApplicationAsync(workspace, "Active");
        await WaitForStorageAsync(h, workspace, StorageState.Hot);

        await stop.CancelAsync();
        var stopped = await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(running, stopped);
        await running;
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Two_workers_on_one_state_store_never_work_on_the_same_workspace_and_move_each_exactly_once()
    {
        // Each step lingers a little, so the two workers' passes overlap for real.
        var slow = Fast with { StepCompleted = _ => Thread.Sleep(20) };
        var first = await OpenAsync(slow with { Owner = "worker-1" });
        var second = await OpenAsync(slow with { Owner = "worker-2" });
        var workspaces = new List<(Guid Id, WorkspaceChecksums Before)>();
        for (var i = 0; i < 6; i++)
        {
            var id = await first.NewWorkspaceAsync();
            await first.IngestAsync(id, 200, seed: 80 + i);
            workspaces.Add((id, await first.ChecksumsAsync(id)));
        }

        foreach (var status in new[] { "Paused", "Active" })
        {
            foreach (var (id, _) in workspaces)
            {
                await Engines.SetStatusAsAnApplicationAsync(id, status);
            }

            var steps = new ConcurrentQueue<(Guid Workspace, string Worker)>();
            var one = new ColdstoreWorker(first.Service, new WorkerOptions { Concurrency = 2 }) { Progress = new SynchronousProgress(p => steps.Enqueue((p.WorkspaceId, "worker-1"))) };
            var two = new ColdstoreWorker(second.Service, new WorkerOptions { Concurrency = 2 }) { Progress = new SynchronousProgress(p => steps.Enqueue((p.WorkspaceId, "worker-2"))) };

            var passes = await Task.WhenAll(one.RunOnceAsync(), two.RunOnceAsync());

            Assert.DoesNotContain(passes.SelectMany(p => p.Attempts), a => a.Outcome == WorkerOutcome.Failed);
            foreach (var (id, _) in workspaces)
            {
                var workers = steps.Where(s => s.Workspace == id).Select(s => s.Worker).Distinct().ToList();
                Assert.True(workers.Count == 1, $"workspace {id} was worked on by {string.Join(" and ", workers)}");
                var moves = passes.SelectMany(p => p.Attempts).Count(a => a.WorkspaceId == id && a.Action != "none");
                Assert.Equal(1, moves);
                Assert.Equal(status == "Paused" ? StorageState.Cold : StorageState.Hot, (await first.State.GetWorkspaceAsync(id))!.Storage);
            }

            Assert.Equal(workspaces.Count, workspaces.Sum(w => first.LedgerAsync(w.Id).Result.Count));
        }

        foreach (var (id, before) in workspaces)
        {
            Assert.Equal(before, await first.ChecksumsAsync(id));
        }
    }

    [Fact]
    public async Task A_failing_move_is_retried_with_growing_jittered_delays_recording_the_error_and_succeeds_once_repaired()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 400, seed: 90);
        var before = await h.ChecksumsAsync(workspace);
        await h.Service.PauseWorkspaceAsync(workspace);
        // Take one data object away (kept in memory): every restore fails verification until it is put back.
        var data = (await h.ObjectsAsync(workspace)).First(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal));
        var bytes = (await h.Archive.ReadAsync(data.Key))!;
        await h.Archive.DeletePrefixAsync(data.Key);
        await Engines.SetStatusAsAnApplicationAsync(workspace, "Active");

        var attempts = new ConcurrentQueue<WorkspaceAttempt>();
        var failures = new SemaphoreSlim(0);
        var options = new WorkerOptions { PollInterval = TimeSpan.FromMilliseconds(50), RetryBaseDelay = TimeSpan.FromMilliseconds(300), RetryMaxDelay = TimeSpan.FromSeconds(2) };
        var worker = new ColdstoreWorker(h.Service, options);
        worker.AttemptFinished += attempt =>
        {
            attempts.Enqueue(attempt);
            if (attempt.Outcome == WorkerOutcome.Failed)
            {
                failures.Release();
            }
        };
        using var stop = new CancellationTokenSource();
        var running = worker.RunAsync(stop.Token);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await failures.WaitAsync(Patience), $"failure {i + 1} never came");
        }

        var failed = attempts.Where(a => a.Outcome == WorkerOutcome.Failed).Take(3).ToList();
        // Equal jitter: the k-th retry waits at least half of base * 2^(k-1).
        Assert.True(failed[1].StartedAt - failed[0].StartedAt >= TimeSpan.FromMilliseconds(150), $"first retry after {failed[1].StartedAt - failed[0].StartedAt}");
        Assert.True(failed[2].StartedAt - failed[1].StartedAt >= TimeSpan.FromMilliseconds(300), $"second retry after {failed[2].StartedAt - failed[1].StartedAt}");
        var ledger = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Archived, ledger.State);
        Assert.False(string.IsNullOrEmpty(ledger.LastError));
        Assert.Equal(ledger.LastError, (await h.Service.GetStatusAsync(workspace)).Single().LastError);
        Assert.Equal(StorageState.Cold, (await h.State.GetWorkspaceAsync(workspace))!.Storage);
        Assert.Equal(0, await h.HotRowsAsync(workspace));

        await h.Archive.WriteAsync(data.Key, bytes);
        await WaitForStorageAsync(h, workspace, StorageState.Hot);
        await stop.CancelAsync();
        await running;

        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        var restored = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Restored, restored.State);
        Assert.Null(restored.LastError);
        Assert.Null((await h.Service.GetStatusAsync(workspace)).Single().LastError);
    }

    [Fact]
    public async Task Events_that_arrive_after_a_paused_workspace_was_archived_are_swept_into_a_further_archive_and_all_come_back()
    {
        Guid workspace = default;
        var late = 0;
        var feeder = await OpenAsync();
        var h = await OpenAsync(Fast with
        {
            StepCompleted = step =>
            {
                // The application is still writing while the archive runs: these rows are after its cutoff.
                if (step == Steps.ArchiveStarted && Interlocked.Exchange(ref late, 1) == 0)
                {
                    feeder.Service.IngestAsync(workspace, SegmentEventGenerator.Generate(50, seed: 96)).GetAwaiter().GetResult();
                }
            },
        });
        workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 600, seed: 95);
        var original = await h.StoredColumnsSummaryAsync(workspace);
        await Engines.SetStatusAsAnApplicationAsync(workspace, "Paused");

        var first = await new ColdstoreWorker(h.Service, new WorkerOptions { SweepInterval = Timeout.InfiniteTimeSpan }).RunOnceAsync();

        Assert.Equal(1, late);
        Assert.True(first.Converged);
        Assert.Equal(600, Assert.Single(first.Attempts).Rows);
        Assert.Equal(50, (await h.RowsAfterDeletesAsync(workspace)).Events);
        var stragglers = await h.StoredColumnsSummaryAsync(workspace);
        Assert.Equal([workspace], await h.Service.FindStragglersAsync(await h.Service.ListWorkspacesAsync()));

        var sweeper = new ColdstoreWorker(h.Service, new WorkerOptions { SweepInterval = TimeSpan.Zero });
        var sweep = Assert.Single((await sweeper.RunOnceAsync()).Attempts);

        Assert.Equal(("archive", 50L, WorkerOutcome.Done), (sweep.Action, sweep.Rows, sweep.Outcome));
        Assert.Equal([600L, 50L], (await h.LedgerAsync(workspace)).Select(a => a.RowCount ?? -1));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        Assert.Empty((await sweeper.RunOnceAsync()).Attempts);

        await Engines.SetStatusAsAnApplicationAsync(workspace, "Active");
        var back = await sweeper.RunOnceAsync();

        Assert.True(back.Converged);
        Assert.Equal((650L, unchecked(original.Checksum + stragglers.Checksum)), await h.StoredColumnsSummaryAsync(workspace));
        Assert.Equal(650, (await h.RowsAfterDeletesAsync(workspace)).Events);
    }

    private static async Task WaitForStorageAsync(Harness h, Guid workspace, StorageState storage)
    {
        var deadline = DateTime.UtcNow + Patience;
        while ((await h.State.GetWorkspaceAsync(workspace))!.Storage != storage)
        {
            Assert.True(DateTime.UtcNow < deadline, $"workspace {workspace} did not become {storage.ToText()} within {Patience.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

}

public sealed class WorkerOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : WorkerTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class WorkerOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : WorkerTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
