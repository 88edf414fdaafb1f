using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Erasing users: their events (and the internal events derived from them) leave the hot tables and every archive of
/// the workspace, whose objects holding them are rewritten, verified and swapped in; every other row comes back exact
/// on restore; an erase stopped after any step is finished by a rerun or by the restore; a tampered rewritten object is
/// refused; an erase recorded while an archive or a restore runs is applied before that operation ends.
/// </summary>
public abstract class EraseTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private const string Victim = "victim-user";
    private const string AnonymousVictim = "anon-victim";
    private const string Bystander = "bystander-user";

    public static TheoryData<string> EraseSteps => new(Steps.All.Where(s => s.StartsWith("erase:", StringComparison.Ordinal)));

    /// <summary>Small chunks, so one workspace has several archives, each over several months.</summary>
    private static ColdstoreOptions Chunked => Fast with { ChunkRows = 100 };

    [Fact]
    public async Task Erasing_a_user_of_a_paused_workspace_with_several_archives_removes_them_from_archives_and_hot_tables_and_resume_is_exact_for_everyone_else()
    {
        var h = await OpenAsync(Chunked);
        var workspace = await h.NewWorkspaceAsync();
        var neighbour = await h.NewWorkspaceAsync();
        await SeedAsync(h, workspace, seed: 1, (2024, 1), (2024, 2), (2024, 3));
        await SeedAsync(h, neighbour, seed: 2, (2024, 1));
        // What the workspace holds without the users, taken piece by piece as its rows arrive (hot ones only are read).
        var expected = await ChecksumsWithoutAsync(h, workspace);
        await h.Service.PauseWorkspaceAsync(workspace);
        // A second archive (a later sweep), and rows of the users that arrived after it, still hot.
        await SeedAsync(h, workspace, seed: 3, (2024, 4));
        expected = Add(expected, await ChecksumsWithoutAsync(h, workspace));
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await InsertUserRowsAsync(h, workspace, "late", DateTime.UtcNow, 3);
        expected = Add(expected, await ChecksumsWithoutAsync(h, workspace));
        var archivesBefore = (await h.LedgerAsync(workspace)).Where(a => a.State == ArchiveState.Archived).ToList();
        Assert.True(archivesBefore.Count >= 3, $"several archives expected, got {archivesBefore.Count}");
        var erasedRows = await RowsOfAsync(h, workspace);
        var neighbourBefore = await h.ChecksumsAsync(neighbour);
        var hotVictims = await HotRowsOfUsersAsync(h, workspace);
        Assert.True(hotVictims.Events > 0 && hotVictims.Internal > 0, "the users have hot rows and internal events too");

        var result = await h.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [AnonymousVictim], "dpo@example.com ticket 7"));

        var erasure = Assert.IsType<ErasureRecord>(result.Erasure);
        Assert.Null(result.PendingBecause);
        Assert.Equal(ErasureState.Applied, erasure.State);
        Assert.Equal(erasedRows, erasure.Progress.ArchivedRowsErased);
        Assert.NotNull(erasure.AppliedAt);
        Assert.Equal("dpo@example.com ticket 7", erasure.RequestedBy);
        Assert.True(erasure.Identities.Names(Victim) && erasure.Identities.Names(AnonymousVictim) && !erasure.Identities.Names(Bystander));
        Assert.DoesNotContain(Victim, erasure.Identities.ToJson() + erasure.Progress.ToJson(), StringComparison.Ordinal);
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(h, workspace));

        // Only the archives that held the users were rewritten; the ledger and manifests agree; nothing extra is stored.
        var after = await h.LedgerAsync(workspace);
        Assert.Equal(archivesBefore.Sum(a => a.RowCount) - erasedRows, after.Where(a => a.State == ArchiveState.Archived).Sum(a => a.RowCount));
        Assert.All(erasure.Progress.Archives, a => Assert.Equal(ErasedArchiveStep.Done, a.Step));
        var touched = erasure.Progress.Archives.Select(a => a.ArchiveId).ToHashSet();
        foreach (var untouched in archivesBefore.Where(a => !touched.Contains(a.ArchiveId)))
        {
            Assert.Equal(untouched with { UpdatedAt = default }, Assert.Single(after, a => a.ArchiveId == untouched.ArchiveId) with { UpdatedAt = default });
        }

        Assert.All(await h.Service.VerifyWorkspaceArchivesAsync(workspace), c => Assert.True(c.Ok, c.Problem));
        var objects = await h.ObjectsAsync(workspace);
        Assert.Contains(objects, o => o.Key.Contains(".e-", StringComparison.Ordinal));
        var described = await h.Service.DescribeArchivesAsync(workspace);
        Assert.Equal(objects.Count(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)), described.Sum(d => d.Objects.Count));

        // The cold rows answer as if the users had never been there.
        var query = await h.Service.QueryArchivesAsync(workspace, $"SELECT count() AS n, countIf(user_id = '{Victim}' OR anonymous_id = '{AnonymousVictim}') AS erased FROM user_events_v2");
        Assert.Equal(0L, Convert.ToInt64(query.Rows[0]["erased"], CultureInfo.InvariantCulture));
        Assert.Equal(after.Where(a => a.State == ArchiveState.Archived).Sum(a => a.RowCount), Convert.ToInt64(query.Rows[0]["n"], CultureInfo.InvariantCulture));

        await h.Service.ResumeWorkspaceAsync(workspace);

        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
        Assert.Equal(expected, await h.ChecksumsAsync(workspace));
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(h, workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    [Theory]
    [MemberData(nameof(EraseSteps))]
    public async Task An_erase_stopped_after_a_step_is_finished_by_a_rerun_and_the_archive_restores_exactly(string step)
    {
        var h = await OpenAsync(Chunked);
        var crashing = await OpenAsync(StepCrash.After(Chunked, step));
        var workspace = await h.NewWorkspaceAsync();
        await SeedAsync(h, workspace, seed: 11, (2024, 5), (2024, 6));
        var expected = await ChecksumsWithoutAsync(h, workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        var erasedRows = await RowsOfAsync(h, workspace);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [AnonymousVictim], "test")));

        // Stopped anywhere, every archive is whole: it checks out (the erasure's own objects aside) and each archive's cold
        // rows are either all its old ones or all but the users' (its manifest may be swapped before its ledger row).
        Assert.All(await h.Service.VerifyWorkspaceArchivesAsync(workspace), c => Assert.True(c.Ok, c.Problem));
        var cold = await h.Service.QueryArchivesAsync(workspace, "SELECT count() AS n FROM user_events_v2");
        var ledgerRows = (await h.LedgerAsync(workspace)).Where(a => a.State == ArchiveState.Archived).Sum(a => a.RowCount!.Value);
        Assert.InRange(Convert.ToInt64(cold.Rows[0]["n"], CultureInfo.InvariantCulture), ledgerRows - erasedRows, ledgerRows);
        var pending = Assert.Single(await h.Service.ListErasuresAsync(workspace));
        Assert.Equal(step == Steps.EraseApplied ? ErasureState.Applied : ErasureState.Pending, pending.State);

        var rerun = await h.Service.ApplyPendingErasuresAsync(workspace);

        Assert.Null(rerun.PendingBecause);
        var applied = Assert.Single(await h.Service.ListErasuresAsync(workspace));
        Assert.Equal((ErasureState.Applied, erasedRows), (applied.State, applied.Progress.ArchivedRowsErased));
        Assert.All(await h.Service.VerifyWorkspaceArchivesAsync(workspace), c => Assert.True(c.Ok, c.Problem));
        Assert.DoesNotContain(await h.ObjectsAsync(workspace), o => applied.Progress.Archives.Any(a => a.ReplacedKeys.Any(k => o.Key.EndsWith("/" + k, StringComparison.Ordinal))));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(expected, await h.ChecksumsAsync(workspace));
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(h, workspace));
    }

    [Fact]
    public async Task A_restore_after_an_erase_stopped_between_its_manifest_and_its_ledger_finishes_the_erase_first()
    {
        var h = await OpenAsync(Chunked);
        var crashing = await OpenAsync(StepCrash.After(Chunked, Steps.EraseManifestWritten));
        var workspace = await h.NewWorkspaceAsync();
        await SeedAsync(h, workspace, seed: 21, (2024, 7), (2024, 8));
        var expected = await ChecksumsWithoutAsync(h, workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [AnonymousVictim], "test")));

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(expected, await h.ChecksumsAsync(workspace));
        Assert.Equal(ErasureState.Applied, Assert.Single(await h.Service.ListErasuresAsync(workspace)).State);
        Assert.Contains(restored.Steps, s => s.Name == Steps.EraseApplied);
    }

    [Fact]
    public async Task An_object_holding_only_the_users_rows_is_dropped_and_an_archive_holding_only_theirs_is_purged()
    {
        var h = await OpenAsync();
        var mixed = await h.NewWorkspaceAsync();
        var only = await h.NewWorkspaceAsync();
        // March holds everyone's rows; April only the victim's (the bystander's rows of April are in another workspace).
        await SeedAsync(h, mixed, seed: 71, (2025, 3));
        await h.InsertAsync(mixed, [RawEvent.Of("april-1", VictimTrack("april-1", new DateTime(2025, 4, 2, 0, 0, 0, DateTimeKind.Utc)), new DateTime(2025, 4, 2, 0, 0, 0, DateTimeKind.Utc))]);
        await h.InsertAsync(only, [RawEvent.Of("only-1", VictimTrack("only-1", new DateTime(2025, 5, 2, 0, 0, 0, DateTimeKind.Utc)), new DateTime(2025, 5, 2, 0, 0, 0, DateTimeKind.Utc))]);
        var expected = await ChecksumsWithoutAsync(h, mixed);
        await h.Service.ColdStoreWorkspaceEventsAsync(mixed);
        await h.Service.ColdStoreWorkspaceEventsAsync(only);
        Assert.Contains(await h.ObjectsAsync(mixed), o => o.Key.EndsWith("month=202504.parquet", StringComparison.Ordinal));

        var fromMixed = Assert.IsType<ErasureRecord>((await h.Service.EraseUsersAsync(mixed, new ErasureRequest([Victim], [AnonymousVictim], "test"))).Erasure);
        var fromOnly = Assert.IsType<ErasureRecord>((await h.Service.EraseUsersAsync(only, new ErasureRequest([Victim], [], "test"))).Erasure);

        var rewritten = Assert.Single(fromMixed.Progress.Archives);
        Assert.Contains("month=202504.parquet", rewritten.ReplacedKeys);
        Assert.DoesNotContain(rewritten.NewObjects, o => o.Key.StartsWith("month=202504", StringComparison.Ordinal));
        Assert.DoesNotContain(await h.ObjectsAsync(mixed), o => o.Key.Contains("month=202504", StringComparison.Ordinal));
        Assert.Equal(["2025-03"], Assert.Single(await h.Service.DescribeArchivesAsync(mixed)).Months);
        var purged = Assert.Single(await h.LedgerAsync(only));
        Assert.Equal((ArchiveState.Purged, 0L, 1L), (purged.State, purged.RowCount!.Value, fromOnly.Progress.ArchivedRowsErased));
        Assert.Contains("erased", purged.LastError, StringComparison.Ordinal);
        Assert.Empty(await h.ObjectsAsync(only));

        await h.Service.RestoreWorkspaceEventsAsync(mixed);
        var nothing = await h.Service.RestoreWorkspaceEventsAsync(only);
        Assert.Equal(expected, await h.ChecksumsAsync(mixed));
        Assert.Equal((StorageState.Hot, 0L), (nothing.Storage, (await h.ChecksumsAsync(only)).EventRows));
    }

    private static string VictimTrack(string messageId, DateTime time) =>
        "{\"type\":\"track\",\"event\":\"Clicked\",\"messageId\":\"" + messageId + "\",\"userId\":\"" + Victim + "\",\"timestamp\":\""
        + time.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture) + "\",\"properties\":{}}";

    [Fact]
    public async Task An_erase_whose_process_died_after_recording_it_is_applied_by_the_workers_sweep()
    {
        var h = await OpenAsync();
        var crashing = await OpenAsync(StepCrash.After(Fast, Steps.EraseRecorded));
        var workspace = await h.NewWorkspaceAsync();
        await SeedAsync(h, workspace, seed: 61, (2025, 2));
        var expected = await ChecksumsWithoutAsync(h, workspace);
        await h.Service.PauseWorkspaceAsync(workspace);
        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [AnonymousVictim], "test")));
        Assert.Equal(ErasureState.Pending, Assert.Single(await h.Service.ListErasuresAsync(workspace)).State);

        // The workspace is where its status wants it: only the sweep finds the erasure.
        await new ColdstoreWorker(h.Service).RunOnceAsync();

        var applied = Assert.Single(await h.Service.ListErasuresAsync(workspace));
        Assert.Equal(ErasureState.Applied, applied.State);
        Assert.True(applied.Progress.ArchivedRowsErased > 0);
        Assert.Empty(await h.State.ListPendingErasuresAsync());
        await h.Service.ResumeWorkspaceAsync(workspace);
        Assert.Equal(expected, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task A_tampered_rewritten_object_is_refused_and_the_workspace_stays_cold()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await SeedAsync(h, workspace, seed: 31, (2024, 9), (2024, 10));
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await h.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [], "test"));
        var objects = await h.ObjectsAsync(workspace);
        var rewritten = objects.First(o => o.Key.Contains(".e-", StringComparison.Ordinal));
        var other = objects.First(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal) && o.Key != rewritten.Key);
        await h.Archive.WriteAsync(rewritten.Key, (await h.Archive.ReadAsync(other.Key))!);

        var error = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.RestoreWorkspaceEventsAsync(workspace));

        Assert.Contains("cannot be restored", error.Message, StringComparison.Ordinal);
        Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
        Assert.Equal(0, (await h.ChecksumsAsync(workspace)).EventRows);
        Assert.Contains(await h.Service.VerifyWorkspaceArchivesAsync(workspace), c => !c.Ok);
    }

    [Fact]
    public async Task An_erase_requested_while_an_archive_runs_is_applied_before_it_ends_and_the_users_never_come_back()
    {
        var other = await OpenAsync(Chunked);
        var workspace = await other.NewWorkspaceAsync();
        // Right after the copy is verified, with the users' rows in the new archive and still hot.
        var (racing, during) = await RacingEraseAsync(other, workspace, Steps.ArchiveVerified, Chunked);
        await SeedAsync(other, workspace, seed: 41, (2024, 11), (2024, 12));
        var expected = await ChecksumsWithoutAsync(other, workspace);

        var archived = await racing.Service.ColdStoreWorkspaceEventsAsync(workspace);

        await AssertAppliedAfterBusyAsync(other, workspace, during());
        Assert.Contains(archived.Steps, s => s.Name == Steps.EraseApplied);
        Assert.Equal(0L, await ArchivedRowsOfUsersAsync(other, workspace));

        await other.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(expected, await other.ChecksumsAsync(workspace));
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(other, workspace));
    }

    [Fact]
    public async Task An_erase_requested_while_a_restore_runs_leaves_none_of_the_users_rows_hot_when_it_ends()
    {
        var other = await OpenAsync();
        var workspace = await other.NewWorkspaceAsync();
        // Right after the insert: the users' rows are hot again for a moment.
        var (racing, during) = await RacingEraseAsync(other, workspace, Steps.RestoreInserted, Fast);
        await SeedAsync(other, workspace, seed: 51, (2025, 1));
        var expected = await ChecksumsWithoutAsync(other, workspace);
        await other.Service.ColdStoreWorkspaceEventsAsync(workspace);

        var restored = await racing.Service.RestoreWorkspaceEventsAsync(workspace);

        await AssertAppliedAfterBusyAsync(other, workspace, during());
        Assert.Contains(restored.Steps, s => s.Name == Steps.EraseApplied);
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(other, workspace));
        Assert.Equal(expected, await other.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task An_erase_requested_while_a_batch_archive_holds_the_workspace_is_applied_when_the_batch_ends()
    {
        var other = await OpenAsync();
        var workspace = await other.NewWorkspaceAsync();
        var neighbour = await other.NewWorkspaceAsync();
        // The batch verified its copies: the users' rows are in the new archive and still hot.
        var (racing, during) = await RacingEraseAsync(other, workspace, Steps.ArchiveVerified, Fast);
        await SeedAsync(other, workspace, seed: 43, (2024, 10), (2024, 11));
        await SeedAsync(other, neighbour, seed: 44, (2024, 10));
        var expected = await ChecksumsWithoutAsync(other, workspace);
        var neighbourBefore = await other.ChecksumsAsync(neighbour);

        var outcomes = await racing.Service.ColdStoreWorkspacesEventsAsync([workspace, neighbour]);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        await AssertAppliedAfterBusyAsync(other, workspace, during());
        Assert.Equal(0L, await ArchivedRowsOfUsersAsync(other, workspace));
        Assert.Equal(StorageState.Cold, await other.StorageAsync(workspace));

        await other.Service.RestoreWorkspacesEventsAsync([workspace, neighbour]);
        Assert.Equal(expected, await other.ChecksumsAsync(workspace));
        Assert.Equal(neighbourBefore, await other.ChecksumsAsync(neighbour));
    }

    [Fact]
    public async Task An_erase_requested_while_a_worker_batch_archives_the_workspace_is_applied_when_the_batch_ends()
    {
        var other = await OpenAsync();
        var workspace = await other.NewWorkspaceAsync();
        var neighbour = await other.NewWorkspaceAsync();
        var (racing, during) = await RacingEraseAsync(other, workspace, Steps.ArchiveVerified, Fast);
        await SeedAsync(other, workspace, seed: 45, (2024, 9));
        await SeedAsync(other, neighbour, seed: 46, (2024, 9));
        var expected = await ChecksumsWithoutAsync(other, workspace);
        await Engines.SetStatusAsAnApplicationAsync(workspace, "Paused");
        await Engines.SetStatusAsAnApplicationAsync(neighbour, "Paused");

        // The worker's batch path (no single path behind it): the erasure is applied right after, not by a later sweep.
        var outcomes = await racing.Service.ReconcileWorkspacesAsync([workspace, neighbour], toCold: true);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        await AssertAppliedAfterBusyAsync(other, workspace, during());
        Assert.Equal(0L, await ArchivedRowsOfUsersAsync(other, workspace));
        await other.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(expected, await other.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task An_erase_requested_while_a_batch_restore_holds_the_workspace_leaves_none_of_the_users_rows_hot()
    {
        var other = await OpenAsync();
        var workspace = await other.NewWorkspaceAsync();
        var neighbour = await other.NewWorkspaceAsync();
        // The batch inserted its rows back: the users' rows are hot again.
        var (racing, during) = await RacingEraseAsync(other, workspace, Steps.RestoreInserted, Fast);
        await SeedAsync(other, workspace, seed: 53, (2025, 2));
        await SeedAsync(other, neighbour, seed: 54, (2025, 2));
        var expected = await ChecksumsWithoutAsync(other, workspace);
        var neighbourBefore = await other.ChecksumsAsync(neighbour);
        Assert.All(await other.Service.ColdStoreWorkspacesEventsAsync([workspace, neighbour]), o => Assert.Null(o.Error));

        var outcomes = await racing.Service.RestoreWorkspacesEventsAsync([workspace, neighbour]);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        await AssertAppliedAfterBusyAsync(other, workspace, during());
        Assert.Equal((0L, 0L), await HotRowsOfUsersAsync(other, workspace));
        Assert.Equal(expected, await other.ChecksumsAsync(workspace));
        Assert.Equal(neighbourBefore, await other.ChecksumsAsync(neighbour));
    }

    [Fact]
    public async Task An_erase_naming_nobody_or_an_empty_id_is_refused_and_records_nothing()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();

        var none = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.EraseUsersAsync(workspace, new ErasureRequest([], [], "test")));
        var empty = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim, ""], [], "test")));
        var nobody = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [], " ")));
        var unknown = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.EraseUsersAsync(Guid.NewGuid(), new ErasureRequest([Victim], [], "test")));

        Assert.All(new[] { none, empty, nobody }, e => Assert.Equal(WorkspaceErrorKind.InvalidInput, e.Kind));
        Assert.All(new[] { none, empty, nobody }, e => Assert.Contains(workspace.ToString(), e.Message, StringComparison.Ordinal));
        Assert.Equal(WorkspaceErrorKind.NotFound, unknown.Kind);
        Assert.Empty(await h.Service.ListErasuresAsync(workspace));
    }

    /// <summary>
    /// Per month: generated events of other users, and events of the victim (tracks, some Dittofeed internal ones),
    /// of the anonymous victim (no user id) and of a bystander who shares the anonymous id's prefix.
    /// </summary>
    private static async Task SeedAsync(Harness h, Guid workspace, int seed, params (int Year, int Month)[] months)
    {
        foreach (var (year, month) in months)
        {
            var start = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Utc);
            var span = start.AddMonths(1) - start;
            var messages = Coldstore.Events.SegmentEventGenerator.Generate(60, seed * 100 + month).ToList();
            var rows = messages.Select((m, i) => RawEvent.Of(m.MessageId, m.Raw, start + (span * i / 60))).ToList();
            await h.InsertAsync(workspace, rows);
            await InsertUserRowsAsync(h, workspace, $"{seed}-{month}", start.AddDays(3), 5);
        }
    }

    private static Task InsertUserRowsAsync(Harness h, Guid workspace, string tag, DateTime at, int each)
    {
        var rows = new List<RawEvent>();
        for (var i = 0; i < each; i++)
        {
            var time = at.AddMinutes(i);
            rows.Add(RawEvent.Of($"v-{tag}-{i}", Track($"v-{tag}-{i}", Victim, "a-v", i % 2 == 0 ? "DFEmailDelivered" : "Clicked", time), time));
            rows.Add(RawEvent.Of($"a-{tag}-{i}", Track($"a-{tag}-{i}", null, AnonymousVictim, "Viewed", time), time));
            rows.Add(RawEvent.Of($"b-{tag}-{i}", Track($"b-{tag}-{i}", Bystander, AnonymousVictim + "-not", "DFEmailDelivered", time), time));
        }

        return h.InsertAsync(workspace, rows);

        static string Track(string messageId, string? userId, string anonymousId, string name, DateTime time) =>
            "{\"type\":\"track\",\"event\":\"" + name + "\",\"messageId\":\"" + messageId + "\","
            + (userId is null ? "" : "\"userId\":\"" + userId + "\",")
            + "\"anonymousId\":\"" + anonymousId + "\",\"timestamp\":\"" + time.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)
            + "\",\"properties\":{\"templateId\":\"t-1\",\"journeyId\":\"j-1\"}}";
    }

    /// <summary>Checksums of the workspace's hot rows and internal events leaving the erased users out, computed like <see cref="ColdstoreService.GetWorkspaceChecksumsAsync"/>.</summary>
    private static async Task<WorkspaceChecksums> ChecksumsWithoutAsync(Harness h, Guid workspace)
    {
        var all = await h.ChecksumsAsync(workspace);
        var row = (await h.ClickHouse.QueryAsync(new ClickHouseQuery($$"""
            SELECT
                (SELECT count() FROM {{h.Tables.QualifiedEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS event_rows,
                (SELECT sum(cityHash64(event_type, event, toUnixTimestamp64Milli(event_time), message_id, user_id, anonymous_id,
                        user_or_anonymous_id, properties, hidden, toUnixTimestamp64Milli(processing_time),
                        toUnixTimestamp64Milli(server_time), message_raw, workspace_id))
                 FROM {{h.Tables.QualifiedEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS event_checksum,
                (SELECT count() FROM {{h.Tables.QualifiedInternalEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS internal_rows,
                (SELECT sum(cityHash64(workspace_id, user_or_anonymous_id, user_id, anonymous_id, message_id, event,
                        toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(processing_time), properties, template_id,
                        broadcast_id, journey_id, triggering_message_id, channel_type, delivery_to, delivery_from,
                        origin_message_id, hidden))
                 FROM {{h.Tables.QualifiedInternalEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS internal_checksum
            """).With("w", "String", workspace.ToString("D")).With("v", "String", Victim).With("a", "String", AnonymousVictim).For("test: checksums of erased users"))).Single();
        var (rows, checksum, internalRows, internalChecksum) = (row.GetInt64("event_rows"), row.GetUInt64("event_checksum"), row.GetInt64("internal_rows"), row.GetUInt64("internal_checksum"));
        return all with
        {
            EventRows = all.EventRows - rows,
            EventChecksum = unchecked(all.EventChecksum - checksum),
            InternalEventRows = all.InternalEventRows - internalRows,
            InternalEventChecksum = unchecked(all.InternalEventChecksum - internalChecksum),
        };
    }

    private static WorkspaceChecksums Add(WorkspaceChecksums a, WorkspaceChecksums b) => a with
    {
        EventRows = a.EventRows + b.EventRows,
        EventChecksum = unchecked(a.EventChecksum + b.EventChecksum),
        InternalEventRows = a.InternalEventRows + b.InternalEventRows,
        InternalEventChecksum = unchecked(a.InternalEventChecksum + b.InternalEventChecksum),
    };

    private const string Erased = "(user_id = {v:String} OR anonymous_id = {a:String})";

    /// <summary>The erased users' rows and internal events hot now.</summary>
    private static async Task<(long Events, long Internal)> HotRowsOfUsersAsync(Harness h, Guid workspace)
    {
        var row = (await h.ClickHouse.QueryAsync(new ClickHouseQuery($$"""
            SELECT (SELECT count() FROM {{h.Tables.QualifiedEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS events,
                   (SELECT count() FROM {{h.Tables.QualifiedInternalEvents}} WHERE workspace_id = {w:String} AND {{Erased}}) AS internal
            """).With("w", "String", workspace.ToString("D")).With("v", "String", Victim).With("a", "String", AnonymousVictim).For("test: erased users' hot rows"))).Single();
        return (row.GetInt64("events"), row.GetInt64("internal"));
    }

    /// <summary>How many of the erased users' rows the workspace's archives hold, before the erase (there must be some).</summary>
    private static async Task<long> RowsOfAsync(Harness h, Guid workspace)
    {
        var rows = await ArchivedRowsOfUsersAsync(h, workspace);
        Assert.True(rows > 0, "the archives hold the users' rows before the erase");
        return rows;
    }

    /// <summary>How many of the erased users' rows the workspace's archives hold (read through the query over archives).</summary>
    private static async Task<long> ArchivedRowsOfUsersAsync(Harness h, Guid workspace)
    {
        var cold = await h.Service.QueryArchivesAsync(workspace, $"SELECT count() AS n FROM user_events_v2 WHERE user_id = '{Victim}' OR anonymous_id = '{AnonymousVictim}'");
        return Convert.ToInt64(cold.Rows[0]["n"], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A second service instance whose operation races an erase: right after it completes <paramref name="step"/> (the
    /// first time), the users are erased from <paramref name="workspace"/> through <paramref name="other"/>, while the
    /// racing operation holds the workspace. <c>During</c> gives what that erase answered.
    /// </summary>
    private async Task<(Harness Racing, Func<ErasureResult?> During)> RacingEraseAsync(Harness other, Guid workspace, string step, ColdstoreOptions options)
    {
        ErasureResult? during = null;
        var racing = await OpenAsync(options with
        {
            StepCompleted = completed =>
            {
                if (completed == step && during is null)
                {
                    during = other.Service.EraseUsersAsync(workspace, new ErasureRequest([Victim], [AnonymousVictim], "racing")).GetAwaiter().GetResult();
                }
            },
        });
        return (racing, () => during);
    }

    /// <summary>The racing erase was told the workspace was busy and left recorded; the operation holding it applied it.</summary>
    private static async Task AssertAppliedAfterBusyAsync(Harness other, Guid workspace, ErasureResult? during)
    {
        Assert.NotNull(during);
        Assert.Contains("busy", during.PendingBecause, StringComparison.Ordinal);
        Assert.Equal(ErasureState.Applied, Assert.Single(await other.Service.ListErasuresAsync(workspace)).State);
    }
}

public sealed class EraseOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : EraseTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class EraseOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : EraseTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
