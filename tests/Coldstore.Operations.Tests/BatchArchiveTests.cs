using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Archives of many workspaces in one batch: a few statements for all of them, each workspace verified and ending on
/// its own, whatever happens to another one of the batch (tampered objects, a writer replaying old rows, ingestion
/// racing, a busy lease, the batch stopped half-way), and the mutation budget held.
/// </summary>
public abstract class BatchArchiveTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task A_batch_archives_every_workspace_exactly_in_a_few_statements_for_8_as_for_40_workspaces()
    {
        var clickHouse = CallCounter.Wrap(ClickHouse.OpenClient(), out var calls);
        await using var h = await Harness.OpenAsync(clickHouse, Engines, Tables, Fast);
        var small = await FleetAsync(h, 8, events: 12, seed: 100);
        var large = await FleetAsync(h, 40, events: 12, seed: 200);

        var smallCalls = await CountedAsync(calls, () => h.Service.ColdStoreWorkspacesEventsAsync([.. small.Keys]));
        var largeCalls = await CountedAsync(calls, () => h.Service.ColdStoreWorkspacesEventsAsync([.. large.Keys]));

        Assert.All(smallCalls.Outcomes.Concat(largeCalls.Outcomes), o => Assert.True(o.Ok, o.Error?.Message));
        Assert.All(smallCalls.Outcomes.Concat(largeCalls.Outcomes), o => Assert.True(InBatch([o], o.WorkspaceId, Steps.ArchiveEventsDeleteSubmitted)));
        // A fixed set of statements plus polls while the deletes apply (and, rarely, a repair after a merge); archived one
        // by one, 40 workspaces would take more than 15 statements each.
        Assert.InRange(smallCalls.Statements, 8, 60);
        Assert.InRange(largeCalls.Statements, 8, 60);
        foreach (var (workspace, before) in small.Concat(large))
        {
            Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
            Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
            var archive = Assert.Single(await h.LedgerAsync(workspace));
            Assert.Equal(ArchiveState.Archived, archive.State);
            Assert.Equal(before.EventRows, archive.RowCount);
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
            Assert.Equal(before, await h.ChecksumsAsync(workspace));
        }
    }

    [Fact]
    public async Task In_a_batch_a_tampered_copy_a_replaying_writer_racing_ingestion_and_a_busy_workspace_leave_every_other_workspace_exact()
    {
        var h = await OpenAsync();
        var fleet = await FleetAsync(h, 10, events: 30, seed: 300);
        var ids = fleet.Keys.ToList();
        var (tampered, replayed, racing, busy) = (ids[1], ids[4], ids[6], ids[8]);
        var lease = (await h.State.TryAcquireLeaseAsync(busy, "test: another holder", TimeSpan.FromMinutes(2))).Lease!;
        var replay = RawEvent.Of($"replay-{Guid.NewGuid():N}", """{"type":"track","event":"DFReplayed","userId":"u1"}""", processingTime: DateTime.UtcNow.AddDays(-3));
        using var ingesting = new CancellationTokenSource();
        Task? ingestion = null;
        var racingRows = 0;
        var once = new HashSet<(Guid, string)>();
        var progress = new SynchronousProgress(p =>
        {
            // Each happens once, in the batch: the workspace's archive alone afterwards reports the same steps.
            if (!once.Add((p.WorkspaceId, p.Step)))
            {
                return;
            }

            if (p.Step == Steps.ArchiveStarted && p.WorkspaceId == racing)
            {
                // Ingestion into one workspace of the batch while the batch runs: rows after the cutoff stay hot.
                ingestion = Task.Run(async () =>
                {
                    for (var seed = 1; !ingesting.IsCancellationRequested && seed < 40; seed++)
                    {
                        await h.IngestAsync(racing, 5, seed: 9000 + seed);
                        Interlocked.Add(ref racingRows, 5);
                    }
                });
            }
            else if (p.Step == Steps.ArchiveCopied && p.WorkspaceId == tampered)
            {
                // Another workspace's object written over this one's before the read-back.
                var mine = h.Archive.ListAsync(Harness.WorkspacePrefix(tampered)).GetAwaiter().GetResult().Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal));
                var theirs = h.Archive.ListAsync(Harness.WorkspacePrefix(ids[0])).GetAwaiter().GetResult().Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal));
                h.Archive.WriteAsync(mine.Key, h.Archive.ReadAsync(theirs.Key).GetAwaiter().GetResult()).GetAwaiter().GetResult();
            }
            else if (p.Step == Steps.ArchiveCopied && p.WorkspaceId == replayed)
            {
                // A writer that sets processing_time itself adds a row up to the cutoff after the copy.
                h.InsertAsync(replayed, [replay]).GetAwaiter().GetResult();
            }
        });

        IReadOnlyList<WorkspaceOutcome> outcomes;
        try
        {
            outcomes = await h.Service.ColdStoreWorkspacesEventsAsync(ids, progress);
        }
        finally
        {
            await ingesting.CancelAsync();
            await (ingestion ?? Task.CompletedTask);
            await h.State.ReleaseLeaseAsync(lease);
        }

        var failed = Assert.Single(outcomes, o => !o.Ok);
        Assert.Equal(busy, failed.WorkspaceId);
        Assert.Equal(WorkspaceErrorKind.Busy, Assert.IsType<WorkspaceOperationException>(failed.Error).Kind);
        Assert.Equal(StorageState.Hot, await h.StorageAsync(busy));
        Assert.Empty(await h.LedgerAsync(busy));
        Assert.Equal(fleet[busy], await h.ChecksumsAsync(busy));

        // Every other workspace: every row exactly once, archived or (arrived after the cutoff) hot.
        Assert.All(ids.Where(w => w != busy && w != tampered && w != replayed), w => Assert.True(InBatch(outcomes, w, Steps.ArchiveEventsDeleteSubmitted), $"workspace {w} was not archived in the batch"));
        Assert.False(InBatch(outcomes, tampered, Steps.ArchiveEventsDeleteSubmitted));
        Assert.False(InBatch(outcomes, replayed, Steps.ArchiveEventsDeleteSubmitted));
        foreach (var workspace in ids.Where(w => w != busy))
        {
            var outcome = outcomes.Single(o => o.WorkspaceId == workspace);
            var archived = outcome.Result!.Rows;
            var expected = fleet[workspace].EventRows + (workspace == replayed ? 1 : 0) + (workspace == racing ? racingRows : 0);
            var hot = await h.HotMessageIdsAsync(workspace);
            var role = workspace == tampered ? "tampered" : workspace == replayed ? "replayed" : workspace == racing ? "racing" : workspace == ids[0] ? "source of the tampering" : "plain";
            if (expected != archived + hot.Count)
            {
                var parts = await h.ClickHouse.QueryAsync(new ClickHouseQuery($"SELECT _part AS part, count() AS n, min(processing_time) AS mn FROM {Tables.QualifiedEvents} WHERE workspace_id = {{w:String}} GROUP BY part")
                    .With("w", "String", EventSql.WorkspaceIdText(workspace)).For("test: diag parts"));
                var mutations = await h.ClickHouse.QueryAsync(new ClickHouseQuery("SELECT table, mutation_id, is_done, parts_to_do, latest_fail_reason AS r, command AS c, create_time AS t FROM system.mutations WHERE database = {d:String} ORDER BY create_time")
                    .With("d", "String", Tables.Database).For("test: diag mutations"));
                Assert.Fail($"{role} workspace {workspace}: {archived} archived + {hot.Count} hot, expected {expected} in all; ledger: {string.Join("; ", await h.LedgerAsync(workspace))}\nparts: {string.Join(", ", parts.Select(r => $"{r.GetString("part")}={r.GetInt64("n")}"))}\nmutations:\n{string.Join("\n", mutations.Select(r => $"{r.GetString("table")} {r.GetString("mutation_id")} done={r["is_done"]} todo={r["parts_to_do"]} reason={r["r"]} {r.GetString("c")}"))}\nsteps: {string.Join(", ", outcome.Result.Steps.Select(x => x.Name + ":" + x.Detail))}");
            }

            Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
            if (workspace == tampered)
            {
                // Copied again alone: its objects hold its own rows only.
                var record = Assert.Single(await h.LedgerAsync(workspace));
                Assert.Equal(fleet[workspace].EventRows, (await h.ArchivedMessageIdsAsync(record.ObjectPrefix)).Count);
            }
        }

        Assert.Contains(replay.MessageId, (await h.ArchivedMessageIdsAsync(Assert.Single(await h.LedgerAsync(replayed)).ObjectPrefix)));
        foreach (var workspace in ids.Where(w => w != busy && w != racing && w != replayed))
        {
            var physical = await h.RowsAfterDeletesAsync(workspace);
            Assert.True(physical == (0, 0), $"{workspace} {physical} steps: {string.Join(", ", outcomes.Single(o => o.WorkspaceId == workspace).Result!.Steps.Select(x => x.Name + ":" + x.Detail))}");
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
            Assert.Equal(fleet[workspace], await h.ChecksumsAsync(workspace));
        }

        await h.Service.RestoreWorkspaceEventsAsync(racing);
        var racingIds = await h.HotMessageIdsAsync(racing);
        Assert.Equal(fleet[racing].EventRows + racingRows, racingIds.Count);
        Assert.Equal(racingIds.Count, racingIds.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task A_batch_stopped_after_each_step_resumes_on_the_next_run_and_ends_exact()
    {
        var h = await OpenAsync();
        string[] steps = [Steps.ArchiveStarted, Steps.ArchiveCopied, Steps.ArchiveReadBack, Steps.ArchiveVerified, Steps.ArchiveDeleteBounded,
            Steps.ArchiveEventsDeleteSubmitted, Steps.ArchiveDeletesSubmitted];
        foreach (var step in steps)
        {
            var fleet = await FleetAsync(h, 4, events: 15, seed: 400 + Array.IndexOf(steps, step) * 10);
            using var stop = new CancellationTokenSource();
            var progress = new SynchronousProgress(p =>
            {
                if (p.Step == step)
                {
                    stop.Cancel();
                }
            });

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Service.ColdStoreWorkspacesEventsAsync([.. fleet.Keys], progress, cancellationToken: stop.Token));
            var rerun = await h.Service.ColdStoreWorkspacesEventsAsync([.. fleet.Keys]);

            Assert.All(rerun, o => Assert.True(o.Ok, $"after {step}: {o.Error?.Message}"));
            foreach (var (workspace, before) in fleet)
            {
                Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
                var archive = Assert.Single(await h.LedgerAsync(workspace), a => a.State == ArchiveState.Archived);
                Assert.Equal(before.EventRows, archive.RowCount);
                await h.Service.RestoreWorkspaceEventsAsync(workspace);
                Assert.Equal(before, await h.ChecksumsAsync(workspace));
            }
        }
    }

    [Fact]
    public async Task A_batch_larger_than_the_mutation_budget_stays_within_it()
    {
        const int Budget = 3;
        var h = await OpenAsync(Fast with { MutationBudget = Budget });
        var fleet = await FleetAsync(h, 12, events: 10, seed: 500);
        var other = await h.NewWorkspaceAsync();
        await h.IngestAsync(other, 10, seed: 599);
        await SystemMergesAsync(h, "STOP");
        Task<IReadOnlyList<WorkspaceOutcome>>? archiving = null;
        try
        {
            // Two mutations of someone else's that cannot finish while merges are stopped.
            foreach (var n in new[] { 1, 2 })
            {
                await h.ClickHouse.ExecuteAsync(new ClickHouseQuery($"ALTER TABLE {Tables.QualifiedEvents} DELETE WHERE workspace_id = {{w:String}} AND message_id = {{m:String}}")
                    .With("w", "String", EventSql.WorkspaceIdText(other)).With("m", "String", "none-" + n.ToString(CultureInfo.InvariantCulture))
                    .WithSetting("mutations_sync", "0").For("test: a pending mutation"));
            }

            archiving = h.Service.ColdStoreWorkspacesEventsAsync([.. fleet.Keys]);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await UnfinishedAsync(h, Tables.Events) < Budget && DateTime.UtcNow < deadline)
            {
                Assert.False(archiving.IsFaulted, archiving.Exception?.ToString());
                await Task.Delay(50);
            }

            // Twelve workspaces' deletes, yet one more mutation of the table: the budget, and no more.
            for (var look = 0; look < 10; look++)
            {
                Assert.Equal(Budget, await UnfinishedAsync(h, Tables.Events));
                Assert.True(await UnfinishedAsync(h, Tables.InternalEvents) <= 1);
                await Task.Delay(100);
            }

            Assert.False(archiving.IsCompleted);
        }
        finally
        {
            await SystemMergesAsync(h, "START");
        }

        Assert.All(await archiving, o => Assert.True(o.Ok, o.Error?.Message));
        foreach (var (workspace, before) in fleet)
        {
            Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
            Assert.Equal(before, await h.ChecksumsAsync(workspace));
        }
    }

    [Fact]
    public async Task A_batch_restore_brings_every_workspace_back_exactly_while_a_tampered_archive_a_replay_and_a_busy_workspace_stay_on_their_own()
    {
        var h = await OpenAsync();
        var fleet = await FleetAsync(h, 10, events: 25, seed: 600);
        var ids = fleet.Keys.ToList();
        Assert.All(await h.Service.ColdStoreWorkspacesEventsAsync(ids), o => Assert.True(o.Ok, o.Error?.Message));
        var (tampered, replayed, busy, twice) = (ids[2], ids[5], ids[7], ids[9]);

        // An object of another workspace written over one archive's; a row identical to an archived one replayed hot;
        // a lease held elsewhere; a workspace with a second archive (new events archived after the first).
        var mine = (await h.Archive.ListAsync(Harness.WorkspacePrefix(tampered))).Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal));
        var theirs = (await h.Archive.ListAsync(Harness.WorkspacePrefix(ids[0]))).Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal));
        await h.Archive.WriteAsync(mine.Key, (await h.Archive.ReadAsync(theirs.Key))!);
        var replay = RawEvent.Of($"replay-{Guid.NewGuid():N}", """{"type":"track","event":"DFReplayed","userId":"u2"}""", processingTime: DateTime.UtcNow.AddDays(-2));
        await h.InsertAsync(replayed, [replay]);
        await h.IngestAsync(twice, 7, seed: 699);
        Assert.True((await h.Service.ColdStoreWorkspacesEventsAsync([twice])).Single().Ok);
        var twiceBefore = fleet[twice].EventRows + 7;
        var lease = (await h.State.TryAcquireLeaseAsync(busy, "test: another holder", TimeSpan.FromMinutes(2))).Lease!;
        IReadOnlyList<WorkspaceOutcome> outcomes;
        try
        {
            outcomes = await h.Service.RestoreWorkspacesEventsAsync(ids);
        }
        finally
        {
            await h.State.ReleaseLeaseAsync(lease);
        }

        Assert.Equal(WorkspaceErrorKind.Busy, Assert.IsType<WorkspaceOperationException>(outcomes.Single(o => o.WorkspaceId == busy).Error).Kind);
        Assert.Equal(StorageState.Cold, await h.StorageAsync(busy));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(busy));

        // The tampered archive is refused before anything of it is inserted; it stays cold, its archive kept.
        var refused = Assert.IsType<WorkspaceOperationException>(outcomes.Single(o => o.WorkspaceId == tampered).Error);
        Assert.Contains("cannot be restored", refused.Message, StringComparison.Ordinal);
        Assert.Equal(StorageState.Cold, await h.StorageAsync(tampered));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(tampered));
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(tampered)).State);

        foreach (var workspace in ids.Where(w => w != busy && w != tampered && w != replayed && w != twice))
        {
            Assert.True(outcomes.Single(o => o.WorkspaceId == workspace).Ok);
            Assert.True(InBatch(outcomes, workspace, Steps.RestoreStarted), $"workspace {workspace} was not restored in the batch");
            Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
            Assert.Equal(fleet[workspace], await h.ChecksumsAsync(workspace));
            Assert.Empty(await h.ObjectsAsync(workspace));
        }

        // The replayed row stays beside its archived twin: both are hot, once each.
        Assert.True(outcomes.Single(o => o.WorkspaceId == replayed).Ok);
        var replayedIds = await h.HotMessageIdsAsync(replayed);
        Assert.Equal(fleet[replayed].EventRows + 1, replayedIds.Count);
        Assert.Single(replayedIds, id => id == replay.MessageId);
        Assert.True(outcomes.Single(o => o.WorkspaceId == twice).Ok);
        Assert.Equal(twiceBefore, (await h.ChecksumsAsync(twice)).EventRows);
        Assert.All(await h.LedgerAsync(twice), a => Assert.Equal(ArchiveState.Restored, a.State));
    }

    [Fact]
    public async Task A_batch_restore_stopped_after_each_step_resumes_on_the_next_run_and_ends_exact()
    {
        var h = await OpenAsync();
        string[] steps = [Steps.RestoreArchiveVerified, Steps.RestoreStarted, Steps.RestoreLeftoversRemoved, Steps.RestoreInserted, Steps.RestoreVerified, Steps.RestoreObjectsDeleted];
        foreach (var step in steps)
        {
            var fleet = await FleetAsync(h, 4, events: 15, seed: 700 + Array.IndexOf(steps, step) * 10);
            Assert.All(await h.Service.ColdStoreWorkspacesEventsAsync([.. fleet.Keys]), o => Assert.True(o.Ok, o.Error?.Message));
            using var stop = new CancellationTokenSource();
            var progress = new SynchronousProgress(p =>
            {
                if (p.Step == step)
                {
                    stop.Cancel();
                }
            });

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Service.RestoreWorkspacesEventsAsync([.. fleet.Keys], progress, cancellationToken: stop.Token));
            var rerun = await h.Service.RestoreWorkspacesEventsAsync([.. fleet.Keys]);

            Assert.All(rerun, o => Assert.True(o.Ok, $"after {step}: {o.Error?.Message}"));
            foreach (var (workspace, before) in fleet)
            {
                Assert.Equal(before, await h.ChecksumsAsync(workspace));
                Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
                Assert.Empty(await h.ObjectsAsync(workspace));
            }
        }
    }

    /// <summary>True when the workspace went through <paramref name="step"/> as part of a batch (its detail says so), not alone.</summary>
    private static bool InBatch(IReadOnlyList<WorkspaceOutcome> outcomes, Guid workspace, string step) =>
        outcomes.Single(o => o.WorkspaceId == workspace).Result?.Steps.Any(s => s.Name == step && (s.Detail ?? "").Contains("batch of", StringComparison.Ordinal)) ?? false;

    /// <summary>Creates workspaces with events; returns each with its checksums before anything is archived.</summary>
    private static async Task<Dictionary<Guid, WorkspaceChecksums>> FleetAsync(Harness h, int count, int events, int seed)
    {
        var fleet = new Dictionary<Guid, WorkspaceChecksums>();
        for (var i = 0; i < count; i++)
        {
            var workspace = await h.NewWorkspaceAsync();
            await h.Service.IngestAsync(workspace, SegmentEventGenerator.Generate(events, seed + i));
            fleet[workspace] = await h.ChecksumsAsync(workspace);
        }

        return fleet;
    }

    private static async Task<(IReadOnlyList<WorkspaceOutcome> Outcomes, int Statements)> CountedAsync(CallCounter calls, Func<Task<IReadOnlyList<WorkspaceOutcome>>> run)
    {
        var before = calls.Count;
        var outcomes = await run();
        return (outcomes, calls.Count - before);
    }

    private async Task SystemMergesAsync(Harness h, string verb)
    {
        foreach (var table in new[] { Tables.QualifiedEvents, Tables.QualifiedInternalEvents })
        {
            await h.ClickHouse.ExecuteAsync(new ClickHouseQuery($"SYSTEM {verb} MERGES {table}").For($"test: {verb.ToLowerInvariant()} merges"));
        }
    }

    private async Task<long> UnfinishedAsync(Harness h, string table) =>
        Convert.ToInt64(await h.ClickHouse.ScalarAsync(ArchiveSql.UnfinishedMutationsOfTable(Tables, table)), CultureInfo.InvariantCulture);

}

public sealed class BatchArchiveOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : BatchArchiveTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class BatchArchiveOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : BatchArchiveTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
