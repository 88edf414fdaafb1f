using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.State.Sqlite;
using Microsoft.Data.Sqlite;

namespace Coldstore.State.Tests;

/// <summary>A temporary directory for one test class's SQLite files, deleted afterwards.</summary>
public sealed class SqliteDirectoryFixture : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"coldstore-state-tests-{Guid.NewGuid():N}");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

/// <summary>The contract against SQLite: each test on a file of its own.</summary>
public sealed class SqliteStateStoreTests(SqliteDirectoryFixture directory) : StateStoreContract, IClassFixture<SqliteDirectoryFixture>
{
    // A subdirectory that does not exist yet, so every test also proves Open creates directories.
    private readonly string _file = Path.Combine(directory.Path, Guid.NewGuid().ToString("N"), "state.db");

    private string RawConnectionString => new SqliteConnectionStringBuilder { DataSource = _file, ForeignKeys = true, Pooling = false }.ToString();

    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override Task DropDatabaseAsync()
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_file + suffix);
        }

        return Task.CompletedTask;
    }

    protected override IStateStore OpenStore() => SqliteStateStore.Open(_file);

    protected override async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection(RawConnectionString);
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection(RawConnectionString);
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    protected override async Task<string> DescribeSchemaAsync() =>
        string.Join('\n', await ReadLinesAsync("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name"));

    protected override Task<IReadOnlyList<string>> WorkspaceColumnsAsync() => ReadLinesAsync("""
        SELECT name || ' ' || type || ' ' || (CASE WHEN "notnull" THEN 'NO' ELSE 'YES' END) || ' ' || coalesce(dflt_value, '')
        FROM pragma_table_info('Workspace') ORDER BY cid
        """);

    protected override Task CreateDittofeedWorkspaceTableAsync(Guid paused, Guid active) => ExecuteAsync($"""
        CREATE TABLE "Workspace" (
            "id" TEXT NOT NULL PRIMARY KEY,
            "name" TEXT NOT NULL,
            "createdAt" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
            "updatedAt" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
            "domain" TEXT,
            "type" TEXT NOT NULL DEFAULT 'Root',
            "externalId" TEXT,
            "parentWorkspaceId" TEXT REFERENCES "Workspace" ("id") ON DELETE CASCADE,
            "status" TEXT NOT NULL DEFAULT 'Active',
            "writeKeyHint" TEXT
        );
        INSERT INTO "Workspace" ("id", "name", "status", "writeKeyHint", "createdAt") VALUES
            ('{paused}', 'Acme', 'Paused', 'acme-hint', '2024-05-06T07:08:09Z'),
            ('{active}', 'Beta', 'Active', NULL, '2024-05-06 07:08:10');
        """);

    protected override Task CreateFailingArchiveTriggerAsync() => ExecuteAsync($"""
        CREATE TRIGGER "test_fail_insert" BEFORE INSERT ON "ColdstoreArchive"
        WHEN NEW."objectPrefix" = '{FailingPrefix}'
        BEGIN SELECT RAISE(ABORT, 'injected failure'); END
        """);

    private async Task<IReadOnlyList<string>> ReadLinesAsync(string sql)
    {
        await using var connection = new SqliteConnection(RawConnectionString);
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }

    // ---- SQLite only ----

    [Fact]
    public async Task The_file_is_in_write_ahead_log_mode_with_foreign_keys_enforced()
    {
        await Store.MigrateAsync();

        Assert.Equal("wal", await ScalarAsync("PRAGMA journal_mode"));
        await Assert.ThrowsAsync<SqliteException>(() => ExecuteAsync(
            $"""INSERT INTO "ColdstoreLease" VALUES ('{Guid.NewGuid()}', 'x', 'y', '2025-01-01 00:00:00.000', '2025-01-01 00:00:00.000')"""));
    }

    [Fact]
    public async Task The_checksum_is_stored_as_the_exact_unsigned_decimal_text()
    {
        await Store.MigrateAsync();
        var workspace = await Store.CreateWorkspaceAsync(new Domain.NewWorkspace("Acme"));
        var archive = new Domain.ArchiveRecord(Guid.NewGuid(), workspace.Id, Domain.ArchiveState.Archived, DateTime.UtcNow, "p/",
            1, ulong.MaxValue, 1, 0, default, default, null);

        await Store.InsertArchiveAsync(archive);

        Assert.Equal("18446744073709551615",
            await ScalarAsync($"""SELECT "checksum" FROM "ColdstoreArchive" WHERE "archiveId" = '{archive.ArchiveId}'"""));
        await Assert.ThrowsAsync<SqliteException>(() => ExecuteAsync(
            $"""UPDATE "ColdstoreArchive" SET "checksum" = '18446744073709551616' WHERE "archiveId" = '{archive.ArchiveId}'"""));
    }

    [Fact]
    public async Task A_writer_waits_for_another_connections_write_lock_instead_of_failing()
    {
        await Store.MigrateAsync();
        var workspace = await Store.CreateWorkspaceAsync(new Domain.NewWorkspace("Acme"));
        await using var blocker = new SqliteConnection(RawConnectionString);
        await blocker.OpenAsync();
        var transaction = blocker.BeginTransaction(deferred: false);
        await using (transaction)
        {
            var waiting = Store.TrySetStorageAsync(workspace.Id, Domain.StorageState.Hot, Domain.StorageState.Archiving);
            await Task.Delay(300);
            Assert.False(waiting.IsCompleted);

            transaction.Commit();
            Assert.True(await waiting);
        }
    }

    [Fact]
    public void The_sqlite_store_is_polled_only_and_has_no_change_feed()
    {
        Assert.False(Store is IWorkspaceChangeFeed);
    }

    [Fact]
    public async Task A_lifecycle_change_waits_for_another_writer_and_then_reads_its_write()
    {
        await Store.MigrateAsync();
        var workspace = await Store.CreateWorkspaceAsync(new Domain.NewWorkspace("Acme"));
        await using var blocker = new SqliteConnection(RawConnectionString);
        await blocker.OpenAsync();
        var transaction = blocker.BeginTransaction(deferred: false);
        await using (transaction)
        {
            await using (var rename = new SqliteCommand($"""UPDATE "Workspace" SET "name" = 'Renamed' WHERE "id" = '{workspace.Id}'""", blocker, transaction))
            {
                Assert.Equal(1, await rename.ExecuteNonQueryAsync());
            }

            var waiting = Store.ChangeWorkspaceStatusAsync(workspace.Id, Domain.WorkspaceTransition.Tombstone);
            await Task.Delay(300);
            Assert.False(waiting.IsCompleted);

            transaction.Commit();
            // A deferred read would have begun from the old row and then failed to write (a stale snapshot);
            // the write transaction instead waited, so it tombstones the renamed row.
            var change = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(change.Changed);
            Assert.Equal(Domain.WorkspaceLifecycle.TombstonePrefix + "Renamed", change.After.Name);
        }
    }

    [Fact]
    public void An_empty_path_is_a_configuration_error()
    {
        var e = Assert.Throws<ConfigurationException>(() => SqliteStateStore.Open(" "));

        Assert.Equal("COLDSTORE_STATE", e.Setting);
    }

    [Fact]
    public void A_path_under_a_file_is_unavailable_naming_the_path()
    {
        Directory.CreateDirectory(directory.Path);
        var blocker = Path.Combine(directory.Path, $"plain-file-{Guid.NewGuid():N}");
        File.WriteAllText(blocker, "not a directory");

        var e = Assert.Throws<EngineUnavailableException>(() => SqliteStateStore.Open(Path.Combine(blocker, "state.db")));

        Assert.Equal("COLDSTORE_STATE", e.Setting);
        Assert.Contains(blocker, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_description_names_the_file()
    {
        Assert.Contains(_file, Store.Description, StringComparison.Ordinal);
    }
}
