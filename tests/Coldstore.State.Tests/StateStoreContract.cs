using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.State.Tests;

/// <summary>
/// What every <see cref="IStateStore"/> must do, run once per adapter. Each test gets an empty database of its own
/// (a Postgres schema or a SQLite file) from the subclass.
/// </summary>
public abstract partial class StateStoreContract : IAsyncLifetime
{
    private readonly List<IStateStore> _stores = [];

    /// <summary>The store under test, migrated.</summary>
    protected IStateStore Store { get; private set; } = null!;

    // ---- what each adapter supplies ----

    /// <summary>Makes the test's empty database.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>Drops the test's database.</summary>
    protected abstract Task DropDatabaseAsync();

    /// <summary>A new store instance over the test's database, as a separate process would open it.</summary>
    protected abstract IStateStore OpenStore();

    /// <summary>Runs raw SQL on the test's database.</summary>
    protected abstract Task ExecuteAsync(string sql);

    /// <summary>Runs a raw query returning one value.</summary>
    protected abstract Task<object?> ScalarAsync(string sql);

    /// <summary>Every table, column, index, constraint and type of the test's database, as comparable text.</summary>
    protected abstract Task<string> DescribeSchemaAsync();

    /// <summary>The Workspace table's columns as <c>name type nullability default</c> lines.</summary>
    protected abstract Task<IReadOnlyList<string>> WorkspaceColumnsAsync();

    /// <summary>
    /// Creates a Workspace table as Dittofeed made it, plus an extra column <c>"writeKeyHint"</c>, holding a Paused
    /// workspace <paramref name="paused"/> named Acme (hint 'acme-hint') and an Active one <paramref name="active"/> named Beta.
    /// </summary>
    protected abstract Task CreateDittofeedWorkspaceTableAsync(Guid paused, Guid active);

