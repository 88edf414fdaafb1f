using Coldstore.Archive.FileSystem;
using Coldstore.Archive.S3;
using Coldstore.Ports;
using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// The state store and archive store one test runs on. Every call to <see cref="OpenState"/> or
/// <see cref="OpenArchive"/> gives a new adapter instance over the same underlying store, so two service
/// instances (two "processes") can share them. ClickHouse comes from the test class's engine-set fixture.
/// </summary>
public interface IEngines : IAsyncDisposable
{
    /// <summary>Creates the test's own state and archive locations.</summary>
    Task InitializeAsync(string label);

    /// <summary>A new state-store adapter on the test's state.</summary>
    IStateStore OpenState();

    /// <summary>A new archive-store adapter on the test's archive root.</summary>
    IArchiveStore OpenArchive();

    /// <summary>True when the state store notifies status changes (Postgres), so a worker reacts without polling.</summary>
    bool NotifiesChanges { get; }

    /// <summary>The test's state and archive stores as configuration keys (<c>State</c>, <c>Archive</c>, <c>S3:*</c>), for a host built from configuration.</summary>
    IReadOnlyDictionary<string, string?> Settings { get; }

    /// <summary>
    /// Sets a workspace's status with one plain SQL UPDATE, as the host application (in any language) would, without
    /// going through Coldstore.
    /// </summary>
    Task SetStatusAsAnApplicationAsync(Guid workspaceId, string status);

    /// <summary>Deletes a workspace's row with one plain SQL DELETE, as the host application would; returns the rows deleted.</summary>
    Task<int> DeleteWorkspaceAsAnApplicationAsync(Guid workspaceId);

    /// <summary>Moves the last-change times of a workspace's row and of its ledger rows back by <paramref name="age"/>: time passing.</summary>
    Task AgeAsync(Guid workspaceId, TimeSpan age);
}

/// <summary>SQLite in a temporary file and a local archive directory: the embedded defaults.</summary>
public sealed class EmbeddedEngines : IEngines
{
    private string? _directory;

    private string Directory => _directory ?? throw new InvalidOperationException("Not initialized.");

    /// <summary>The root of the local archive.</summary>
    public string ArchiveDirectory => Path.Combine(Directory, "archive");

