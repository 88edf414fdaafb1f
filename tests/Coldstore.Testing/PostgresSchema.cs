using Npgsql;

namespace Coldstore.Testing;

/// <summary>
/// A schema of its own on the test server. <see cref="ConnectionString"/> sets the search path to it, so code under
/// test creates and finds its tables there without knowing the schema. Disposing drops it with everything in it.
/// </summary>
public sealed class PostgresSchema : IAsyncDisposable
{
    private readonly NpgsqlDataSource _server;
    private int _disposed;

    internal PostgresSchema(string name, string connectionString, NpgsqlDataSource server)
    {
        Name = name;
        ConnectionString = connectionString;
        _server = server;
    }

    /// <summary>The schema's name (lower-case, never needs quoting).</summary>
    public string Name { get; }

    /// <summary>An Npgsql connection string whose search path is this schema.</summary>
    public string ConnectionString { get; }

    /// <summary>Opens a connection scoped to this schema, for a test's own setup and assertions.</summary>
    public async Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>Drops the schema and its objects; idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Idle pooled connections of this schema would linger until the pool prunes them; close them now.
        var pooled = new NpgsqlConnection(ConnectionString);
        await using (pooled.ConfigureAwait(false))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        var command = _server.CreateCommand($"DROP SCHEMA IF EXISTS \"{Name}\" CASCADE");
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
    }
}
