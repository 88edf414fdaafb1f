using Coldstore.Archive.FileSystem;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.State.Sqlite;

namespace Coldstore.Replicated.Tests;

/// <summary>
/// <c>init</c> reads the engine of an events table that exists already: replicated tables are taken as they are, a
/// Distributed one is refused with the local table and the cluster to use instead, and nothing is created.
/// </summary>
public abstract class InitEngineTests
{
    /// <summary>A client on an engine started with the test keeper's configuration (which also defines a cluster).</summary>
    protected abstract IClickHouseClient Open();

    [Fact]
    public async Task Init_takes_replicated_tables_as_they_are_and_adds_only_the_view()
    {
        await using var client = Open();
        var tables = await ReplicatedEngines.CreateReplicatedSchemaAsync(client);
        await client.ExecuteAsync(new ClickHouseQuery($"DROP VIEW {tables.QualifiedInternalEventsView}"));
        var service = NewService(client, tables);

        await service.InitializeAsync();

        Assert.Equal(
            [(tables.InternalEvents, "ReplicatedMergeTree"), (tables.InternalEventsView, "MaterializedView"), (tables.Events, "ReplicatedMergeTree")],
            await EnginesAsync(client, tables.Database));
    }

    [Fact]
    public async Task Init_refuses_a_distributed_events_table_naming_the_local_table_and_the_cluster()
    {
        await using var client = Open();
        var tables = new EventTables(Testing.ChdbTestEngine.UniqueDatabaseName("distributed"));
        await client.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE {tables.QuotedDatabase}"));
        await client.ExecuteAsync(SchemaSql.CreateEvents(new EventTables(tables.Database, events: "user_events_v2_local")));
        await client.ExecuteAsync(new ClickHouseQuery(
            $"CREATE TABLE {tables.QualifiedEvents} AS {tables.QuotedDatabase}.user_events_v2_local ENGINE = Distributed('coldstore_cluster', '{tables.Database}', 'user_events_v2_local', rand())"));
        var before = await EnginesAsync(client, tables.Database);
        var service = NewService(client, tables);

        var error = await Assert.ThrowsAsync<WorkspaceOperationException>(() => service.InitializeAsync());

        Assert.Equal(WorkspaceErrorKind.InvalidInput, error.Kind);
        Assert.Contains($"{tables.Database}.user_events_v2 is a Distributed table", error.Message, StringComparison.Ordinal);
        Assert.Contains($"local table {tables.Database}.user_events_v2_local", error.Message, StringComparison.Ordinal);
        Assert.Contains("cluster 'coldstore_cluster'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(before, await EnginesAsync(client, tables.Database));
    }

    private static ColdstoreService NewService(IClickHouseClient client, EventTables tables)
    {
        var directory = Path.Combine(Path.GetTempPath(), "coldstore-replicated-init-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        return new ColdstoreService(client, SqliteStateStore.Open(Path.Combine(directory, "state.db")),
            FileSystemArchiveStore.Open(Path.Combine(directory, "archive")), tables);
    }

    private static async Task<List<(string Name, string Engine)>> EnginesAsync(IClickHouseClient client, string database) =>
        [.. (await client.QueryAsync(new ClickHouseQuery("SELECT name, engine FROM system.tables WHERE database = {database:String} ORDER BY name")
            .With("database", "String", database))).Select(r => (r.GetString("name"), r.GetString("engine")))];
}

/// <summary>On the embedded engine.</summary>
public sealed class InitEngineOnChdb : InitEngineTests
{
    protected override IClickHouseClient Open() => ReplicatedEngines.OpenEmbedded();
}

/// <summary>Through ClickHouse.Driver on the HTTP interface.</summary>
public sealed class InitEngineOnHttp : InitEngineTests
{
    protected override IClickHouseClient Open() => ReplicatedEngines.OpenHttp();
}
