using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Http;
using Coldstore.Ports;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Replicated.Tests;

/// <summary>
/// Engines that can create ReplicatedMergeTree tables: the embedded engine and the HTTP interface, each started with a
/// configuration that names a test keeper and the replica's macros. clickhouse-local has no interserver port, so a
/// replicated table never activates and stays read-only, but ClickHouse validates every mutation on a replicated
/// table before anything else: one a cluster would refuse (a subquery, a non-deterministic function) fails with code
/// 36 at once, one it accepts gets past validation and fails only because the table is read-only.
/// </summary>
public static class ReplicatedEngines
{
    /// <summary>The configuration both engines read.</summary>
    public const string Configuration = """
        <clickhouse>
            <zookeeper>
                <implementation>testkeeper</implementation>
            </zookeeper>
            <remote_servers>
                <coldstore_cluster>
                    <shard>
                        <replica>
                            <host>127.0.0.1</host>
                            <port>9000</port>
                        </replica>
                    </shard>
                </coldstore_cluster>
            </remote_servers>
            <macros>
                <shard>01</shard>
                <replica>replica_1</replica>
            </macros>
        </clickhouse>
        """;

    private static readonly Lazy<string> ConfigFile = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), "coldstore-replicated-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "config.xml");
        File.WriteAllText(path, Configuration);
        return path;
    });

    private static readonly Lazy<string> Interface = new(() => ClickHouseHttpTestServer.StartInterface(["--config-file", ConfigFile.Value]).Url);

    /// <summary>Opens a client on the embedded engine of this process, started with the configuration.</summary>
    public static IClickHouseClient OpenEmbedded() =>
        ChdbClickHouseClient.Open(Path.Combine(Path.GetDirectoryName(ConfigFile.Value)!, "chdb"), ConfigFile.Value);

    /// <summary>Opens a client on an HTTP interface started with the configuration.</summary>
    public static IClickHouseClient OpenHttp() => HttpClickHouseClient.Create(Interface.Value);

    /// <summary>
    /// The Dittofeed schema with both tables on ReplicatedMergeTree, in a new database: Coldstore's own DDL with only
    /// the engine clause changed, so the columns, sorting keys and view are exactly what it creates on MergeTree.
    /// </summary>
    public static async Task<EventTables> CreateReplicatedSchemaAsync(IClickHouseClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        var tables = new EventTables(ChdbTestEngine.UniqueDatabaseName("replicated"));
        foreach (var statement in SchemaSql.CreateAll(tables))
        {
            var replicated = statement.Sql.Replace(
                "ENGINE = MergeTree",
                "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
                StringComparison.Ordinal);
            await client.ExecuteAsync(new ClickHouseQuery(replicated).For(statement.Purpose ?? "create replicated schema"));
        }

        return tables;
    }
}
