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
        Assert.Equal(["ColdstoreArchive", "ColdstoreLease", "ColdstoreMigration", "Workspace"], tables);
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
