using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// The base of every operations test class: a ClickHouse database of the class's own on one engine set
/// (embedded chDB in this process, or a server over HTTP through ClickHouse.Driver), and for each test its own
/// state store and archive location from <see cref="IEngines"/>. Subclassed once per engine set.
/// </summary>
public abstract class OperationsTest(ClickHouseDatabaseFixture clickHouse, IEngines engines) : IAsyncLifetime
{
    private readonly List<Harness> _harnesses = [];

    protected EventTables Tables { get; } = new(clickHouse.Database);

    /// <summary>The test class's ClickHouse engine set and database.</summary>
    protected ClickHouseDatabaseFixture ClickHouse { get; } = clickHouse;

    /// <summary>The test's state and archive stores.</summary>
    protected IEngines Engines { get; } = engines;

    /// <summary>Short waits, no lease wait, the default settling (no fixed window): what every test starts from.</summary>
    protected static ColdstoreOptions Fast => new()
    {
        LeaseWait = TimeSpan.Zero,
        LeaseDuration = TimeSpan.FromSeconds(15),
        DeleteWaitTimeout = TimeSpan.FromSeconds(90),
        StatementTimeout = TimeSpan.FromMinutes(2),
    };

    /// <summary>A new service instance (own ClickHouse client, own adapters over the test's stores), initialized.</summary>
    protected async Task<Harness> OpenAsync(ColdstoreOptions? options = null)
    {
        var harness = await Harness.OpenAsync(ClickHouse.OpenClient(), Engines, Tables, options ?? Fast);
        lock (_harnesses)
        {
            _harnesses.Add(harness);
        }

        return harness;
    }

    public Task InitializeAsync() => Engines.InitializeAsync(GetType().Name);

    public async Task DisposeAsync()
    {
        foreach (var harness in _harnesses)
        {
            await harness.DisposeAsync();
        }

        await Engines.DisposeAsync();
    }
}
