using Coldstore.ClickHouse.Http;
using Coldstore.Ports;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// A class fixture that gives a test class its own ClickHouse database, named <c>{Prefix}_{8 hex}</c>, on one
/// engine set, and drops it after the class's last test. Subclassed once per engine set: embedded chDB in this
/// process (<see cref="ChdbDatabaseFixture"/>) and a server over HTTP through ClickHouse.Driver
/// (<see cref="HttpDatabaseFixture"/>), so one suite runs on both.
/// </summary>
public abstract class ClickHouseDatabaseFixture : IAsyncLifetime
{
    private IClickHouseClient? _client;
    private string? _database;

    /// <summary>The database's name prefix; override in a subclass to tell test classes apart in the engine.</summary>
    protected virtual string Prefix => "coldstore_test";

    /// <summary>The database created for this test class.</summary>
    public string Database => _database ??= ChdbTestEngine.UniqueDatabaseName(Prefix);

    /// <summary>A client owned by the fixture (do not dispose it).</summary>
    public IClickHouseClient Client => _client ?? throw new InvalidOperationException("The fixture is not initialized yet.");

    /// <summary>Opens a further client on the same engine, e.g. for a second service instance; the caller disposes it.</summary>
    public abstract IClickHouseClient OpenClient();

    /// <summary>The engine as Coldstore's ClickHouse setting names it (<c>embedded:&lt;dir&gt;</c> or the server's URL).</summary>
    public abstract string Setting { get; }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _client = OpenClient();
        await _client.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE {Database}").For("create test database"));
    }

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
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

/// <summary>The embedded engine set: the process's one chDB engine.</summary>
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
public class ChdbDatabaseFixture : ClickHouseDatabaseFixture
{
    /// <inheritdoc />
    public override IClickHouseClient OpenClient() => ChdbTestEngine.OpenClient();

    /// <inheritdoc />
    public override string Setting => $"embedded:{ChdbTestEngine.DataDirectory}";
}

/// <summary>
/// The server engine set: ClickHouse.Driver over HTTP to <see cref="ClickHouseHttpTestServer"/> (the interface
/// over the embedded engine in another process, or the real server named by its variable).
/// </summary>
public class HttpDatabaseFixture : ClickHouseDatabaseFixture
{
    /// <inheritdoc />
    public override IClickHouseClient OpenClient() => HttpClickHouseClient.Create(ClickHouseHttpTestServer.Url);

    /// <inheritdoc />
    public override string Setting => ClickHouseHttpTestServer.Url;
}
