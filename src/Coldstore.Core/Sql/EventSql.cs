using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>Statements that ingest and count events.</summary>
public static class EventSql
{
    /// <summary>Settings for every statement that inserts into the events table.</summary>
    /// <remarks>
    /// Why UTC: the default of <c>event_time</c> parses <c>timestamp</c> strings without an offset in the session
    /// time zone, so ingestion and restore must agree on one zone or a restored row would differ from its original.
    /// Why synchronous inserts: since 26.2 <c>async_insert</c> defaults to on, and an insert that returns before its
    /// rows are committed would make "ingested N" a lie.
    /// </remarks>
    public static readonly IReadOnlyDictionary<string, string> InsertSettings = new Dictionary<string, string>
    {
        ["session_timezone"] = "UTC",
        ["async_insert"] = "0",
    };

    /// <summary>
    /// The INSERT (without FORMAT) through which ingestion streams JSONEachRow rows carrying
    /// <c>message_id</c>, <c>message_raw</c>, <c>workspace_id</c> and <c>server_time</c>; the server fills
    /// <c>processing_time</c> and every derived column, exactly as Dittofeed's own writes do.
    /// </summary>
    public static ClickHouseQuery IngestInsert(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($"INSERT INTO {tables.QualifiedEvents} (message_id, message_raw, workspace_id, server_time)")
            .WithSettings(InsertSettings)
            .For("ingest events");
    }

    /// <summary>
    /// Hot rows per workspace, as stored. An archive ends only once its deletes have applied and no archived row is
    /// hot, so the physical count is exact for every workspace without an archive in flight.
    /// </summary>
    /// <param name="tables">The event tables.</param>
    /// <param name="workspaceIds">The workspaces to count.</param>
    public static ClickHouseQuery CountHotRows(EventTables tables, IReadOnlyCollection<Guid> workspaceIds)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(workspaceIds);
        return new ClickHouseQuery($$"""
            SELECT workspace_id, count() AS hot_rows
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id IN {workspace_ids:Array(String)}
            GROUP BY workspace_id
            """)
            .With("workspace_ids", "Array(String)", workspaceIds.Select(WorkspaceIdText).ToArray())
            .For("count hot rows");
    }

    /// <summary>
    /// Hot rows of every workspace that has any, in one statement whose text and parameters do not grow with the
    /// fleet (a list of 10⁵ ids would be a 3.7 MB parameter).
    /// </summary>
    public static ClickHouseQuery CountAllHotRows(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($"SELECT workspace_id, count() AS hot_rows FROM {tables.QualifiedEvents} GROUP BY workspace_id")
            .For("count hot rows of every workspace");
    }

    /// <summary>
    /// The uncompressed size, in bytes, of the workspace's rows in the five columns an archive stores
    /// (<see cref="SchemaSql.StoredColumns"/>), as <c>raw_bytes</c>. It is ClickHouse's <c>byteSize</c>: the values'
    /// in-memory size (each string's bytes plus a few bytes of bookkeeping, 8 bytes per DateTime64), about what the
    /// archive's Parquet objects would take without compression, so dividing it by the archive's bytes gives the
    /// compression ratio. It counts every row physically present, so measure it before archiving.
    /// </summary>
    /// <param name="tables">The event tables.</param>
    /// <param name="workspaceId">The workspace.</param>
    public static ClickHouseQuery WorkspaceRawBytes(EventTables tables, Guid workspaceId)
    {
        ArgumentNullException.ThrowIfNull(tables);
        // sum() of no rows is 0, so an empty workspace measures 0 rather than NULL.
        return new ClickHouseQuery($$"""
            SELECT sum(byteSize({{string.Join(", ", SchemaSql.StoredColumns)}})) AS raw_bytes
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id = {workspace_id:String}
            """)
            .With("workspace_id", "String", WorkspaceIdText(workspaceId))
            .For("measure raw bytes");
    }

    /// <summary>The text form of a workspace id as stored in <c>workspace_id</c>: lower-case, hyphenated.</summary>
    public static string WorkspaceIdText(Guid workspaceId) => workspaceId.ToString("D");
}
