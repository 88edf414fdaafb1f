using Coldstore.Ports;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// A class fixture (<c>IClassFixture&lt;ChdbDatabaseFixture&gt;</c>) that gives a test class its own database
/// on the shared chDB engine, named <c>{Prefix}_{8 hex}</c>, and drops it after the class's last test.
/// </summary>
/// <example>
/// <code>
/// public sealed class MyTests(ChdbDatabaseFixture chdb) : IClassFixture&lt;ChdbDatabaseFixture&gt;
/// {
///     [Fact]
///     public async Task Counts() =&gt;
///         await chdb.Client.ExecuteAsync(new($"CREATE TABLE {chdb.Database}.t (x UInt8) ENGINE = Memory"));
/// }
/// </code>
/// </example>
public class ChdbDatabaseFixture : IAsyncLifetime
{
    private IClickHouseClient? _client;
    private string? _database;

    /// <summary>The database's name prefix; override in a subclass to tell test classes apart in the engine.</summary>
    protected virtual string Prefix => "coldstore_test";

    /// <summary>The database created for this test class.</summary>
    public string Database => _database ??= ChdbTestEngine.UniqueDatabaseName(Prefix);

    /// <summary>A client on the shared engine, owned by the fixture (do not dispose it).</summary>
    public IClickHouseClient Client => _client ?? throw new InvalidOperationException("The fixture is not initialized yet.");

    /// <summary>Opens a further client, e.g. to run statements in parallel; the caller disposes it.</summary>
#pragma warning disable CA1822 // An instance member on purpose: tests reach the engine through the fixture they were given.
    public IClickHouseClient OpenClient() => ChdbTestEngine.OpenClient();
#pragma warning restore CA1822

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _client = ChdbTestEngine.OpenClient();
        await _client.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE {Database}").For("create test database"));
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_client is null)
        {
            return;
        }

        try
        {
            await _client.ExecuteAsync(new ClickHouseQuery($"DROP DATABASE IF EXISTS {Database} SYNC").For("drop test database"));
        }
        finally
        {
            await _client.DisposeAsync();
        }
    }
}
