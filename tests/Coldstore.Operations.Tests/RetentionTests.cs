using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Retention: archives of workspaces Tombstoned longer than the period (or whose row the application deleted that
/// long ago) are purged, never one under a legal hold, never a paused or recently tombstoned one; the application's
/// own delete of a workspace row is not refused by Coldstore's ledger.
/// </summary>
public abstract class RetentionTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly TimeSpan Period = TimeSpan.FromDays(30);

    private static ColdstoreOptions Retaining => Fast with { PurgeTombstonedAfter = Period };

    [Fact]
    public async Task Retention_purges_only_tombstoned_workspaces_past_the_period_and_never_one_under_hold()
    {
        var h = await OpenAsync(Retaining);
        var old = await ColdWorkspaceAsync(h, 20, tombstone: true, age: TimeSpan.FromDays(40));
        var recent = await ColdWorkspaceAsync(h, 21, tombstone: true, age: TimeSpan.FromDays(5));
        var held = await ColdWorkspaceAsync(h, 22, tombstone: true, age: TimeSpan.FromDays(40));
        var paused = await ColdWorkspaceAsync(h, 23, tombstone: false, age: TimeSpan.FromDays(400));
        var hold = await h.Service.PlaceHoldAsync(held, "  legal case 42 ");
        Assert.Equal("legal case 42", hold.Reason);

        var planned = await h.Service.PurgeArchivesAsync(dryRun: true);
        var only = Assert.Single(planned);
        Assert.Equal((old, 20L, false), (only.WorkspaceId, only.Rows, only.Purged));
        Assert.Contains("tombstoned since", only.Reason, StringComparison.Ordinal);
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(old)).State);
        Assert.NotEmpty(await h.ObjectsAsync(old));

        var purged = Assert.Single(await h.Service.PurgeArchivesAsync());
        Assert.True(purged.Purged);
        var record = Assert.Single(await h.LedgerAsync(old));
        Assert.Equal((ArchiveState.Purged, 20L), (record.State, record.RowCount));
        Assert.Empty(await h.ObjectsAsync(old));
        var described = Assert.Single(await h.Service.DescribeArchivesAsync(old));
        Assert.Equal((ArchiveState.Purged, 20L, null, 0), (described.Record.State, described.Record.RowCount, described.Problem, described.Objects.Count));
        foreach (var kept in new[] { recent, held, paused })
        {
            Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(kept)).State);
            Assert.NotEmpty(await h.ObjectsAsync(kept));
        }

        // Released, the held workspace is past the period too: the worker's pass purges it.
        Assert.True(await h.Service.ReleaseHoldAsync(held));
        Assert.False(await h.Service.ReleaseHoldAsync(held));
        await new ColdstoreWorker(h.Service).RunOnceAsync();
        Assert.Equal(ArchiveState.Purged, Assert.Single(await h.LedgerAsync(held)).State);
        Assert.Empty(await h.ObjectsAsync(held));
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(recent)).State);

        // Activating a purged workspace brings back what is left: nothing, and no error.
        var activated = await h.Service.ActivateTombstonedWorkspaceAsync(old);
        Assert.Equal(StorageState.Hot, activated.Storage);
        Assert.Equal(0, (await h.ChecksumsAsync(old)).EventRows);
    }

    [Fact]
    public async Task The_application_deleting_a_workspace_row_succeeds_and_its_archives_follow_the_rule()
    {
        var h = await OpenAsync(Retaining);
        var gone = await ColdWorkspaceAsync(h, 15, tombstone: true, age: TimeSpan.Zero);
        var goneHeld = await ColdWorkspaceAsync(h, 16, tombstone: false, age: TimeSpan.Zero);

        Assert.Equal(1, await Engines.DeleteWorkspaceAsAnApplicationAsync(gone));
        Assert.Equal(1, await Engines.DeleteWorkspaceAsAnApplicationAsync(goneHeld));
        Assert.Null(await h.State.GetWorkspaceAsync(gone));
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(gone)).State);
        await h.Service.PlaceHoldAsync(goneHeld, "kept for an audit");

        // Archives long unchanged are not purged at once: the period counts from when Coldstore first sees the row gone.
        await Engines.AgeAsync(gone, TimeSpan.FromDays(400));
        Assert.Empty(await h.Service.PurgeArchivesAsync());
        Assert.Contains("row is gone", Assert.Single(await h.LedgerAsync(gone)).LastError, StringComparison.Ordinal);
        Assert.Empty(await h.Service.PurgeArchivesAsync());
        await Engines.AgeAsync(gone, TimeSpan.FromDays(31));
        await Engines.AgeAsync(goneHeld, TimeSpan.FromDays(31));
        var purged = Assert.Single(await h.Service.PurgeArchivesAsync());

        Assert.Equal((gone, true), (purged.WorkspaceId, purged.Purged));
        Assert.Contains("row was deleted; first seen gone", purged.Reason, StringComparison.Ordinal);
        Assert.Equal(ArchiveState.Purged, Assert.Single(await h.LedgerAsync(gone)).State);
        Assert.Empty(await h.ObjectsAsync(gone));
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(goneHeld)).State);
        Assert.NotEmpty(await h.ObjectsAsync(goneHeld));
        var unknown = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.PlaceHoldAsync(Guid.NewGuid(), "typo"));
        Assert.Equal(WorkspaceErrorKind.NotFound, unknown.Kind);
    }

    [Fact]
    public async Task A_tombstone_set_by_a_bare_update_of_an_old_row_keeps_archives_younger_than_the_period()
    {
        var h = await OpenAsync(Retaining);
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 12, seed: 91);
        // The row is old; the application tombstones it with one UPDATE, which leaves its update time as it was.
        await Engines.AgeAsync(workspace, TimeSpan.FromDays(300));
        await Engines.SetStatusAsAnApplicationAsync(workspace, "Tombstoned");
        await new ColdstoreWorker(h.Service).RunOnceAsync();
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(workspace)).State);

        Assert.Empty(await h.Service.PurgeArchivesAsync());

        await Engines.AgeAsync(workspace, TimeSpan.FromDays(31));
        Assert.Equal(workspace, Assert.Single(await h.Service.PurgeArchivesAsync()).WorkspaceId);
    }

    [Fact]
    public async Task With_retention_off_a_purge_says_how_to_turn_it_on_and_changes_nothing()
    {
        var h = await OpenAsync();
        var workspace = await ColdWorkspaceAsync(h, 10, tombstone: true, age: TimeSpan.FromDays(4000));

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => h.Service.PurgeArchivesAsync(dryRun: true));

        Assert.Contains("COLDSTORE_PURGE_TOMBSTONED_AFTER_DAYS", error.Message, StringComparison.Ordinal);
        await new ColdstoreWorker(h.Service).RunOnceAsync();
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(workspace)).State);
    }

    [Fact]
    public async Task A_workspace_activated_while_its_purge_marks_its_archives_keeps_them_and_gets_its_rows_back()
    {
        var setup = await OpenAsync(Retaining);
        var workspace = await ColdWorkspaceAsync(setup, 24, tombstone: true, age: TimeSpan.FromDays(40));
        var original = Assert.Single(await setup.LedgerAsync(workspace));
        // Right after the purge writes its first mark, the application activates the workspace (no lease needed).
        var racing = new ActivatingEngines(Engines, workspace);
        var h = await Harness.OpenAsync(ClickHouse.OpenClient(), racing, Tables, Retaining);
        try
        {
            Assert.Empty(await h.Service.PurgeArchivesAsync());
        }
        finally
        {
            await h.DisposeAsync();
        }

        Assert.True(racing.Activated);
        var kept = Assert.Single(await setup.LedgerAsync(workspace));
        Assert.Equal((original.ArchiveId, ArchiveState.Archived), (kept.ArchiveId, kept.State));
        Assert.NotEmpty(await setup.ObjectsAsync(workspace));
        var restored = await setup.Service.ReconcileWorkspaceAsync(workspace);
        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(original.RowCount, (await setup.ChecksumsAsync(workspace)).EventRows);
    }

    /// <summary>Engines whose state stores activate a workspace (as the application) right after the first write that marks one of its archives purged.</summary>
    private sealed class ActivatingEngines(IEngines inner, Guid workspace) : ForwardingEngines(inner)
    {
        private int _activated;

        public bool Activated => Volatile.Read(ref _activated) == 1;

        public override IStateStore OpenState()
        {
            var proxy = System.Reflection.DispatchProxy.Create<IStateStore, AfterPurgeMark>();
            ((AfterPurgeMark)(object)proxy).Configure(Inner.OpenState(), async () =>
            {
                if (Interlocked.Exchange(ref _activated, 1) == 0)
                {
                    await Inner.SetStatusAsAnApplicationAsync(workspace, "Active");
                }
            });
            return proxy;
        }
    }

