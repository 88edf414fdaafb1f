using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// The base of every operations test class: a ClickHouse database of the class's own (on the process's one chDB
/// engine), and for each test its own state store and archive location from <see cref="IEngines"/>. Subclassed
/// once per engine combination.
/// </summary>
public abstract class OperationsTest(ChdbDatabaseFixture chdb, IEngines engines) : IAsyncLifetime
{
    private readonly List<Harness> _harnesses = [];

    protected EventTables Tables { get; } = new(chdb.Database);

    /// <summary>The test's state and archive stores.</summary>
    protected IEngines Engines { get; } = engines;

    /// <summary>Short waits, no lease wait: what every test starts from.</summary>
    protected static ColdstoreOptions Fast => new()
    {
        SettleWindow = TimeSpan.FromMilliseconds(200),
        LeaseWait = TimeSpan.Zero,
        LeaseDuration = TimeSpan.FromSeconds(15),
        DeleteWaitTimeout = TimeSpan.FromSeconds(90),
        StatementTimeout = TimeSpan.FromMinutes(2),
    };

    /// <summary>A new service instance (own chDB connection, own adapters over the test's stores), initialized.</summary>
    protected async Task<Harness> OpenAsync(ColdstoreOptions? options = null)
    {
        var harness = await Harness.OpenAsync(Engines, Tables, options ?? Fast);
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
