using System.Text.RegularExpressions;
using Npgsql;

namespace Coldstore.Testing;

/// <summary>
/// The throwaway Postgres the tests use, named by the <c>COLDSTORE_TEST_POSTGRES</c> environment variable.
/// A missing or unreachable server fails the test (never skips it) with the exact command that provides one.
/// </summary>
public static partial class PostgresTestServer
{
    /// <summary>The environment variable holding an Npgsql connection string of a superuser on a test server.</summary>
    public const string Variable = "COLDSTORE_TEST_POSTGRES";

    /// <summary>How to provide the server; appended to every failure.</summary>
    public const string Fix =
        "Run `eval \"$(scripts/postgres.sh start)\"` from the repository root (it starts a throwaway Postgres and exports "
        + Variable + "), or set " + Variable + " to an Npgsql connection string such as "
        + "Host=127.0.0.1;Port=5432;Username=postgres;Database=postgres.";

    private static readonly Lazy<Task<NpgsqlDataSource>> Server = new(ConnectAsync);

    /// <summary>The server's connection string (no schema), or throws naming the fix.</summary>
    public static string ConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{Variable} is not set, so the Postgres tests cannot run. {Fix}");

    /// <summary>
    /// Creates a schema with a unique name derived from <paramref name="label"/> (e.g. the test class) and returns it,
    /// with a connection string whose search path is that schema. Dispose it to drop the schema.
    /// </summary>
    public static async Task<PostgresSchema> CreateSchemaAsync(string label, CancellationToken cancellationToken = default)
    {
        var server = await Server.Value.ConfigureAwait(false);
        var name = SchemaName(label);
        var command = server.CreateCommand($"CREATE SCHEMA \"{name}\"");
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var scoped = new NpgsqlConnectionStringBuilder(ConnectionString) { SearchPath = name }.ConnectionString;
        return new PostgresSchema(name, scoped, server);
    }

    /// <summary>
    /// A schema name unique to this call: <c>t_</c>, the label reduced to lower-case letters, digits and underscores
    /// (so it never needs escaping), and 12 hex digits of a new GUID; at most 63 bytes, Postgres's identifier limit.
    /// </summary>
    public static string SchemaName(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        var cleaned = NotIdentifier().Replace(label.ToLowerInvariant(), "_").Trim('_');
        if (cleaned.Length > 40)
        {
            cleaned = cleaned[..40];
        }

        return $"t_{cleaned}_{Guid.NewGuid().ToString("N")[..12]}";
    }

    private static async Task<NpgsqlDataSource> ConnectAsync()
    {
        var connectionString = ConnectionString;
        NpgsqlDataSource dataSource;
        try
        {
            dataSource = NpgsqlDataSource.Create(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{Variable} is not a valid Npgsql connection string ({e.Message}). {Fix}", e);
        }

        try
        {
            var connection = await dataSource.OpenConnectionAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
            return dataSource;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            var settings = new NpgsqlConnectionStringBuilder(connectionString);
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"The test Postgres at {settings.Host}:{settings.Port}/{settings.Database} (from {Variable}) is unreachable: {e.Message.TrimEnd('.')}. {Fix}", e);
        }
    }

    [GeneratedRegex("[^a-z0-9_]+")]
    private static partial Regex NotIdentifier();
}