#pragma warning disable CA1852 // DispatchProxy needs an unsealed class with a public constructor.
    public class AfterPurgeMark : System.Reflection.DispatchProxy
#pragma warning restore CA1852
    {
        private IStateStore? _inner;
        private Func<Task>? _after;

        public void Configure(IStateStore inner, Func<Task> after) => (_inner, _after) = (inner, after);

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
        {
            var result = targetMethod!.Invoke(_inner, args);
            return targetMethod.Name == nameof(IStateStore.UpdateArchiveAsync) && args?[0] is ArchiveRecord { State: ArchiveState.Purged } && result is Task task
                ? ThenAsync(task)
                : result;
        }

        private async Task ThenAsync(Task task)
        {
            await task;
            await _after!();
        }
    }

    /// <summary>A workspace with rows, tombstoned or paused (so archived), its row and ledger aged by <paramref name="age"/>.</summary>
    private async Task<Guid> ColdWorkspaceAsync(Harness h, int seed, bool tombstone, TimeSpan age)
    {
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 20 + (seed % 5), seed);
        var moved = tombstone ? await h.Service.TombstoneWorkspaceAsync(workspace) : await h.Service.PauseWorkspaceAsync(workspace);
        Assert.Equal(StorageState.Cold, moved.Storage);
        if (age > TimeSpan.Zero)
        {
            await Engines.AgeAsync(workspace, age);
        }

        return workspace;
    }
}

public sealed class RetentionOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : RetentionTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class RetentionOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : RetentionTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