    public bool NotifiesChanges => false;

    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["State"] = $"sqlite:{Path.Combine(Directory, "state.db")}",
        ["Archive"] = $"file:{ArchiveDirectory}",
    };

    public async Task SetStatusAsAnApplicationAsync(Guid workspaceId, string status)
    {
        await using var connection = await OpenSqliteAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """UPDATE "Workspace" SET "status" = $status WHERE "id" = $id""";
        command.Parameters.AddWithValue("$status", status);
        command.Parameters.AddWithValue("$id", workspaceId.ToString("D"));
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    public async Task<int> DeleteWorkspaceAsAnApplicationAsync(Guid workspaceId)
    {
        await using var connection = await OpenSqliteAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """DELETE FROM "Workspace" WHERE "id" = $id""";
        command.Parameters.AddWithValue("$id", workspaceId.ToString("D"));
        return await command.ExecuteNonQueryAsync();
    }

    public async Task AgeAsync(Guid workspaceId, TimeSpan age)
    {
        await using var connection = await OpenSqliteAsync();
        foreach (var table in new[] { ("Workspace", "id"), ("ColdstoreArchive", "workspaceId") })
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"""UPDATE "{table.Item1}" SET "updatedAt" = strftime('%Y-%m-%d %H:%M:%f', "updatedAt", $shift) WHERE "{table.Item2}" = $id""";
            command.Parameters.AddWithValue("$shift", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{age.TotalSeconds} seconds"));
            command.Parameters.AddWithValue("$id", workspaceId.ToString("D"));
            await command.ExecuteNonQueryAsync();
        }
    }

    private async Task<Microsoft.Data.Sqlite.SqliteConnection> OpenSqliteAsync()
    {
        var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Directory, "state.db")};Pooling=False");
        await connection.OpenAsync();
        return connection;
    }

    public Task InitializeAsync(string label)
    {
        _directory = Path.Combine(Path.GetTempPath(), $"coldstore-ops-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(_directory);
        return Task.CompletedTask;
    }

    public IStateStore OpenState() => SqliteStateStore.Open(Path.Combine(Directory, "state.db"));

    public IArchiveStore OpenArchive() => FileSystemArchiveStore.Open(ArchiveDirectory);

    public ValueTask DisposeAsync()
    {
        if (_directory is { } directory && System.IO.Directory.Exists(directory))
        {
            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is harmless; a failing dispose would hide the test's result.
            }
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>Postgres (a schema of the test's own) and s3rver (a key prefix of the test's own), beside ClickHouse over HTTP.</summary>
public sealed class ServerEngines(PostgresFixture postgres, S3rverFixture s3) : IEngines
{
    private PostgresSchema? _schema;
    private string? _prefix;

    public async Task InitializeAsync(string label)
    {
        _schema = await postgres.CreateSchemaAsync(label);
        _prefix = S3rverFixture.UniquePrefix(label).TrimEnd('/');
    }

    public bool NotifiesChanges => true;

    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["State"] = (_schema ?? throw new InvalidOperationException("Not initialized.")).ConnectionString,
        ["Archive"] = $"s3://{s3.Bucket}/{_prefix}",
        ["S3:Endpoint"] = s3.Endpoint.ToString(),
        ["S3:EndpointForClickHouse"] = s3.EndpointForClickHouse.ToString(),
        ["S3:AccessKeyId"] = s3.AccessKey,
        ["S3:SecretAccessKey"] = s3.SecretKey,
    };

    public async Task SetStatusAsAnApplicationAsync(Guid workspaceId, string status)
    {
        await using var connection = await OpenPostgresAsync();
        await using var command = new Npgsql.NpgsqlCommand("""UPDATE "Workspace" SET "status" = $1::"WorkspaceStatus" WHERE "id" = $2""", connection);
        command.Parameters.AddWithValue(status);
        command.Parameters.AddWithValue(workspaceId);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    public async Task<int> DeleteWorkspaceAsAnApplicationAsync(Guid workspaceId)
    {
        await using var connection = await OpenPostgresAsync();
        await using var command = new Npgsql.NpgsqlCommand("""DELETE FROM "Workspace" WHERE "id" = $1""", connection);
        command.Parameters.AddWithValue(workspaceId);
        return await command.ExecuteNonQueryAsync();
    }

    public async Task AgeAsync(Guid workspaceId, TimeSpan age)
    {
        await using var connection = await OpenPostgresAsync();
        foreach (var (table, key) in new[] { ("Workspace", "id"), ("ColdstoreArchive", "workspaceId") })
        {
            await using var command = new Npgsql.NpgsqlCommand($"""UPDATE "{table}" SET "updatedAt" = "updatedAt" - $1 WHERE "{key}" = $2""", connection);
            command.Parameters.AddWithValue(age);
            command.Parameters.AddWithValue(workspaceId);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>A connection to the test's schema, as the host application would open one.</summary>
    private async Task<Npgsql.NpgsqlConnection> OpenPostgresAsync()
    {
        var connection = new Npgsql.NpgsqlConnection((_schema ?? throw new InvalidOperationException("Not initialized.")).ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public IStateStore OpenState() =>
        PostgresStateStore.Create((_schema ?? throw new InvalidOperationException("Not initialized.")).ConnectionString);

    public IArchiveStore OpenArchive() => S3ArchiveStore.Create(new S3ArchiveOptions
    {
        Bucket = s3.Bucket,
        Prefix = _prefix ?? throw new InvalidOperationException("Not initialized."),
        ServiceUrl = s3.Endpoint,
        ClickHouseEndpoint = s3.EndpointForClickHouse,
        Credentials = new S3Credentials(s3.AccessKey, s3.SecretKey),
    });

    public async ValueTask DisposeAsync()
    {
        if (_schema is { } schema)
        {
            await schema.DisposeAsync();
        }
    }
}
