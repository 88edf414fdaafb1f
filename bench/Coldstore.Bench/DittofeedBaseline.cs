using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// Dittofeed's way of keeping a tenant's events cold, done by ClickHouse alone: a MergeTree table of the five stored
/// columns on a disk of its own, an INSERT … SELECT of the workspace's rows into it (not verified), then an unbounded
/// lightweight delete of the workspace from the hot tables; restore is an INSERT … SELECT back.
/// </summary>
/// <remarks>
/// The disk is declared inline as Dittofeed would declare its object-storage disk
/// (<c>SETTINGS disk = disk(type = 's3', …)</c>), here of type <c>local</c> under the working directory, so the
/// baseline needs no S3 emulator. Its parts are MergeTree's own (LZ4 columns, marks, indexes): what the bytes ratio
/// compares the archive's Parquet with.
/// </remarks>
internal sealed class DittofeedBaseline(IClickHouseClient clickHouse, EventTables tables, string disksDirectory)
{
    private const string Table = "bench_dittofeed_cold";

    private static readonly string Columns = ArchiveSql.StoredColumnList;

    private string QualifiedTable => $"{tables.QuotedDatabase}.`{Table}`";

    /// <summary>Creates the cold table, empty, on its inline local disk (dropping one a previous round left).</summary>
    public async Task CreateAsync()
    {
        await DropAsync();
        // A disk's path is a literal in the table's definition; it cannot be a query parameter. The path is ours.
        var path = Path.Combine(disksDirectory, "dittofeed") + "/";
        await clickHouse.ExecuteAsync(new ClickHouseQuery($"""
                CREATE TABLE {QualifiedTable} ({SchemaSql.StoredColumnsStructure})
                ENGINE = MergeTree
                ORDER BY (workspace_id, processing_time, message_id)
                SETTINGS disk = disk(type = 'local', path = '{path.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}')
                """)
            .For("bench: create dittofeed cold table"));
    }

    /// <summary>The copy: the workspace's stored columns into the cold table. Dittofeed does not verify it.</summary>
    public Task CopyAsync(Guid workspaceId) =>
        clickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO {{QualifiedTable}} ({{Columns}})
                SELECT {{Columns}} FROM {{tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}
                """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .WithSettings(EventSql.InsertSettings)
            .WithSetting("insert_deduplicate", "0")
            .For("bench: dittofeed copy"));

    /// <summary>Untimed: the copy holds exactly the hot rows (count and checksum), or the run fails.</summary>
    public async Task VerifyCopyAsync(Guid workspaceId)
    {
        var cold = await SummaryAsync(QualifiedTable, workspaceId);
        var hot = await SummaryAsync(tables.QualifiedEvents, workspaceId);
        PhaseTimer.Expect(cold == hot && cold.Rows > 0, $"Dittofeed's copy does not match the hot rows (cold {cold}, hot {hot}).");
    }

    /// <summary>
    /// The delete: every row of the workspace, in both tables (the view's rows would otherwise be doubled by the
    /// restore), unbounded by what was copied, waited for until applied.
    /// </summary>
    public Task DeleteAsync(Guid workspaceId) => BareDelete.RunAsync(clickHouse, tables, [workspaceId], "bench: dittofeed delete");

    /// <summary>The restore: the cold rows back into the events table, with the restore's insert settings.</summary>
    public Task RestoreAsync(Guid workspaceId) =>
        clickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO {{tables.QualifiedEvents}} ({{Columns}})
                SELECT {{Columns}} FROM {{QualifiedTable}} WHERE workspace_id = {workspace_id:String}
                """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .WithSettings(ArchiveSql.RestoreSettings)
            .For("bench: dittofeed restore"));

    /// <summary>Bytes of the cold table's active parts on its disk: what Dittofeed's cold copy costs in storage.</summary>
    public async Task<long> BytesOnDiskAsync() =>
        (await clickHouse.QueryAsync(new ClickHouseQuery("""
                SELECT toInt64(sum(bytes_on_disk)) AS bytes
                FROM system.parts WHERE database = {database:String} AND table = {table:String} AND active
                """)
            .With("database", "String", tables.Database)
            .With("table", "String", Table)
            .For("bench: dittofeed bytes"))).Single().GetInt64("bytes");

    public Task DropAsync() =>
        clickHouse.ExecuteAsync(new ClickHouseQuery($"DROP TABLE IF EXISTS {QualifiedTable} SYNC").For("bench: drop dittofeed cold table"));

    private Task<Summary> SummaryAsync(string table, Guid workspaceId) =>
        Summary.ReadAsync(clickHouse, new ClickHouseQuery($"SELECT count() AS rows, sum({ArchiveSql.RowHash}) AS checksum FROM {table} WHERE workspace_id = {{workspace_id:String}}")
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("bench: dittofeed summary"));
}
