using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Dittofeed's lifecycle calls move the status in one transaction and then the events: pause and tombstone send them
/// to cold storage, resume and activate bring them back exactly; with cold storage off only the status changes.
/// </summary>
public abstract class LifecycleTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task Pause_archives_the_events_and_resume_brings_every_row_back_exactly()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 700, seed: 41);
        var before = await h.ChecksumsAsync(workspace);

        var paused = await h.Service.PauseWorkspaceAsync(workspace);

        Assert.True(paused.Change.Changed);
        Assert.Equal(WorkspaceStatus.Active, paused.Change.Before.Status);
        Assert.Equal(WorkspaceStatus.Paused, paused.Workspace.Status);
        Assert.Equal("archive", paused.Reconcile?.Action);
        Assert.Equal(StorageState.Cold, paused.Storage);
        Assert.Equal(700, paused.Reconcile!.Operation!.Rows);
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(workspace)).State);

        var resumed = await h.Service.ResumeWorkspaceAsync(workspace);

        Assert.Equal(WorkspaceStatus.Active, resumed.Workspace.Status);
        Assert.Equal("restore", resumed.Reconcile?.Action);
        Assert.Equal(StorageState.Hot, (await h.State.GetWorkspaceAsync(workspace))!.Storage);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Tombstone_prefixes_name_and_external_id_and_archives_and_activate_strips_them_and_restores()
    {
        var h = await OpenAsync();
        var name = $"acme-{Guid.NewGuid():N}";
        var workspace = (await h.Service.CreateWorkspaceAsync(new NewWorkspace(name, ExternalId: $"ext-{name}"))).Id;
        await h.IngestAsync(workspace, 400, seed: 42);
        var before = await h.ChecksumsAsync(workspace);

        var tombstoned = await h.Service.TombstoneWorkspaceAsync(workspace);

        Assert.Equal(WorkspaceStatus.Tombstoned, tombstoned.Workspace.Status);
        Assert.Equal(WorkspaceLifecycle.TombstonePrefix + name, tombstoned.Workspace.Name);
        Assert.Equal($"{WorkspaceLifecycle.TombstonePrefix}ext-{name}", tombstoned.Workspace.ExternalId);
        Assert.Equal(StorageState.Cold, tombstoned.Storage);
        Assert.Equal(0, await h.HotRowsAsync(workspace));

        var activated = await h.Service.ActivateTombstonedWorkspaceAsync(workspace);

        Assert.Equal(WorkspaceStatus.Active, activated.Workspace.Status);
        Assert.Equal(name, activated.Workspace.Name);
        Assert.Equal($"ext-{name}", activated.Workspace.ExternalId);
        Assert.Equal(StorageState.Hot, activated.Storage);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Activating_when_the_name_was_taken_meanwhile_is_a_conflict_that_changes_nothing_and_keeps_the_events_cold()
    {
        var h = await OpenAsync();
        var name = $"taken-{Guid.NewGuid():N}";
        var workspace = (await h.Service.CreateWorkspaceAsync(new NewWorkspace(name))).Id;
        await h.IngestAsync(workspace, 300, seed: 43);
        var before = await h.ChecksumsAsync(workspace);
        await h.Service.TombstoneWorkspaceAsync(workspace);
        await h.Service.CreateWorkspaceAsync(new NewWorkspace(name));

        var error = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.ActivateTombstonedWorkspaceAsync(workspace));

        Assert.Equal(WorkspaceErrorKind.Conflict, error.Kind);
        Assert.Equal(workspace, error.WorkspaceId);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
        var after = (await h.State.GetWorkspaceAsync(workspace))!;
        Assert.Equal(WorkspaceStatus.Tombstoned, after.Status);
        Assert.Equal(WorkspaceLifecycle.TombstonePrefix + name, after.Name);
        Assert.Equal(StorageState.Cold, after.Storage);
        Assert.Equal(300, Assert.Single(await h.LedgerAsync(workspace)).RowCount);
        Assert.Equal(0, await h.HotRowsAsync(workspace));

        // Nothing was lost: tombstoned events still come back through the restore path.
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task With_cold_storage_off_lifecycle_calls_change_only_the_status()
    {
        var h = await OpenAsync(Fast with { ColdStorageEnabled = false });
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 250, seed: 44);
        var before = await h.ChecksumsAsync(workspace);

        var paused = await h.Service.PauseWorkspaceAsync(workspace);
        Assert.Equal(WorkspaceStatus.Paused, paused.Workspace.Status);
        Assert.False(paused.ColdStorageEnabled);
        Assert.Null(paused.Reconcile);
        var tombstoned = await h.Service.TombstoneWorkspaceAsync(workspace);
        Assert.Equal(WorkspaceStatus.Tombstoned, tombstoned.Workspace.Status);
        var reconcile = await h.Service.ReconcileWorkspaceAsync(workspace);
        Assert.Equal("none", reconcile.Action);

        Assert.Equal(StorageState.Hot, (await h.State.GetWorkspaceAsync(workspace))!.Storage);
        Assert.Empty(await h.LedgerAsync(workspace));
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        var worker = new ColdstoreWorker(h.Service);
        var refused = await Assert.ThrowsAsync<ConfigurationException>(() => worker.RunOnceAsync());
        Assert.Contains("COLDSTORE_COLD_STORAGE", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_waiting_only_the_status_changes_and_reconciling_later_moves_the_events()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 350, seed: 45);
        var before = await h.ChecksumsAsync(workspace);

        var paused = await h.Service.PauseWorkspaceAsync(workspace, moveEvents: false);

        Assert.Equal(WorkspaceStatus.Paused, paused.Workspace.Status);
        Assert.Null(paused.Reconcile);
        Assert.Equal(StorageState.Hot, paused.Storage);
        Assert.Equal(350, await h.HotRowsAsync(workspace));
        Assert.True(ColdstoreWorker.NeedsWork(paused.Workspace));

        var archived = await h.Service.ReconcileWorkspaceAsync(workspace);
        Assert.Equal("archive", archived.Action);
        Assert.Equal(StorageState.Cold, archived.Storage);
        Assert.Equal("none", (await h.Service.ReconcileWorkspaceAsync(workspace)).Action);

        await h.Service.ResumeWorkspaceAsync(workspace, moveEvents: false);
        var restored = await h.Service.ReconcileWorkspaceAsync(workspace);
        Assert.Equal("restore", restored.Action);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Repeating_a_lifecycle_call_leaves_the_status_alone_and_finishes_a_move_that_was_left_undone()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 200, seed: 46);
        await h.Service.PauseWorkspaceAsync(workspace, moveEvents: false);

        var again = await h.Service.PauseWorkspaceAsync(workspace);

        Assert.False(again.Change.Changed);
        Assert.Equal(again.Change.Before, again.Change.After);
        Assert.Equal("archive", again.Reconcile?.Action);
        Assert.Equal(StorageState.Cold, again.Storage);
        var third = await h.Service.PauseWorkspaceAsync(workspace);
        Assert.Equal("none", third.Reconcile?.Action);
        Assert.Single(await h.LedgerAsync(workspace));
    }

    [Fact]
    public async Task Transitions_that_do_not_apply_to_the_status_are_refused_before_anything_moves()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 100, seed: 47);
        await h.Service.TombstoneWorkspaceAsync(workspace);

        var pause = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.PauseWorkspaceAsync(workspace));
        var resume = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.ResumeWorkspaceAsync(workspace));
        var missing = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.PauseWorkspaceAsync(Guid.NewGuid()));

        Assert.Equal(WorkspaceErrorKind.Conflict, pause.Kind);
        Assert.Contains("activate", pause.Message, StringComparison.Ordinal);
        Assert.Equal(WorkspaceErrorKind.Conflict, resume.Kind);
        Assert.Equal(WorkspaceErrorKind.NotFound, missing.Kind);
        var after = (await h.State.GetWorkspaceAsync(workspace))!;
        Assert.Equal(WorkspaceStatus.Tombstoned, after.Status);
        Assert.Equal(StorageState.Cold, after.Storage);
    }
}

public sealed class LifecycleOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : LifecycleTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class LifecycleOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : LifecycleTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
