using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.State.Postgres;
using Coldstore.Testing;
using Npgsql;

namespace Coldstore.State.Tests;

/// <summary>The contract against Postgres: each test in a schema of its own, found through the search path.</summary>
public sealed class PostgresStateStoreTests(PostgresFixture fixture) : StateStoreContract, IClassFixture<PostgresFixture>
{
    private PostgresSchema? _schema;

    private PostgresSchema Schema => _schema ?? throw new InvalidOperationException("No schema yet.");

    protected override async Task CreateDatabaseAsync() => _schema = await fixture.CreateSchemaAsync(nameof(PostgresStateStoreTests));

    protected override async Task DropDatabaseAsync()
    {
        foreach (var store in Tracked)
        {
            await store.DisposeAsync();
        }

        if (_schema is not null)
        {
            await _schema.DisposeAsync();
        }
    }

    protected override IStateStore OpenStore() => PostgresStateStore.Create(Schema.ConnectionString);

    protected override async Task ExecuteAsync(string sql)
    {
        await using var connection = await Schema.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = await Schema.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    protected override async Task<string> DescribeSchemaAsync()
    {
        const string sql = """
            SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
            FROM information_schema.columns WHERE table_schema = current_schema()
            UNION ALL
            SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
            UNION ALL
            SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
            FROM pg_constraint c WHERE c.connamespace = current_schema()::regnamespace
            UNION ALL
            SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
            FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
            WHERE t.typnamespace = current_schema()::regnamespace GROUP BY t.typname
            UNION ALL
            SELECT 'trigger ' || t.tgname || ' ' || pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
            UNION ALL
            SELECT 'function ' || p.proname || ' ' || md5(p.prosrc)
            FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
            ORDER BY 1
            """;
        var lines = await ReadLinesAsync(sql);
        Assert.NotEmpty(lines);
        return string.Join('\n', lines);
    }

    protected override Task<IReadOnlyList<string>> WorkspaceColumnsAsync() => ReadLinesAsync("""
        SELECT column_name || ' ' || udt_name || ' ' || is_nullable || ' ' || coalesce(column_default, '')
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'Workspace'
        ORDER BY ordinal_position
        """);

    protected override Task CreateDittofeedWorkspaceTableAsync(Guid paused, Guid active) => ExecuteAsync($"""
        CREATE TYPE "WorkspaceType" AS ENUM ('Root', 'Child', 'Parent');
        CREATE TYPE "WorkspaceStatus" AS ENUM ('Active', 'Tombstoned', 'Paused');
        CREATE TABLE "Workspace" (
            "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
            "name" text NOT NULL,
            "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
            "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
            "domain" text,
            "type" "WorkspaceType" NOT NULL DEFAULT 'Root',
            "externalId" text,
            "parentWorkspaceId" uuid REFERENCES "Workspace" ("id") ON DELETE CASCADE,
            "status" "WorkspaceStatus" NOT NULL DEFAULT 'Active',
            "writeKeyHint" text
        );
        CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_externalId_key" ON "Workspace" ("parentWorkspaceId", "externalId");
        CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_name_key" ON "Workspace" ("parentWorkspaceId", "name") NULLS NOT DISTINCT;
        INSERT INTO "Workspace" ("id", "name", "status", "writeKeyHint") VALUES
            ('{paused}', 'Acme', 'Paused', 'acme-hint'),
            ('{active}', 'Beta', 'Active', NULL);
        """);

    protected override Task CreateFailingArchiveTriggerAsync() => ExecuteAsync($"""
        CREATE FUNCTION "test_fail_insert"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
        CREATE TRIGGER "test_fail_insert" BEFORE INSERT ON "ColdstoreArchive" FOR EACH ROW
        WHEN (NEW."objectPrefix" = '{FailingPrefix}') EXECUTE FUNCTION "test_fail_insert"();
        """);

    private async Task<IReadOnlyList<string>> ReadLinesAsync(string sql)
    {
        await using var connection = await Schema.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }

    // ---- Postgres only ----

    [Fact]
    public async Task Migrations_create_their_tables_in_the_search_path_schema()
    {
        await Store.MigrateAsync();

        var tables = await ReadLinesAsync("""
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = current_schema() ORDER BY table_name
            """);
        Assert.Equal(["ColdstoreArchive", "ColdstoreErasure", "ColdstoreHold", "ColdstoreLease", "ColdstoreMigration", "Workspace"], tables);
        Assert.Equal(Schema.Name, await ScalarAsync("SELECT current_schema()"));
    }

    [Fact]
    public async Task The_checksum_is_stored_as_the_exact_unsigned_decimal()
    {
        var store = Store;
        await store.MigrateAsync();
        var workspace = await store.CreateWorkspaceAsync(new Domain.NewWorkspace("Acme"));
        var archive = new Domain.ArchiveRecord(Guid.NewGuid(), workspace.Id, Domain.ArchiveState.Archived, DateTime.UtcNow, "p/",
            1, ulong.MaxValue, 1, 0, default, default, null);

        await store.InsertArchiveAsync(archive);

        Assert.Equal("18446744073709551615",
            await ScalarAsync($"""SELECT "checksum"::text FROM "ColdstoreArchive" WHERE "archiveId" = '{archive.ArchiveId}'"""));
    }

    [Fact]
    public async Task Times_are_utc_whatever_the_sessions_time_zone()
    {
        var kolkata = new NpgsqlConnectionStringBuilder(Schema.ConnectionString) { Timezone = "Asia/Kolkata" }.ConnectionString;
        await using var store = PostgresStateStore.Create(kolkata);
        await store.MigrateAsync();

        var workspace = await store.CreateWorkspaceAsync(new Domain.NewWorkspace("Acme"));
        var cutoff = new DateTime(2025, 6, 1, 12, 0, 0, DateTimeKind.Utc);
        var archive = new Domain.ArchiveRecord(Guid.NewGuid(), workspace.Id, Domain.ArchiveState.Copying, cutoff, "p/",
            null, null, null, null, default, default, null);
        await store.InsertArchiveAsync(archive);
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "worker", TimeSpan.FromMinutes(1))).Lease!;
        var read = (await Store.GetArchiveAsync(archive.ArchiveId))!;

