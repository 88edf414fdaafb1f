using System.Globalization;
using System.Security;
using Coldstore.Archive.FileSystem;
using Coldstore.ClickHouse.Chdb;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.State.Sqlite;

namespace Coldstore.Bench;

/// <summary>
/// The engines every scenario runs on: one embedded chDB (one data directory per process), a SQLite state store and
/// a local archive directory, under one working directory.
/// </summary>
/// <remarks>
/// Composed here rather than through <c>ColdstoreRuntime</c>: Dittofeed's baseline needs a MergeTree table on a disk
/// declared inline (<c>SETTINGS disk = disk(type = 'local', path = …)</c>), which chDB refuses unless the server
/// configuration names <c>custom_local_disks_base_directory</c>, and only <c>ChdbClickHouseClient.Open</c> takes a
/// configuration file. The service is the same class the runtime builds, over the same adapters.
/// </remarks>
internal sealed class BenchHost : IAsyncDisposable
{
    private readonly IArchiveStore _archive;

    private BenchHost(IClickHouseClient clickHouse, IStateStore state, IArchiveStore archive, ColdstoreService service, string directory)
    {
        ClickHouse = clickHouse;
        State = state;
        _archive = archive;
        Service = service;
        Directory = directory;
    }

    public IClickHouseClient ClickHouse { get; }

    public IStateStore State { get; }

    public ColdstoreService Service { get; }

    /// <summary>The working directory; everything the run writes is under it.</summary>
    public string Directory { get; }

    /// <summary>The archive store's root directory.</summary>
    public string ArchiveDirectory => Path.Combine(Directory, "archive");

    /// <summary>Where inline local disks may live (the configuration's <c>custom_local_disks_base_directory</c>).</summary>
    public string DisksDirectory => Path.Combine(Directory, "disks");

    public static async Task<BenchHost> OpenAsync(string directory, int batchSize)
    {
        var disks = Path.Combine(directory, "disks");
        System.IO.Directory.CreateDirectory(disks);
        var config = Path.Combine(directory, "chdb-config.xml");
        await File.WriteAllTextAsync(config, $"""
            <clickhouse>
                <custom_local_disks_base_directory>{SecurityElement.Escape(disks + "/")}</custom_local_disks_base_directory>
            </clickhouse>
            """);

        var clickHouse = ChdbClickHouseClient.Open(Path.Combine(directory, "chdb"), config);
        var state = SqliteStateStore.Open(Path.Combine(directory, "state.db"));
        var archive = FileSystemArchiveStore.Open(Path.Combine(directory, "archive"));
        // No settle window: nothing else writes to these workspaces, and a fixed sleep would only pad the archive time.
        var service = new ColdstoreService(clickHouse, state, archive, new Sql.EventTables(), new ColdstoreOptions { SettleWindow = TimeSpan.Zero, BatchSize = batchSize });
        await service.InitializeAsync();
        return new BenchHost(clickHouse, state, archive, service, directory);
    }

    /// <summary>
    /// Another service over the same engine, state and archive store, with other options (a smaller chunk size):
    /// the class the runtime builds, over the same adapters, so its figures compare with <see cref="Service"/>'s.
    /// </summary>
    public ColdstoreService ServiceWith(Func<ColdstoreOptions, ColdstoreOptions> change) =>
        new(ClickHouse, State, _archive, Service.Tables, change(Service.Options));

    /// <summary>"chDB 26.7.3 at /tmp/…" → "chDB 26.7.3": the temporary path says nothing about the numbers.</summary>
    public string EngineName => ClickHouse.Description.Split(" at ", 2, StringSplitOptions.None)[0];

    /// <summary>Empties both event tables, so a scenario starts from the same table whatever ran before it.</summary>
    public async Task TruncateEventsAsync()
    {
        foreach (var table in new[] { Service.Tables.QualifiedEvents, Service.Tables.QualifiedInternalEvents })
        {
            await ClickHouse.ExecuteAsync(new ClickHouseQuery($"TRUNCATE TABLE {table}").For("bench: truncate"));
        }
    }

    /// <summary>
    /// Waits until no merge or mutation runs on the event tables, so freshly generated parts do not compete with the
    /// measured phases for the two cores.
    /// </summary>
    public async Task WaitForQuietAsync(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var query = new ClickHouseQuery("""
                SELECT (SELECT count() FROM system.merges WHERE database = {database:String})
                     + (SELECT count() FROM system.mutations WHERE database = {database:String} AND is_done = 0) AS busy
                """)
            .With("database", "String", Service.Tables.Database)
            .For("bench: wait for merges");
        while (Convert.ToInt64((await ClickHouse.QueryAsync(query)).Single()["busy"], CultureInfo.InvariantCulture) > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                return;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Waits until every delete (mutation) of the event tables has been applied: what an archive leaves running in
    /// the background, timed apart from it.
    /// </summary>
    /// <exception cref="BenchmarkFailedException">They did not finish within 10 minutes.</exception>
    public async Task WaitForMutationsAsync()
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        var query = new ClickHouseQuery("SELECT count() AS pending FROM system.mutations WHERE database = {database:String} AND is_done = 0")
            .With("database", "String", Service.Tables.Database)
            .For("bench: wait for deletes");
        while ((await ClickHouse.QueryAsync(query)).Single().GetInt64("pending") > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new BenchmarkFailedException("The deletes of the event tables did not finish within 10 minutes.");
            }

            // Short, so the measured time overshoots the real completion by at most this much.
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await State.DisposeAsync();
        await ClickHouse.DisposeAsync();
    }
}