    /// <summary>The expected applied versions after migrating.</summary>
    private static readonly int[] AllVersions = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        Store = Track(OpenStore());
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        await DropDatabaseAsync();
    }

    private IStateStore Track(IStateStore store)
    {
        lock (_stores)
        {
            _stores.Add(store);
        }

        return store;
    }

    private async Task<IStateStore> MigratedAsync()
    {
        await Store.MigrateAsync();
        return Store;
    }

    // ---- migrations ----

    [Fact]
    public async Task No_migration_is_applied_before_the_first_migrate()
    {
        Assert.Empty(await Store.AppliedMigrationsAsync());
    }

    [Fact]
    public async Task Migrating_applies_every_version_in_order()
    {
        await Store.MigrateAsync();

        Assert.Equal(AllVersions, await Store.AppliedMigrationsAsync());
    }

    [Fact]
    public async Task Migrating_twice_changes_neither_the_versions_nor_the_schema()
    {
        await Store.MigrateAsync();
        var versions = await Store.AppliedMigrationsAsync();
        var schema = await DescribeSchemaAsync();

        await Store.MigrateAsync();

        Assert.Equal(versions, await Store.AppliedMigrationsAsync());
        Assert.Equal(schema, await DescribeSchemaAsync());
    }

    [Fact]
    public async Task Migrating_from_several_processes_at_once_applies_each_version_once()
    {
        var stores = Enumerable.Range(0, 6).Select(_ => Track(OpenStore())).ToList();
        var start = new TaskCompletionSource();

        var migrations = stores.Select(async store =>
        {
            await start.Task;
            await store.MigrateAsync();
        }).ToList();
        start.SetResult();
        await Task.WhenAll(migrations);

        Assert.Equal(AllVersions, await Store.AppliedMigrationsAsync());
        var created = await Store.CreateWorkspaceAsync(new NewWorkspace("after-race"));
        Assert.Equal(StorageState.Hot, created.Storage);
    }

    [Fact]
    public async Task Migrating_an_existing_Dittofeed_database_keeps_its_rows_and_columns_and_makes_them_hot()
    {
        var paused = Guid.NewGuid();
        var active = Guid.NewGuid();
        await CreateDittofeedWorkspaceTableAsync(paused, active);
        var columnsBefore = await WorkspaceColumnsAsync();

        await Store.MigrateAsync();

        var columnsAfter = await WorkspaceColumnsAsync();
        Assert.Equal(columnsBefore, columnsAfter.Where(c => !c.StartsWith("coldstoreStorage ", StringComparison.Ordinal)));
        Assert.Single(columnsAfter, c => c.StartsWith("coldstoreStorage ", StringComparison.Ordinal));

        var acme = await Store.GetWorkspaceAsync(paused);
        Assert.NotNull(acme);
        Assert.Equal("Acme", acme.Name);
        Assert.Equal(WorkspaceStatus.Paused, acme.Status);
        Assert.Equal(StorageState.Hot, acme.Storage);
        var beta = await Store.GetWorkspaceAsync(active);
        Assert.Equal(WorkspaceStatus.Active, beta?.Status);
        Assert.Equal(StorageState.Hot, beta?.Storage);
        Assert.Equal("acme-hint", await ScalarAsync($"""SELECT "writeKeyHint" FROM "Workspace" WHERE "id" = '{paused}'"""));

        // The store works normally on the existing table, ledger and leases included.
        Assert.True(await Store.TrySetStorageAsync(paused, StorageState.Hot, StorageState.Archiving));
        await Store.InsertArchiveAsync(NewArchive(paused));
        Assert.True((await Store.TryAcquireLeaseAsync(paused, "worker", TimeSpan.FromMinutes(1))).Acquired);
    }

    // ---- workspaces ----

    [Fact]
    public async Task A_created_workspace_is_active_and_hot_and_reads_back_the_same()
    {
        var store = await MigratedAsync();
        var id = Guid.NewGuid();

        var created = await store.CreateWorkspaceAsync(new NewWorkspace("Acme", id, "ext-1"));
        var read = await store.GetWorkspaceAsync(id);

        Assert.Equal(id, created.Id);
        Assert.Equal("Acme", created.Name);
        Assert.Equal("ext-1", created.ExternalId);
        Assert.Null(created.ParentWorkspaceId);
        Assert.Equal(WorkspaceStatus.Active, created.Status);
        Assert.Equal(StorageState.Hot, created.Storage);
        Assert.Equal(DateTimeKind.Utc, created.CreatedAt.Kind);
        Assert.InRange(created.CreatedAt, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(created, read);
    }

    [Fact]
    public async Task A_workspace_created_without_an_id_gets_a_fresh_one()
    {
        var store = await MigratedAsync();

        var first = await store.CreateWorkspaceAsync(new NewWorkspace("one"));
        var second = await store.CreateWorkspaceAsync(new NewWorkspace("two"));

        Assert.NotEqual(Guid.Empty, first.Id);
        Assert.NotEqual(first.Id, second.Id);
    }

    [Fact]
    public async Task A_missing_workspace_reads_as_null()
    {
        var store = await MigratedAsync();

        Assert.Null(await store.GetWorkspaceAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task Workspaces_are_listed_oldest_first_with_children()
    {
        var store = await MigratedAsync();
        var parent = await store.CreateWorkspaceAsync(new NewWorkspace("parent"));
        await Task.Delay(5);
        var child = await store.CreateWorkspaceAsync(new NewWorkspace("child", ParentWorkspaceId: parent.Id));
        await Task.Delay(5);
        var last = await store.CreateWorkspaceAsync(new NewWorkspace("last"));

        var listed = await store.ListWorkspacesAsync();

        Assert.Equal([parent.Id, child.Id, last.Id], listed.Select(w => w.Id));
        Assert.Equal(parent.Id, listed[1].ParentWorkspaceId);
    }

    [Fact]
    public async Task Creating_a_workspace_with_a_taken_id_is_a_conflict_naming_the_workspace_and_the_rule()
    {
        var store = await MigratedAsync();
        var id = Guid.NewGuid();
        await store.CreateWorkspaceAsync(new NewWorkspace("first", id));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.CreateWorkspaceAsync(new NewWorkspace("second", id)));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal(id, e.WorkspaceId);
        Assert.Contains(id.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("id is taken", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_root_workspaces_may_not_share_a_name()
    {
        var store = await MigratedAsync();
        await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.CreateWorkspaceAsync(new NewWorkspace("Acme")));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Contains("'Acme'", e.Message, StringComparison.Ordinal);
        Assert.Contains("(parentWorkspaceId, name)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Children_of_different_parents_may_share_a_name_but_siblings_may_not()
    {
        var store = await MigratedAsync();
        var one = await store.CreateWorkspaceAsync(new NewWorkspace("one"));
        var two = await store.CreateWorkspaceAsync(new NewWorkspace("two"));
        await store.CreateWorkspaceAsync(new NewWorkspace("shared", ParentWorkspaceId: one.Id));
        await store.CreateWorkspaceAsync(new NewWorkspace("shared", ParentWorkspaceId: two.Id));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.CreateWorkspaceAsync(new NewWorkspace("shared", ParentWorkspaceId: one.Id)));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Contains("(parentWorkspaceId, name)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Siblings_may_not_share_an_external_id()
    {
        var store = await MigratedAsync();
        var parent = await store.CreateWorkspaceAsync(new NewWorkspace("parent"));
        await store.CreateWorkspaceAsync(new NewWorkspace("a", ExternalId: "ext", ParentWorkspaceId: parent.Id));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.CreateWorkspaceAsync(new NewWorkspace("b", ExternalId: "ext", ParentWorkspaceId: parent.Id)));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Contains("'b'", e.Message, StringComparison.Ordinal);
        Assert.Contains("(parentWorkspaceId, externalId)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_child_of_a_missing_parent_is_not_found()
    {
        var store = await MigratedAsync();
        var parent = Guid.NewGuid();

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.CreateWorkspaceAsync(new NewWorkspace("orphan", ParentWorkspaceId: parent)));

        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
        Assert.Contains(parent.ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_name_is_invalid_input()
    {
        var store = await MigratedAsync();

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.CreateWorkspaceAsync(new NewWorkspace("  ")));

        Assert.Equal(WorkspaceErrorKind.InvalidInput, e.Kind);
    }

    [Fact]
    public async Task Setting_storage_succeeds_only_from_the_expected_state()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        Assert.True(await store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving));
        Assert.False(await store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Restoring));
        Assert.Equal(StorageState.Archiving, (await store.GetWorkspaceAsync(workspace.Id))?.Storage);
        Assert.True(await store.TrySetStorageAsync(workspace.Id, StorageState.Archiving, StorageState.Cold));
        Assert.Equal(StorageState.Cold, (await store.GetWorkspaceAsync(workspace.Id))?.Storage);
    }

    [Fact]
    public async Task Racing_storage_changes_from_the_same_state_let_exactly_one_win()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var results = await Task.WhenAll(Enumerable.Range(0, 10)
            .Select(_ => Task.Run(() => store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving))));

        Assert.Single(results, won => won);
    }

    [Fact]
    public async Task Setting_storage_of_a_missing_workspace_changes_nothing()
    {
        var store = await MigratedAsync();

        Assert.False(await store.TrySetStorageAsync(Guid.NewGuid(), StorageState.Hot, StorageState.Archiving));
    }

    // ---- lifecycle transitions ----

    private const string Tombstoned = WorkspaceLifecycle.TombstonePrefix;

    [Fact]
    public async Task Each_transition_moves_the_status_and_stamps_the_update_time()
    {
        var store = await MigratedAsync();
        var created = await store.CreateWorkspaceAsync(new NewWorkspace("Acme", ExternalId: "ext-1"));
        var steps = new (WorkspaceTransition Transition, WorkspaceStatus From, WorkspaceStatus To)[]
        {
            (WorkspaceTransition.Pause, WorkspaceStatus.Active, WorkspaceStatus.Paused),
            (WorkspaceTransition.Resume, WorkspaceStatus.Paused, WorkspaceStatus.Active),
            (WorkspaceTransition.Tombstone, WorkspaceStatus.Active, WorkspaceStatus.Tombstoned),
            (WorkspaceTransition.Activate, WorkspaceStatus.Tombstoned, WorkspaceStatus.Active),
        };

        var previous = created;
        foreach (var (transition, from, to) in steps)
        {
            await Task.Delay(20); // Timestamps keep milliseconds; make the stamp visibly later.
            var change = await store.ChangeWorkspaceStatusAsync(created.Id, transition);

            Assert.True(change.Changed, $"{transition} should change the status");
            Assert.Equal(previous, change.Before);
            Assert.Equal(from, change.Before.Status);
            Assert.Equal(to, change.After.Status);
            Assert.True(change.After.UpdatedAt > change.Before.UpdatedAt,
                $"{transition}: {change.After.UpdatedAt:o} should be after {change.Before.UpdatedAt:o}");
            Assert.Equal(DateTimeKind.Utc, change.After.UpdatedAt.Kind);
            Assert.InRange(change.After.UpdatedAt, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
            Assert.Equal(created.CreatedAt, change.After.CreatedAt);
            Assert.Equal(StorageState.Hot, change.After.Storage); // Moving events is the archiver's job, not this one's.
            Assert.Equal(change.After, await store.GetWorkspaceAsync(created.Id));
            previous = change.After;
        }
    }

    [Fact]
    public async Task A_paused_workspace_can_be_tombstoned_and_comes_back_active()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Pause);

        var tombstoned = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Tombstone);
        var activated = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Activate);

        Assert.Equal((WorkspaceStatus.Paused, WorkspaceStatus.Tombstoned), (tombstoned.Before.Status, tombstoned.After.Status));
        Assert.Equal((WorkspaceStatus.Tombstoned, WorkspaceStatus.Active), (activated.Before.Status, activated.After.Status));
    }

    [Fact]
    public async Task Tombstoning_prefixes_the_name_and_external_id_and_activating_strips_them()
    {
        var store = await MigratedAsync();
        var parent = await store.CreateWorkspaceAsync(new NewWorkspace("parent"));
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme", ExternalId: "ext-1", ParentWorkspaceId: parent.Id));

        var tombstoned = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Tombstone);

        Assert.Equal(Tombstoned + "Acme", tombstoned.After.Name);
        Assert.Equal(Tombstoned + "ext-1", tombstoned.After.ExternalId);
        Assert.Equal(parent.Id, tombstoned.After.ParentWorkspaceId);
        Assert.Equal(tombstoned.After, await store.GetWorkspaceAsync(workspace.Id));

        var activated = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Activate);

        Assert.Equal("Acme", activated.After.Name);
        Assert.Equal("ext-1", activated.After.ExternalId);
        Assert.Equal(activated.After, await store.GetWorkspaceAsync(workspace.Id));
    }

    [Fact]
    public async Task Tombstoning_keeps_a_missing_external_id_missing()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var tombstoned = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Tombstone);
        var stored = (await store.GetWorkspaceAsync(workspace.Id))!;
        var activated = await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Activate);

        Assert.Equal(Tombstoned + "Acme", tombstoned.After.Name);
        Assert.Null(tombstoned.After.ExternalId);
        Assert.Equal(tombstoned.After, stored);
        Assert.Null(activated.After.ExternalId);
        Assert.Equal("Acme", activated.After.Name);
    }

    [Theory]
    [InlineData(WorkspaceTransition.Pause)]
    [InlineData(WorkspaceTransition.Resume)]
    [InlineData(WorkspaceTransition.Tombstone)]
    [InlineData(WorkspaceTransition.Activate)]
    public async Task Repeating_a_transition_changes_nothing(WorkspaceTransition transition)
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme", ExternalId: "ext-1"));
        // Resume and Activate already hold for a new (Active) workspace; Pause and Tombstone need doing once.
        await store.ChangeWorkspaceStatusAsync(workspace.Id, transition);
        var before = (await store.GetWorkspaceAsync(workspace.Id))!;
        await Task.Delay(20);

        var again = await store.ChangeWorkspaceStatusAsync(workspace.Id, transition);

        Assert.False(again.Changed);
        Assert.Equal(before, again.Before);
        Assert.Equal(before, again.After);
        Assert.Equal(before, await store.GetWorkspaceAsync(workspace.Id)); // Same updatedAt, name and external id.
    }

    [Theory]
    [InlineData(WorkspaceTransition.Tombstone, WorkspaceTransition.Pause, "activate it first")]
    [InlineData(WorkspaceTransition.Tombstone, WorkspaceTransition.Resume, "activate it instead")]
    [InlineData(WorkspaceTransition.Pause, WorkspaceTransition.Activate, "resume it instead")]
    public async Task A_transition_that_does_not_apply_is_a_conflict_that_changes_nothing(
        WorkspaceTransition setup, WorkspaceTransition refused, string hint)
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme", ExternalId: "ext-1"));
        await store.ChangeWorkspaceStatusAsync(workspace.Id, setup);
        var before = (await store.GetWorkspaceAsync(workspace.Id))!;

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.ChangeWorkspaceStatusAsync(workspace.Id, refused));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal(workspace.Id, e.WorkspaceId);
        Assert.Equal(refused.StepName(), e.Step);
        Assert.Contains(hint, e.Message, StringComparison.Ordinal);
        Assert.Equal(before, await store.GetWorkspaceAsync(workspace.Id));
    }

    [Theory]
    [InlineData(WorkspaceTransition.Pause)]
    [InlineData(WorkspaceTransition.Activate)]
    public async Task Changing_the_status_of_a_missing_workspace_is_not_found(WorkspaceTransition transition)
    {
        var store = await MigratedAsync();
        var missing = Guid.NewGuid();

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.ChangeWorkspaceStatusAsync(missing, transition));

        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
        Assert.Equal(missing, e.WorkspaceId);
        Assert.Equal(transition.StepName(), e.Step);
        Assert.Contains(missing.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("coldstore status", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Activating_when_a_new_workspace_took_the_name_is_a_conflict_that_changes_nothing()
    {
        var store = await MigratedAsync();
        var old = await store.CreateWorkspaceAsync(new NewWorkspace("acme"));
        await store.ChangeWorkspaceStatusAsync(old.Id, WorkspaceTransition.Tombstone);
        var tombstoned = (await store.GetWorkspaceAsync(old.Id))!;
        var successor = await store.CreateWorkspaceAsync(new NewWorkspace("acme"));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.ChangeWorkspaceStatusAsync(old.Id, WorkspaceTransition.Activate));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal(old.Id, e.WorkspaceId);
        Assert.Equal("activate", e.Step);
        Assert.Contains("'acme'", e.Message, StringComparison.Ordinal);
        Assert.NotNull(e.InnerException);
        var after = (await store.GetWorkspaceAsync(old.Id))!;
        Assert.Equal(tombstoned, after);
        Assert.Equal(WorkspaceStatus.Tombstoned, after.Status);
        Assert.Equal(Tombstoned + "acme", after.Name);
        Assert.Equal(successor, await store.GetWorkspaceAsync(successor.Id));
    }

    [Fact]
    public async Task Activating_when_a_sibling_took_the_external_id_is_a_conflict_that_changes_nothing()
    {
        var store = await MigratedAsync();
        var parent = await store.CreateWorkspaceAsync(new NewWorkspace("parent"));
        var old = await store.CreateWorkspaceAsync(new NewWorkspace("old", ExternalId: "ext", ParentWorkspaceId: parent.Id));
        await store.ChangeWorkspaceStatusAsync(old.Id, WorkspaceTransition.Tombstone);
        var tombstoned = (await store.GetWorkspaceAsync(old.Id))!;
        await store.CreateWorkspaceAsync(new NewWorkspace("new", ExternalId: "ext", ParentWorkspaceId: parent.Id));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.ChangeWorkspaceStatusAsync(old.Id, WorkspaceTransition.Activate));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Contains("external id 'ext'", e.Message, StringComparison.Ordinal);
        Assert.Equal(tombstoned, await store.GetWorkspaceAsync(old.Id));
        Assert.Equal(Tombstoned + "ext", tombstoned.ExternalId);
        Assert.Equal(Tombstoned + "old", tombstoned.Name);
    }

    [Fact]
    public async Task Tombstoning_when_a_sibling_already_has_the_prefixed_name_is_a_conflict_that_changes_nothing()
    {
        var store = await MigratedAsync();
        await store.CreateWorkspaceAsync(new NewWorkspace(Tombstoned + "acme"));
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("acme"));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Tombstone));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal("tombstone", e.Step);
        Assert.Contains($"'{Tombstoned}acme'", e.Message, StringComparison.Ordinal);
        Assert.Equal(workspace, await store.GetWorkspaceAsync(workspace.Id));
    }

    [Fact]
    public async Task Racing_pauses_let_exactly_one_change_the_status()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        // Two store instances stand in for two processes; four tasks each race on their pools too.
        var stores = new[] { store, Track(OpenStore()) };
        var start = new TaskCompletionSource();

        var pauses = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await start.Task;
            return await stores[i % stores.Length].ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Pause);
        })).ToList();
        start.SetResult();
        var results = await Task.WhenAll(pauses).WaitAsync(TimeSpan.FromSeconds(60));

        var winner = Assert.Single(results, r => r.Changed);
        Assert.Equal(WorkspaceStatus.Active, winner.Before.Status);
        Assert.All(results, r => Assert.Equal(winner.After, r.After));
        Assert.Equal(winner.After, await store.GetWorkspaceAsync(workspace.Id));
    }

    [Fact]
    public async Task Racing_tombstone_and_pause_leave_one_consistent_outcome()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var start = new TaskCompletionSource();

        var tombstone = Task.Run(async () =>
        {
            await start.Task;
            return await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Tombstone);
        });
        var pause = Task.Run(async () =>
        {
            await start.Task;
            return await store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Pause);
        });
        start.SetResult();
        var tombstoned = await tombstone.WaitAsync(TimeSpan.FromSeconds(60));
        var paused = await Record.ExceptionAsync(() => pause.WaitAsync(TimeSpan.FromSeconds(60)));

        // Either the pause ran first (then the tombstone started from Paused) or it found the tombstone and was refused.
        Assert.True(tombstoned.Changed);
        Assert.Equal(WorkspaceStatus.Tombstoned, (await store.GetWorkspaceAsync(workspace.Id))?.Status);
        if (paused is null)
        {
            Assert.Equal(WorkspaceStatus.Paused, tombstoned.Before.Status);
        }
        else
        {
            Assert.Equal(WorkspaceErrorKind.Conflict, Assert.IsType<WorkspaceOperationException>(paused).Kind);
            Assert.Equal(WorkspaceStatus.Active, tombstoned.Before.Status);
        }
    }

    // ---- the archive ledger ----

    private static ArchiveRecord NewArchive(Guid workspaceId, ArchiveState state = ArchiveState.Copying) => new(
        ArchiveId: Guid.NewGuid(),
        WorkspaceId: workspaceId,
        State: state,
        Cutoff: new DateTime(2025, 3, 14, 15, 9, 26, 535, DateTimeKind.Utc),
        ObjectPrefix: $"workspaces/{workspaceId}/archives/x/",
        RowCount: null,
        Checksum: null,
        Bytes: null,
        InternalEventRows: null,
        CreatedAt: default,
        UpdatedAt: default,
        LastError: null);

    [Fact]
    public async Task A_ledger_row_with_the_largest_checksum_reads_back_exactly()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id, ArchiveState.Archived) with
        {
            RowCount = long.MaxValue,
            Checksum = ulong.MaxValue,
            Bytes = 123_456_789_012,
            InternalEventRows = 0,
            LastError = "copy failed once: timeout",
        };

        await store.InsertArchiveAsync(archive);
        var read = await store.GetArchiveAsync(archive.ArchiveId);

        Assert.NotNull(read);
        Assert.Equal(archive with { CreatedAt = read.CreatedAt, UpdatedAt = read.UpdatedAt }, read);
        Assert.Equal(ulong.MaxValue, read.Checksum);
        Assert.Equal(DateTimeKind.Utc, read.Cutoff.Kind);
        Assert.Equal(DateTimeKind.Utc, read.CreatedAt.Kind);
        Assert.InRange(read.CreatedAt, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(read.CreatedAt, read.UpdatedAt);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(9_223_372_036_854_775_807UL)]
    [InlineData(9_223_372_036_854_775_808UL)]
    [InlineData(18_446_744_073_709_551_614UL)]
    public async Task Checksums_on_both_sides_of_the_signed_limit_read_back_exactly(ulong checksum)
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id) with { Checksum = checksum };

        await store.InsertArchiveAsync(archive);

        Assert.Equal(checksum, (await store.GetArchiveAsync(archive.ArchiveId))?.Checksum);
    }

    [Fact]
    public async Task A_ledger_row_with_null_fields_reads_back_with_nulls()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id);

        await store.InsertArchiveAsync(archive);
        var read = await store.GetArchiveAsync(archive.ArchiveId);

        Assert.NotNull(read);
        Assert.Null(read.RowCount);
        Assert.Null(read.Checksum);
        Assert.Null(read.Bytes);
        Assert.Null(read.InternalEventRows);
        Assert.Null(read.LastError);
        Assert.Equal(archive.Cutoff, read.Cutoff);
    }

    [Fact]
    public async Task A_chunk_of_a_large_archive_reads_back_and_an_archive_of_every_row_has_none()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var chunk = new ArchiveChunk(new DateTime(2024, 2, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc), 6, 11);
        var chunked = NewArchive(workspace.Id) with { Chunk = chunk };
        var whole = NewArchive(workspace.Id, ArchiveState.Archived);

        await store.InsertArchiveAsync(chunked);
        await store.InsertArchiveAsync(whole);
        await store.UpdateArchiveAsync(chunked with { State = ArchiveState.Verified, RowCount = 5 });

        Assert.Equal(chunk, (await store.GetArchiveAsync(chunked.ArchiveId))?.Chunk);
        Assert.Null((await store.GetArchiveAsync(whole.ArchiveId))?.Chunk);
        Assert.Equal(chunk, Assert.Single(await store.ListArchivesAsync(workspace.Id), a => a.ArchiveId == chunked.ArchiveId).Chunk);
    }

    [Fact]
    public async Task A_hold_is_placed_replaced_listed_and_released_and_outlives_its_workspace_row()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = Guid.NewGuid();

        var placed = await store.PlaceHoldAsync(workspace.Id, "case 1");
        var replaced = await store.PlaceHoldAsync(workspace.Id, "case 2");
        await store.PlaceHoldAsync(other, "a workspace whose row is gone");

        Assert.Equal("case 1", placed.Reason);
        Assert.Equal(("case 2", DateTimeKind.Utc), (replaced.Reason, replaced.PlacedAt.Kind));
        Assert.InRange(replaced.PlacedAt, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(new[] { workspace.Id, other }.Order(), (await store.ListHoldsAsync()).Select(h => h.WorkspaceId).Order());
        Assert.True(await store.ReleaseHoldAsync(workspace.Id));
        Assert.False(await store.ReleaseHoldAsync(workspace.Id));
        Assert.Equal(other, Assert.Single(await store.ListHoldsAsync()).WorkspaceId);
    }

    [Fact]
    public async Task A_purged_archive_reads_back_and_its_workspace_row_can_be_deleted_by_the_application()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id, ArchiveState.Archived) with { RowCount = 7 };
        await store.InsertArchiveAsync(archive);
        await store.UpdateArchiveAsync(archive with { State = ArchiveState.Purged });

        // As the application would: one plain DELETE, which the ledger used to refuse (ON DELETE RESTRICT).
        await ExecuteAsync($"DELETE FROM \"Workspace\" WHERE \"id\" = '{workspace.Id:D}'");

        Assert.Null(await store.GetWorkspaceAsync(workspace.Id));
        var kept = Assert.Single(await store.ListArchivesAsync(workspace.Id));
        Assert.Equal((ArchiveState.Purged, 7L), (kept.State, kept.RowCount));
    }

    [Fact]
    public async Task A_cutoff_is_kept_to_the_millisecond()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var cutoff = new DateTime(2025, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc).AddTicks(9_999);
        var archive = NewArchive(workspace.Id) with { Cutoff = cutoff };

        await store.InsertArchiveAsync(archive);

        Assert.Equal(new DateTime(2025, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), (await store.GetArchiveAsync(archive.ArchiveId))?.Cutoff);
    }

    [Fact]
    public async Task A_missing_ledger_row_reads_as_null()
    {
        var store = await MigratedAsync();

        Assert.Null(await store.GetArchiveAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task Updating_a_ledger_row_replaces_its_mutable_fields_and_stamps_the_update_time()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id) with { LastError = "first try failed" };
        await store.InsertArchiveAsync(archive);
        var inserted = (await store.GetArchiveAsync(archive.ArchiveId))!;
        await Task.Delay(20);

        var verified = inserted with
        {
            State = ArchiveState.Verified,
            RowCount = 42,
            Checksum = ulong.MaxValue - 1,
            Bytes = 4096,
            InternalEventRows = 7,
            LastError = null,
        };
        await store.UpdateArchiveAsync(verified);
        var read = (await store.GetArchiveAsync(archive.ArchiveId))!;

        Assert.Equal(verified with { UpdatedAt = read.UpdatedAt }, read);
        Assert.True(read.UpdatedAt > inserted.UpdatedAt, $"{read.UpdatedAt:o} should be after {inserted.UpdatedAt:o}");
        Assert.Equal(inserted.CreatedAt, read.CreatedAt);
    }

    [Fact]
    public async Task Updating_a_missing_ledger_row_is_not_found()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.UpdateArchiveAsync(NewArchive(workspace.Id)));

        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public async Task Inserting_a_ledger_row_twice_is_a_conflict()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id, ArchiveState.Archived);
        await store.InsertArchiveAsync(archive);

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.InsertArchiveAsync(archive));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Contains(archive.ArchiveId.ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recording_an_archive_of_a_missing_workspace_is_not_found()
    {
        var store = await MigratedAsync();
        var missing = Guid.NewGuid();

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.InsertArchiveAsync(NewArchive(missing)));

        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
        Assert.Equal(missing, e.WorkspaceId);
    }

    [Theory]
    [InlineData(ArchiveState.Copying)]
    [InlineData(ArchiveState.Verified)]
    [InlineData(ArchiveState.Deleting)]
    [InlineData(ArchiveState.Restoring)]
    public async Task A_workspace_may_have_only_one_archive_in_flight(ArchiveState inFlight)
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        await store.InsertArchiveAsync(NewArchive(workspace.Id, inFlight));

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.InsertArchiveAsync(NewArchive(workspace.Id)));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal(workspace.Id, e.WorkspaceId);
        Assert.Contains("in flight", e.Message, StringComparison.Ordinal);
        await store.InsertArchiveAsync(NewArchive(other.Id)); // Other workspaces are not held up.
        await store.InsertArchiveAsync(NewArchive(workspace.Id, ArchiveState.Archived)); // Finished ones may pile up.
    }

    [Fact]
    public async Task A_finished_archive_makes_room_for_the_next_but_cannot_return_to_flight_beside_it()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var first = NewArchive(workspace.Id);
        await store.InsertArchiveAsync(first);
        await store.UpdateArchiveAsync(first with { State = ArchiveState.Archived });
        var second = NewArchive(workspace.Id);
        await store.InsertArchiveAsync(second);

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.UpdateArchiveAsync(first with { State = ArchiveState.Restoring }));

        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal(ArchiveState.Archived, (await store.GetArchiveAsync(first.ArchiveId))?.State);
    }

    [Fact]
    public async Task A_workspaces_archives_are_listed_oldest_first_and_only_its_own()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var archive = NewArchive(workspace.Id, ArchiveState.Restored);
            await store.InsertArchiveAsync(archive);
            ids.Add(archive.ArchiveId);
        }

        await store.InsertArchiveAsync(NewArchive(other.Id, ArchiveState.Archived));

        Assert.Equal(ids, (await store.ListArchivesAsync(workspace.Id)).Select(a => a.ArchiveId));
        Assert.Empty(await store.ListArchivesAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task Deleting_a_workspace_that_has_archives_succeeds_and_keeps_its_ledger_rows()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var archive = NewArchive(workspace.Id, ArchiveState.Archived);
        await store.InsertArchiveAsync(archive);

        // The application's own delete (it used to be refused by ON DELETE RESTRICT, breaking Dittofeed's delete).
        await ExecuteAsync($"""DELETE FROM "Workspace" WHERE "id" = '{workspace.Id}'""");

        Assert.Null(await store.GetWorkspaceAsync(workspace.Id));
        Assert.Equal(archive.ArchiveId, Assert.Single(await store.ListArchivesAsync(workspace.Id)).ArchiveId);
    }

    // ---- erasures ----

    /// <summary>A checksum above 2^63, which a signed 64-bit column or a double would mangle.</summary>
    private const string LargeChecksum = "18446744073709551614";

    private static ErasureRecord NewErasure(Guid workspaceId, string requestedBy = "dpo@example.com, ticket GDPR-17") => new(
        ErasureId: Guid.NewGuid(),
        WorkspaceId: workspaceId,
        RequestedBy: requestedBy,
        RequestedAt: default,
        Identities: ErasureIdentities.Create(["user-zeta@example.com", "user-omega"], ["anon-qwxyz"]),
        State: ErasureState.Pending,
        Progress: ErasureProgress.None,
        UpdatedAt: default,
        AppliedAt: null,
        LastError: null);

    private static ErasedArchive NewErasedArchive(ErasedArchiveStep step = ErasedArchiveStep.Written) => new(
        ArchiveId: Guid.NewGuid(),
        Step: step,
        RowsErased: 12,
        ReplacedKeys: ["month=202401.parquet", "month=202402.parquet"],
        NewObjects: [new ManifestObject("month=202401.erased-1.parquet", 4_096)],
        Rows: 1_234_567,
        Checksum: LargeChecksum,
        InternalEventRows: 89);

    /// <summary>Every field the caller chose (not the store's times) of <paramref name="read"/> equals <paramref name="expected"/>'s.</summary>
    private static void AssertSameErasure(ErasureRecord expected, ErasureRecord read)
    {
        Assert.Equal(expected.ErasureId, read.ErasureId);
        Assert.Equal(expected.WorkspaceId, read.WorkspaceId);
        Assert.Equal(expected.RequestedBy, read.RequestedBy);
        Assert.Equal(expected.State, read.State);
        Assert.Equal(expected.LastError, read.LastError);
        Assert.Equal(expected.Identities.Salt, read.Identities.Salt);
        Assert.Equal(expected.Identities.UserIdHashes, read.Identities.UserIdHashes);
        Assert.Equal(expected.Identities.AnonymousIdHashes, read.Identities.AnonymousIdHashes);
        Assert.Equal(expected.Progress.HotRowsDeleted, read.Progress.HotRowsDeleted);
        Assert.Equal(expected.Progress.Archives.Count, read.Progress.Archives.Count);
        foreach (var (want, got) in expected.Progress.Archives.Zip(read.Progress.Archives))
        {
            Assert.Equal(want with { ReplacedKeys = got.ReplacedKeys, NewObjects = got.NewObjects }, got);
            Assert.Equal(want.ReplacedKeys, got.ReplacedKeys);
            Assert.Equal(want.NewObjects, got.NewObjects);
        }
    }

    private async Task<ErasureRecord> ReadErasureAsync(Guid workspaceId, Guid erasureId) =>
        Assert.Single(await Store.ListErasuresAsync(workspaceId), e => e.ErasureId == erasureId);

    [Fact]
    public async Task Erasures_round_trip_every_field_and_are_listed_oldest_first_and_only_the_workspaces_own()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        var first = NewErasure(workspace.Id) with
        {
            Progress = new ErasureProgress(true, [NewErasedArchive(), NewErasedArchive(ErasedArchiveStep.Done) with { NewObjects = [] }]),
        };
        var second = NewErasure(workspace.Id, "second requester");
        var third = NewErasure(workspace.Id, "third requester");
        var foreign = NewErasure(other.Id, "someone else");

        var before = DateTime.UtcNow;
        await store.InsertErasureAsync(first);
        await store.InsertErasureAsync(foreign);
        await Task.Delay(5);
        await store.InsertErasureAsync(second);
        await store.InsertErasureAsync(third);
        var listed = await store.ListErasuresAsync(workspace.Id);

        Assert.Equal([first.ErasureId, second.ErasureId, third.ErasureId], listed.Select(e => e.ErasureId));
        var read = listed[0];
        AssertSameErasure(first, read);
        AssertSameErasure(second, listed[1]);
        Assert.Equal(ulong.Parse(LargeChecksum, System.Globalization.CultureInfo.InvariantCulture), read.Progress.Archives[0].ChecksumValue);
        Assert.Empty(read.Progress.Archives[1].NewObjects);
        Assert.Equal(ErasedArchiveStep.Done, read.Progress.Archives[1].Step);
        Assert.Equal(ErasureState.Pending, read.State);
        Assert.Null(read.AppliedAt);
        Assert.Null(read.LastError);
        Assert.Equal((DateTimeKind.Utc, DateTimeKind.Utc), (read.RequestedAt.Kind, read.UpdatedAt.Kind));
        Assert.InRange(read.RequestedAt, before.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(read.RequestedAt, read.UpdatedAt);
        Assert.True(listed[0].RequestedAt <= listed[1].RequestedAt && listed[1].RequestedAt <= listed[2].RequestedAt);
        Assert.True(read.Identities.Names("user-zeta@example.com"));
        Assert.True(read.Identities.Names("anon-qwxyz"));
        Assert.False(read.Identities.Names("user-alpha"));

        AssertSameErasure(foreign, Assert.Single(await store.ListErasuresAsync(other.Id)));
        Assert.Empty(await store.ListErasuresAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task An_erasure_is_recorded_while_another_run_holds_the_lease_and_outlives_the_workspace_row()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var holder = await LeaseAsync(workspace.Id, "archiver");
        var erasure = NewErasure(workspace.Id);

        await store.InsertErasureAsync(erasure);
        Assert.Equal(holder.Token, (await store.RenewLeaseAsync(holder, TimeSpan.FromMinutes(5)))?.Token); // The insert took nothing from the holder.

        // The application deletes the workspace's row (its lease goes with it); the erasure stays to be proven or applied.
        await ExecuteAsync($"""DELETE FROM "Workspace" WHERE "id" = '{workspace.Id}'""");

        Assert.Null(await store.GetWorkspaceAsync(workspace.Id));
        AssertSameErasure(erasure, Assert.Single(await store.ListErasuresAsync(workspace.Id)));
    }

    [Fact]
    public async Task Recording_an_erasure_id_twice_is_a_conflict_that_keeps_the_first()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        var erasure = NewErasure(workspace.Id, "first");
        await store.InsertErasureAsync(erasure);

        var again = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.InsertErasureAsync(erasure with { RequestedBy = "second" }));
        var elsewhere = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.InsertErasureAsync(erasure with { WorkspaceId = other.Id }));

        Assert.Equal(WorkspaceErrorKind.Conflict, again.Kind);
        Assert.Equal(workspace.Id, again.WorkspaceId);
        Assert.Contains(erasure.ErasureId.ToString(), again.Message, StringComparison.Ordinal);
        Assert.Equal(WorkspaceErrorKind.Conflict, elsewhere.Kind);
        Assert.Equal("first", Assert.Single(await store.ListErasuresAsync(workspace.Id)).RequestedBy);
        Assert.Empty(await store.ListErasuresAsync(other.Id));
    }

    [Fact]
    public async Task A_fenced_update_records_progress_then_applies_the_erasure_once()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = await LeaseAsync(workspace.Id, "eraser");
        var erasure = NewErasure(workspace.Id);
        await store.InsertErasureAsync(erasure);
        var inserted = await ReadErasureAsync(workspace.Id, erasure.ErasureId);
        await Task.Delay(20);

        // Progress while still pending: recorded, not applied.
        var halfway = inserted with
        {
            Progress = ErasureProgress.None.With(NewErasedArchive(ErasedArchiveStep.Writing)) with { HotRowsDeleted = true },
            LastError = "rewrite of month=202401 timed out",
        };
        await store.UpdateErasureAsync(halfway, lease);
        var pending = await ReadErasureAsync(workspace.Id, erasure.ErasureId);

        AssertSameErasure(halfway, pending);
        Assert.Null(pending.AppliedAt);
        Assert.Contains(erasure.ErasureId, (await store.ListPendingErasuresAsync()).Select(e => e.ErasureId));
        Assert.Equal(inserted.RequestedAt, pending.RequestedAt);
        Assert.True(pending.UpdatedAt > inserted.UpdatedAt, $"{pending.UpdatedAt:o} should be after {inserted.UpdatedAt:o}");

        // Applied: state, progress and applied time, error cleared.
        var done = halfway.Progress.Archives[0] with { Step = ErasedArchiveStep.Done };
        var applied = pending with { State = ErasureState.Applied, Progress = pending.Progress.With(done), LastError = null };
        await store.UpdateErasureAsync(applied, lease);
        var read = await ReadErasureAsync(workspace.Id, erasure.ErasureId);

        AssertSameErasure(applied, read);
        Assert.Equal(ErasureState.Applied, read.State);
        Assert.DoesNotContain(erasure.ErasureId, (await store.ListPendingErasuresAsync()).Select(e => e.ErasureId));
        Assert.NotNull(read.AppliedAt);
        Assert.Equal(DateTimeKind.Utc, read.AppliedAt.Value.Kind);
        Assert.Equal(read.UpdatedAt, read.AppliedAt);
        Assert.True(read.AppliedAt >= pending.UpdatedAt);
        Assert.InRange(read.AppliedAt.Value, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(inserted.RequestedAt, read.RequestedAt);

        // Once applied, no further update: not even by the same live lease.
        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() =>
            store.UpdateErasureAsync(applied with { LastError = "late writer", Progress = ErasureProgress.None }, lease));
        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal("update-erasure", e.Step);
        Assert.Equal(workspace.Id, e.WorkspaceId);
        Assert.Contains("applied already", e.Message, StringComparison.Ordinal);
        var after = await ReadErasureAsync(workspace.Id, erasure.ErasureId);
        AssertSameErasure(applied, after);
        Assert.Equal((read.UpdatedAt, read.AppliedAt), (after.UpdatedAt, after.AppliedAt));
    }

    [Fact]
    public async Task An_erasure_update_under_a_released_lease_is_lease_lost_and_writes_nothing()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = await LeaseAsync(workspace.Id, "eraser:1");
        var erasure = NewErasure(workspace.Id);
        await store.InsertErasureAsync(erasure);
        var before = await ReadErasureAsync(workspace.Id, erasure.ErasureId);
        await store.ReleaseLeaseAsync(lease);

        var e = await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateErasureAsync(
            before with { State = ErasureState.Applied, Progress = new ErasureProgress(true, [NewErasedArchive()]), LastError = "x" }, lease));

        Assert.Equal("update-erasure", e.Step);
        Assert.Equal(workspace.Id, e.WorkspaceId);
        Assert.Contains("eraser:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("nobody holds it now", e.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was written", e.Message, StringComparison.Ordinal);
        var after = await ReadErasureAsync(workspace.Id, erasure.ErasureId);
        AssertSameErasure(before, after);
        Assert.Equal((before.UpdatedAt, (DateTime?)null), (after.UpdatedAt, after.AppliedAt));
    }

    [Fact]
    public async Task An_erasure_update_by_a_holder_whose_lease_was_taken_over_is_lease_lost_and_writes_nothing()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var stale = (await store.TryAcquireLeaseAsync(workspace.Id, "host-a:1", ShortLease)).Lease!;
        var erasure = NewErasure(workspace.Id);
        await store.InsertErasureAsync(erasure);
        await Task.Delay(ShortLease * 2);
        var successor = await LeaseAsync(workspace.Id, "host-b:2");
        var halfway = (await ReadErasureAsync(workspace.Id, erasure.ErasureId)) with { Progress = new ErasureProgress(true, []) };
        await store.UpdateErasureAsync(halfway, successor);
        var before = await ReadErasureAsync(workspace.Id, erasure.ErasureId);

        var refusals = new[]
        {
            await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateErasureAsync(before with { State = ErasureState.Applied }, stale)),
            await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateErasureAsync(before with { Progress = ErasureProgress.None, LastError = "stale" }, stale)),
            await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateErasureAsync(before with { State = ErasureState.Applied }, successor with { Token = Guid.NewGuid() })),
        };

        Assert.All(refusals, e =>
        {
            Assert.Equal("update-erasure", e.Step);
            Assert.Equal(workspace.Id, e.WorkspaceId);
            Assert.Contains("host-b:2", e.Message, StringComparison.Ordinal);
        });
        Assert.Contains("host-a:1", refusals[0].Message, StringComparison.Ordinal);
        var after = await ReadErasureAsync(workspace.Id, erasure.ErasureId);
        AssertSameErasure(before, after);
        Assert.True(after.Progress.HotRowsDeleted);
        Assert.Equal((before.UpdatedAt, (DateTime?)null), (after.UpdatedAt, after.AppliedAt));

        // The successor still can.
        await store.UpdateErasureAsync(before with { State = ErasureState.Applied }, successor);
        Assert.Equal(ErasureState.Applied, (await ReadErasureAsync(workspace.Id, erasure.ErasureId)).State);
    }

    [Fact]
    public async Task Updating_an_erasure_that_is_not_recorded_is_not_found()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        var lease = await LeaseAsync(workspace.Id, "eraser");
        var otherLease = await LeaseAsync(other.Id, "eraser");
        var unknown = NewErasure(workspace.Id) with { State = ErasureState.Applied };
        var othersErasure = NewErasure(other.Id);
        await store.InsertErasureAsync(othersErasure);

        var missing = await Assert.ThrowsAsync<WorkspaceOperationException>(() => store.UpdateErasureAsync(unknown, lease));
        // Another workspace's erasure, addressed as this workspace's under this workspace's lease: not this workspace's to change.
        var misdirected = await Assert.ThrowsAsync<WorkspaceOperationException>(() =>
            store.UpdateErasureAsync(othersErasure with { WorkspaceId = workspace.Id, State = ErasureState.Applied }, lease));

        Assert.Equal((WorkspaceErrorKind.NotFound, "update-erasure", (Guid?)workspace.Id), (missing.Kind, missing.Step, missing.WorkspaceId));
        Assert.Contains(unknown.ErasureId.ToString(), missing.Message, StringComparison.Ordinal);
        Assert.Equal(WorkspaceErrorKind.NotFound, misdirected.Kind);
        Assert.Empty(await store.ListErasuresAsync(workspace.Id));
        Assert.Equal(ErasureState.Pending, Assert.Single(await store.ListErasuresAsync(other.Id)).State);
        await Assert.ThrowsAsync<ArgumentException>(() => store.UpdateErasureAsync(othersErasure, lease)); // A lease of another workspace.
        await store.UpdateErasureAsync(othersErasure with { State = ErasureState.Applied }, otherLease);
        Assert.Equal(ErasureState.Applied, Assert.Single(await store.ListErasuresAsync(other.Id)).State);
    }

    [Fact]
    public async Task An_erasures_ids_never_reach_its_stored_row_in_clear_text()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = await LeaseAsync(workspace.Id, "eraser");
        string[] users = ["user-zeta@example.com", "Jürgen Müller", "user-omega"];
        string[] anonymous = ["anon-qwxyz", "anon-kjihg"];
        var erasure = NewErasure(workspace.Id) with { Identities = ErasureIdentities.Create(users, anonymous) };
        await store.InsertErasureAsync(erasure);
        await store.UpdateErasureAsync(erasure with { State = ErasureState.Applied, Progress = new ErasureProgress(true, [NewErasedArchive()]) }, lease);

        var row = Convert.ToString(await ScalarAsync($"""
            SELECT CAST("erasureId" AS text) || '|' || CAST("workspaceId" AS text) || '|' || "requestedBy" || '|' || CAST("requestedAt" AS text)
                || '|' || "identities" || '|' || "state" || '|' || "progress" || '|' || CAST("updatedAt" AS text)
                || '|' || coalesce(CAST("appliedAt" AS text), '') || '|' || coalesce("lastError", '')
            FROM "ColdstoreErasure" WHERE "erasureId" = '{erasure.ErasureId}'
            """), System.Globalization.CultureInfo.InvariantCulture);

        Assert.NotNull(row);
        Assert.Contains(erasure.Identities.Salt, row, StringComparison.Ordinal);
        Assert.All(erasure.Identities.UserIdHashes.Concat(erasure.Identities.AnonymousIdHashes), h => Assert.Contains(h, row, StringComparison.Ordinal));
        Assert.Contains("applied", row, StringComparison.Ordinal);
        var read = Assert.Single(await store.ListErasuresAsync(workspace.Id));
        var readText = string.Join('|', read.RequestedBy, read.Identities.ToJson(), read.Progress.ToJson(), read.LastError);
        foreach (var id in users.Concat(anonymous).Append("Jürgen").Append("zeta@example"))
        {
            Assert.DoesNotContain(id, row, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(id, readText, StringComparison.OrdinalIgnoreCase);
        }

        Assert.All(users.Concat(anonymous), id => Assert.True(read.Identities.Names(id), id));
        Assert.Equal(5, read.Identities.UserIdHashes.Count + read.Identities.AnonymousIdHashes.Count);
    }

    // ---- leases ----

    [Fact]
    public async Task Exactly_one_of_many_racing_owners_acquires_a_lease()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        // Several store instances stand in for several processes; several tasks per instance race on its pool too.
        var stores = Enumerable.Range(0, 4).Select(_ => Track(OpenStore())).ToList();
        var start = new TaskCompletionSource();

        var attempts = Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
        {
            await start.Task;
            return await stores[i % stores.Count].TryAcquireLeaseAsync(workspace.Id, $"owner-{i}", TimeSpan.FromMinutes(5));
        })).ToList();
        start.SetResult();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r.Acquired).Lease!;
        Assert.All(results.Where(r => !r.Acquired), r =>
        {
            Assert.NotNull(r.Holder);
            Assert.Equal(winner.Owner, r.Holder.Owner);
            Assert.Equal(winner.ExpiresAt, r.Holder.ExpiresAt);
        });
    }

    [Fact]
    public async Task A_held_lease_is_refused_and_names_its_holder()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var first = await store.TryAcquireLeaseAsync(workspace.Id, "host-a:1", TimeSpan.FromMinutes(5));
        var second = await store.TryAcquireLeaseAsync(workspace.Id, "host-b:2", TimeSpan.FromMinutes(5));

        Assert.True(first.Acquired);
        Assert.Equal(workspace.Id, first.Lease!.WorkspaceId);
        Assert.Equal("host-a:1", first.Lease.Owner);
        Assert.Equal(DateTimeKind.Utc, first.Lease.ExpiresAt.Kind);
        Assert.InRange(first.Lease.ExpiresAt, DateTime.UtcNow.AddMinutes(4), DateTime.UtcNow.AddMinutes(6));
        Assert.False(second.Acquired);
        Assert.Equal(new LeaseHolder(workspace.Id, "host-a:1", first.Lease.ExpiresAt), second.Holder);
    }

    [Fact]
    public async Task Leases_of_different_workspaces_do_not_interfere()
    {
        var store = await MigratedAsync();
        var one = await store.CreateWorkspaceAsync(new NewWorkspace("one"));
        var two = await store.CreateWorkspaceAsync(new NewWorkspace("two"));

        Assert.True((await store.TryAcquireLeaseAsync(one.Id, "a", TimeSpan.FromMinutes(1))).Acquired);
        Assert.True((await store.TryAcquireLeaseAsync(two.Id, "b", TimeSpan.FromMinutes(1))).Acquired);
    }

    [Fact]
    public async Task An_expired_lease_is_taken_over_with_a_new_token()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var old = (await store.TryAcquireLeaseAsync(workspace.Id, "crashed", TimeSpan.FromMilliseconds(200))).Lease!;

        await Task.Delay(500);
        var taken = await store.TryAcquireLeaseAsync(workspace.Id, "successor", TimeSpan.FromMinutes(5));

        Assert.True(taken.Acquired);
        Assert.Equal("successor", taken.Lease!.Owner);
        Assert.NotEqual(old.Token, taken.Lease.Token);
        Assert.True(taken.Lease.ExpiresAt > old.ExpiresAt);
        // A takeover says whose lapsed lease it replaced.
        Assert.Equal("crashed", taken.TakenOverFrom);
    }

    [Fact]
    public async Task An_acquire_after_a_release_or_on_a_free_workspace_is_no_takeover_in_one_call_or_a_batch()
    {
        var store = await MigratedAsync();
        var one = await store.CreateWorkspaceAsync(new NewWorkspace("one"));
        var two = await store.CreateWorkspaceAsync(new NewWorkspace("two"));

        var fresh = await store.TryAcquireLeaseAsync(one.Id, "first", TimeSpan.FromMinutes(5));
        Assert.Null(fresh.TakenOverFrom);
        await store.ReleaseLeaseAsync(fresh.Lease!);
        var again = await store.TryAcquireLeaseAsync(one.Id, "second", TimeSpan.FromMilliseconds(200));
        Assert.True(again.Acquired);
        Assert.Null(again.TakenOverFrom);

        // In a batch: one workspace's lease lapsed (taken over), the other was free.
        await Task.Delay(500);
        var batch = await store.TryAcquireLeasesAsync([one.Id, two.Id], "batch", TimeSpan.FromMinutes(5));
        Assert.True(batch.All(a => a.Acquired));
        Assert.Equal(["second", null], batch.Select(a => a.TakenOverFrom));
    }

    [Fact]
    public async Task A_stale_token_can_neither_renew_nor_release_the_successors_lease()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var stale = (await store.TryAcquireLeaseAsync(workspace.Id, "slow", TimeSpan.FromMilliseconds(200))).Lease!;
        await Task.Delay(500);
        var current = (await store.TryAcquireLeaseAsync(workspace.Id, "fast", TimeSpan.FromMinutes(5))).Lease!;

        Assert.Null(await store.RenewLeaseAsync(stale, TimeSpan.FromMinutes(5)));
        await store.ReleaseLeaseAsync(stale);

        var attempt = await store.TryAcquireLeaseAsync(workspace.Id, "third", TimeSpan.FromMinutes(5));
        Assert.False(attempt.Acquired);
        Assert.Equal(current.Owner, attempt.Holder?.Owner);
        Assert.Equal(current.ExpiresAt, attempt.Holder?.ExpiresAt);
    }

    [Fact]
    public async Task Renewing_a_current_lease_extends_it_and_keeps_its_token()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "worker", TimeSpan.FromSeconds(30))).Lease!;

        var renewed = await store.RenewLeaseAsync(lease, TimeSpan.FromMinutes(10));

        Assert.NotNull(renewed);
        Assert.Equal(lease.Token, renewed.Token);
        Assert.Equal(lease.Owner, renewed.Owner);
        Assert.True(renewed.ExpiresAt > lease.ExpiresAt.AddMinutes(5));
    }

    [Fact]
    public async Task A_released_lease_can_be_acquired_again_and_releasing_twice_is_harmless()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "first", TimeSpan.FromMinutes(5))).Lease!;

        await store.ReleaseLeaseAsync(lease);
        await store.ReleaseLeaseAsync(lease);
        var next = await store.TryAcquireLeaseAsync(workspace.Id, "second", TimeSpan.FromMinutes(5));

        Assert.True(next.Acquired);
        Assert.Null(await store.RenewLeaseAsync(lease, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task Leasing_a_missing_workspace_is_not_found()
    {
        var store = await MigratedAsync();
        var missing = Guid.NewGuid();

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(
            () => store.TryAcquireLeaseAsync(missing, "worker", TimeSpan.FromMinutes(1)));

        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
        Assert.Equal(missing, e.WorkspaceId);
    }

    [Fact]
    public async Task A_lease_needs_an_owner_and_a_positive_duration()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.TryAcquireLeaseAsync(workspace.Id, " ", TimeSpan.FromMinutes(1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.TryAcquireLeaseAsync(workspace.Id, "worker", TimeSpan.Zero));
    }

    [Fact]
    public async Task The_description_names_the_store()
    {
        Assert.False(string.IsNullOrWhiteSpace(Store.Description));
        await Task.CompletedTask;
    }
}