        Assert.InRange(workspace.CreatedAt, DateTime.UtcNow.AddMinutes(-2), DateTime.UtcNow.AddMinutes(2));
        Assert.InRange(read.CreatedAt, DateTime.UtcNow.AddMinutes(-2), DateTime.UtcNow.AddMinutes(2));
        Assert.InRange(lease.ExpiresAt, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(2));
        Assert.Equal(cutoff, read.Cutoff);
        Assert.Equal(workspace.CreatedAt, (await Store.GetWorkspaceAsync(workspace.Id))?.CreatedAt);
    }

    [Fact]
    public async Task An_unreachable_server_is_unavailable_naming_host_port_and_database_but_not_the_password()
    {
        await using var store = PostgresStateStore.Create(
            "Host=127.0.0.1;Port=1;Database=nowhere;Username=coldstore;Password=hunter2-secret;Timeout=3");

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => store.MigrateAsync());

        Assert.Equal("COLDSTORE_STATE", e.Setting);
        Assert.True(e.IsTransient);
        Assert.Contains("127.0.0.1:1/nowhere", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain("hunter2", store.Description, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:1/nowhere", store.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_that_does_not_exist_is_unavailable()
    {
        var settings = new NpgsqlConnectionStringBuilder(PostgresTestServer.ConnectionString) { Database = "no_such_db_" + Guid.NewGuid().ToString("N")[..8] };
        await using var store = PostgresStateStore.Create(settings.ConnectionString);

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => store.AppliedMigrationsAsync());

        Assert.Contains(settings.Database, e.Message, StringComparison.Ordinal);
        Assert.Contains("3D000", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("Port=5432;Database=x")]
    [InlineData("Hots=typo;Password=hunter2-secret")]
    public void A_malformed_connection_string_is_a_configuration_error_that_never_quotes_the_password(string connectionString)
    {
        var e = Assert.Throws<ConfigurationException>(() => PostgresStateStore.Create(connectionString));

        Assert.Equal("COLDSTORE_STATE", e.Setting);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    // ---- the change feed (migration 5's trigger and LISTEN) ----

    /// <summary>A store of its own, so a test can find its feed's backend by application name and read its logs.</summary>
    private (IStateStore Store, IWorkspaceChangeFeed Feed, string Backend, CapturingLoggerFactory Logs) OpenWatchedStore()
    {
        var application = $"cs-test-{Guid.NewGuid():N}"[..20];
        // Trust authentication never asks for it, so the password only proves it stays out of logs.
        var settings = new NpgsqlConnectionStringBuilder(Schema.ConnectionString) { ApplicationName = application, Password = "hunter2-secret" };
        var logs = new CapturingLoggerFactory();
        var store = PostgresStateStore.Create(settings.ConnectionString, logs);
        Tracked.Add(store);
        return (store, Assert.IsAssignableFrom<IWorkspaceChangeFeed>(store), application + "-workspace-feed", logs);
    }

    private List<IStateStore> Tracked { get; } = [];

    private async Task<int> ListeningBackendsAsync(string application) =>
        Convert.ToInt32(await ScalarAsync($"""
            SELECT count(*) FROM pg_stat_activity
            WHERE application_name = '{application}' AND query LIKE 'LISTEN%'
            """), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_change_notify_migration_puts_its_function_and_triggers_in_the_search_path_schema()
    {
        await Store.MigrateAsync();

        Assert.Equal("workspace-change-notify", await ScalarAsync("""SELECT "name" FROM "ColdstoreMigration" WHERE "version" = 5"""));
        Assert.Equal(Schema.Name, await ScalarAsync("""
            SELECT n.nspname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proname = 'ColdstoreWorkspaceNotify'
            """));
        Assert.Equal(["Workspace_coldstoreNotify_insert", "Workspace_coldstoreNotify_status"], await ReadLinesAsync("""
            SELECT t.tgname::text FROM pg_trigger t
            WHERE t.tgrelid = '"Workspace"'::regclass AND NOT t.tgisinternal ORDER BY t.tgname
            """));
        Assert.Equal(Schema.Name, await ScalarAsync("""SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = '"Workspace"'::regclass"""));
    }

    [Fact]
    public async Task The_feed_first_says_it_listens_then_announces_a_plain_status_update_by_any_application()
    {
        var (store, feed, _, _) = OpenWatchedStore();
        await store.MigrateAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        await using var probe = new FeedProbe(feed);

        Assert.Equal(Guid.Empty, await probe.NextAsync());
        // A separate raw connection, as an application in any language would write: no Coldstore code involved.
        await ExecuteAsync($"""UPDATE "Workspace" SET "status" = 'Paused' WHERE "id" = '{workspace.Id}'""");

        await probe.WaitForAsync(workspace.Id);
        Assert.Equal(WorkspaceStatus.Paused, (await store.GetWorkspaceAsync(workspace.Id))?.Status);
    }

    [Fact]
    public async Task The_feed_announces_created_workspaces_and_lifecycle_changes()
    {
        var (store, feed, _, _) = OpenWatchedStore();
        await store.MigrateAsync();
        await using var probe = new FeedProbe(feed);
        Assert.Equal(Guid.Empty, await probe.NextAsync());

        var created = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        await probe.WaitForAsync(created.Id);

        await store.ChangeWorkspaceStatusAsync(created.Id, WorkspaceTransition.Tombstone);
        await probe.WaitForAsync(created.Id);

        await store.ChangeWorkspaceStatusAsync(created.Id, WorkspaceTransition.Activate);
        await probe.WaitForAsync(created.Id);
    }

    [Fact]
    public async Task The_feed_stays_quiet_when_only_the_storage_column_or_nothing_about_the_status_changes()
    {
        var (store, feed, _, _) = OpenWatchedStore();
        await store.MigrateAsync();
        await using var probe = new FeedProbe(feed);
        Assert.Equal(Guid.Empty, await probe.NextAsync());
        var quiet = await store.CreateWorkspaceAsync(new NewWorkspace("quiet"));
        var marker = await store.CreateWorkspaceAsync(new NewWorkspace("marker"));
        await probe.WaitForAsync(marker.Id); // Both inserts are announced; start from after them.

        Assert.True(await store.TrySetStorageAsync(quiet.Id, StorageState.Hot, StorageState.Archiving));
        await ExecuteAsync($"""UPDATE "Workspace" SET "coldstoreStorage" = 'cold', "name" = 'renamed' WHERE "id" = '{quiet.Id}'""");
        await ExecuteAsync($"""UPDATE "Workspace" SET "status" = "status" WHERE "id" = '{quiet.Id}'""");
        Assert.False((await store.ChangeWorkspaceStatusAsync(quiet.Id, WorkspaceTransition.Resume)).Changed);

        Assert.DoesNotContain(quiet.Id, await probe.CollectForAsync(TimeSpan.FromMilliseconds(500)));
        // Notices arrive in commit order: had any write above notified, it would come before the marker's.
        await store.ChangeWorkspaceStatusAsync(marker.Id, WorkspaceTransition.Pause);
        Assert.DoesNotContain(quiet.Id, await probe.WaitForAsync(marker.Id));
        // And the quiet workspace is heard as soon as its status does change.
        await store.ChangeWorkspaceStatusAsync(quiet.Id, WorkspaceTransition.Pause);
        await probe.WaitForAsync(quiet.Id);
    }

    [Fact]
    public async Task After_its_connection_is_terminated_the_feed_says_so_and_keeps_delivering_without_leaking_the_password()
    {
        var (store, feed, backend, logs) = OpenWatchedStore();
        await store.MigrateAsync();
        await using var probe = new FeedProbe(feed);
        Assert.Equal(Guid.Empty, await probe.NextAsync());
        Assert.Equal(1, await ListeningBackendsAsync(backend));

        Assert.Equal(true, await ScalarAsync($"""
            SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = '{backend}' AND query LIKE 'LISTEN%'
            """));

        var meanwhile = await probe.WaitForAsync(Guid.Empty);
        Assert.DoesNotContain(meanwhile, id => id == Guid.Empty);
        var created = await store.CreateWorkspaceAsync(new NewWorkspace("after-reconnect"));
        await probe.WaitForAsync(created.Id);
        await ExecuteAsync($"""UPDATE "Workspace" SET "status" = 'Tombstoned' WHERE "id" = '{created.Id}'""");
        await probe.WaitForAsync(created.Id);

        var lost = Assert.Single(logs.Entries, e => e.EventId == 3007);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, lost.Level);
        Assert.Single(logs.Entries, e => e.EventId == 3008);
        Assert.All(logs.Entries, e => Assert.DoesNotContain("hunter2", e.FullText, StringComparison.Ordinal));
        Assert.Equal(1, await ListeningBackendsAsync(backend));
    }

    [Fact]
    public async Task A_notice_that_is_not_a_workspace_id_is_skipped_and_logged()
    {
        var (store, feed, _, logs) = OpenWatchedStore();
        await store.MigrateAsync();
        await using var probe = new FeedProbe(feed);
        Assert.Equal(Guid.Empty, await probe.NextAsync());

        await ExecuteAsync("SELECT pg_notify('coldstore_workspace', 'not-a-workspace')");
        var created = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        var before = await probe.WaitForAsync(created.Id);
        Assert.DoesNotContain(Guid.Empty, before); // Neither yielded as a "re-read everything" nor as a reconnect.
        var ignored = Assert.Single(logs.Entries, e => e.EventId == 3009);
        Assert.Contains("not-a-workspace", ignored.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_the_watch_ends_the_sequence_quietly_and_closes_its_connection()
    {
        var (store, feed, backend, logs) = OpenWatchedStore();
        await store.MigrateAsync();
        var probe = new FeedProbe(feed);
        await using (probe)
        {
            Assert.Equal(Guid.Empty, await probe.NextAsync());
            Assert.Equal(1, await ListeningBackendsAsync(backend));

            await probe.StopAsync(); // Throws if the enumeration ended with anything but a clean finish.
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await ListeningBackendsAsync(backend) > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0, await ListeningBackendsAsync(backend));
        Assert.DoesNotContain(logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task An_existing_Dittofeed_table_announces_status_changes_after_migrating()
    {
        var paused = Guid.NewGuid();
        var active = Guid.NewGuid();
        await CreateDittofeedWorkspaceTableAsync(paused, active);
        var (store, feed, _, _) = OpenWatchedStore();
        await store.MigrateAsync();
        await using var probe = new FeedProbe(feed);
        Assert.Equal(Guid.Empty, await probe.NextAsync());

        await ExecuteAsync($"""UPDATE "Workspace" SET "status" = 'Active' WHERE "id" = '{paused}'""");

        await probe.WaitForAsync(paused);
    }

    [Fact]
    public async Task A_lifecycle_change_waits_for_the_row_lock_and_then_decides_from_the_committed_row()
    {
        await Store.MigrateAsync();
        var workspace = await Store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        await using var other = await Schema.OpenConnectionAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await using (var pause = new NpgsqlCommand($"""UPDATE "Workspace" SET "status" = 'Paused' WHERE "id" = '{workspace.Id}'""", other, transaction))
        {
            Assert.Equal(1, await pause.ExecuteNonQueryAsync());
        }

        var waiting = Store.ChangeWorkspaceStatusAsync(workspace.Id, WorkspaceTransition.Pause);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        await transaction.CommitAsync();

        // Without the row lock it would have read the old Active row, then overwritten the other writer's pause as
        // if it were its own; with it, it reads Paused and has nothing to do.
        var change = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(change.Changed);
        Assert.Equal(WorkspaceStatus.Paused, change.Before.Status);
    }

    // ---- the batch is one transaction ----

    /// <summary>
    /// A store of its own (found by application name in <c>pg_stat_activity</c>) running a batch that writes to
    /// <c>first</c>, then waits on another connection's row lock on the lease of <c>blocked</c>: a batch caught half-way.
    /// </summary>
    private async Task<(Task<IReadOnlyList<FencedWriteResult>> Batch, Guid First, Guid Written, NpgsqlTransaction Blocker, string Application)> StartBlockedBatchAsync(
        NpgsqlConnection blocker)
    {
        var application = $"cs-batch-{Guid.NewGuid():N}"[..20];
        var store = PostgresStateStore.Create(new NpgsqlConnectionStringBuilder(Schema.ConnectionString) { ApplicationName = application }.ConnectionString);
        Tracked.Add(store);
        await store.MigrateAsync();
        var first = await store.CreateWorkspaceAsync(new NewWorkspace("First"));
        var blocked = await store.CreateWorkspaceAsync(new NewWorkspace("Blocked"));
        var firstLease = (await store.TryAcquireLeaseAsync(first.Id, "batcher", TimeSpan.FromMinutes(5))).Lease!;
        var blockedLease = (await store.TryAcquireLeaseAsync(blocked.Id, "batcher", TimeSpan.FromMinutes(5))).Lease!;
        var written = BatchArchive(first.Id);

        var transaction = await blocker.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand($"""SELECT 1 FROM "ColdstoreLease" WHERE "workspaceId" = '{blocked.Id}' FOR UPDATE""", blocker, transaction))
        {
            Assert.Equal(1, await hold.ExecuteScalarAsync());
        }

        var batch = store.ApplyFencedAsync(
        [
            new InsertArchiveWrite(written, firstLease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, firstLease),
            new InsertArchiveWrite(BatchArchive(blocked.Id), blockedLease), // Its lease check waits for the blocker's lock.
        ]);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Convert.ToInt64(await ScalarAsync($"""
            SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application}' AND wait_event_type = 'Lock'
            """), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            Assert.False(batch.IsCompleted, "The batch finished without waiting for the lock.");
            Assert.True(DateTime.UtcNow < deadline, "The batch never waited for the lease row's lock.");
            await Task.Delay(20);
        }

        return (batch, first.Id, written.ArchiveId, transaction, application);
    }

    private static ArchiveRecord BatchArchive(Guid workspaceId) =>
        new(Guid.NewGuid(), workspaceId, ArchiveState.Copying, DateTime.UtcNow, $"workspaces/{workspaceId}/", null, null, null, null, default, default, null);

    private async Task<(long Archives, string Storage)> VisibleAsync(Guid workspaceId, Guid archiveId) =>
        (Convert.ToInt64(await ScalarAsync($"""SELECT count(*) FROM "ColdstoreArchive" WHERE "archiveId" = '{archiveId}'"""), System.Globalization.CultureInfo.InvariantCulture),
         (string)(await ScalarAsync($"""SELECT "coldstoreStorage" FROM "Workspace" WHERE "id" = '{workspaceId}'"""))!);

    [Fact]
    public async Task A_batch_is_one_transaction_another_connection_sees_none_of_its_writes_until_it_commits()
    {
        await using var blocker = await Schema.OpenConnectionAsync();
        var (batch, first, written, transaction, _) = await StartBlockedBatchAsync(blocker);
        await using (transaction)
        {
            // The first workspace's two writes are made, but in a transaction still open: nobody else sees them yet.
            Assert.Equal((0L, "hot"), await VisibleAsync(first, written));

            await transaction.CommitAsync();
        }

        var results = await batch.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, r => Assert.Equal(FencedWriteOutcome.Applied, r.Outcome));
        Assert.Equal((1L, "archiving"), await VisibleAsync(first, written));
    }

    [Fact]
    public async Task A_batch_whose_connection_is_lost_half_way_writes_nothing_and_says_the_store_is_unavailable()
    {
        await using var blocker = await Schema.OpenConnectionAsync();
        var (batch, first, written, transaction, application) = await StartBlockedBatchAsync(blocker);
        await using (transaction)
        {
            Assert.Equal(true, await ScalarAsync($"""
                SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = '{application}' AND wait_event_type = 'Lock'
                """));

            var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => batch.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal("COLDSTORE_STATE", e.Setting);
            await transaction.RollbackAsync();
        }

        Assert.Equal((0L, "hot"), await VisibleAsync(first, written));
    }

    [Fact]
    public void The_postgres_store_is_a_change_feed()
    {
        Assert.IsAssignableFrom<IWorkspaceChangeFeed>(Store);
    }

    [Fact]
    public async Task Two_schemas_in_one_database_keep_separate_workspaces()
    {
        await using var otherSchema = await fixture.CreateSchemaAsync("other");
        await using var other = PostgresStateStore.Create(otherSchema.ConnectionString);
        await Store.MigrateAsync();
        await other.MigrateAsync();

        await Store.CreateWorkspaceAsync(new Domain.NewWorkspace("here"));

        Assert.Empty(await other.ListWorkspacesAsync());
        Assert.Contains(otherSchema.Name, other.Description, StringComparison.Ordinal);
    }
}
