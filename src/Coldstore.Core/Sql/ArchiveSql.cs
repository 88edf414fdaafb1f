using System.Globalization;
using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>
/// The statements of archive and restore. Data moves only inside ClickHouse (<c>INSERT INTO FUNCTION …</c> and
/// <c>INSERT … SELECT FROM s3()/file()</c>); Coldstore reads back nothing but counts and checksums.
/// </summary>
/// <remarks>
/// Rows are identified by a 64-bit hash of the five stored columns (<see cref="RowHash"/>). Summing those hashes
/// gives an order-independent checksum that, unlike XOR, changes when a row is duplicated or dropped. Timestamps
/// are hashed as epoch milliseconds so a column's time zone (Parquet reads them back as UTC) cannot change the hash.
/// </remarks>
public static class ArchiveSql
{
    /// <summary>The name of Coldstore's own table of archived row hashes, in the events' database.</summary>
    public const string KeysTable = "coldstore_archive_keys";

    /// <summary>The hash of one events row over the five stored columns.</summary>
    public const string RowHash =
        "cityHash64(message_raw, toUnixTimestamp64Milli(processing_time), workspace_id, message_id, toUnixTimestamp64Milli(server_time))";

    /// <summary>The hash that identifies the <c>internal_events</c> row derived from an events row.</summary>
    public const string DerivedRowHash = "cityHash64(message_id, toUnixTimestamp64Milli(processing_time))";

    /// <summary>Rows the materialized view turns into internal events.</summary>
    public const string DerivesInternalEvent = "event_type = 'track' AND startsWith(event, 'DF')";

    /// <summary>The columns an archive holds, in order.</summary>
    public static string StoredColumnList => string.Join(", ", SchemaSql.StoredColumns);

    /// <summary>Settings that make Parquet exports fast and bounded in memory (measured in clickhouse-facts.md).</summary>
    public static readonly IReadOnlyDictionary<string, string> ExportSettings = new Dictionary<string, string>
    {
        ["output_format_parquet_compression_method"] = "zstd",
        ["output_format_parquet_row_group_size"] = "100000",
        ["output_format_parquet_row_group_size_bytes"] = "33554432",
        ["output_format_parquet_write_bloom_filter"] = "0",
        ["output_format_parquet_write_page_index"] = "0",
        ["s3_min_upload_part_size"] = "8388608",
        ["s3_max_single_part_upload_size"] = "8388608",
        ["s3_max_inflight_parts_for_one_file"] = "2",
    };

    /// <summary>
    /// Settings for every read of archive objects. Hive partitioning is off because the archive's own
    /// <c>workspace_id=…/</c> path segment would otherwise replace the file's column on read.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> ReadArchiveSettings = new Dictionary<string, string>
    {
        ["use_hive_partitioning"] = "0",
    };

    /// <summary>Settings for the restore insert: UTC (as ingestion), no deduplication, bounded memory.</summary>
    public static readonly IReadOnlyDictionary<string, string> RestoreSettings = new Dictionary<string, string>
    {
        ["session_timezone"] = "UTC",
        ["async_insert"] = "0",
        // Identical rows are legitimate (a client may send an event twice); the engine must not drop a block as a repeat.
        ["insert_deduplicate"] = "0",
        ["use_hive_partitioning"] = "0",
        ["max_threads"] = "1",
        ["min_insert_block_size_rows"] = "100000",
        ["max_insert_block_size"] = "100000",
        ["min_insert_block_size_bytes"] = "67108864",
        ["input_format_parquet_memory_high_watermark"] = "268435456",
    };

    /// <summary>The ClickHouse server's clock, in epoch milliseconds. The cutoff must come from the clock that stamps <c>processing_time</c>.</summary>
    public static ClickHouseQuery ServerNow() =>
        new ClickHouseQuery("SELECT toUnixTimestamp64Milli(now64(3)) AS now_ms").For("read server clock");

    /// <summary>Creates the table of archived row hashes that bounds every delete to what an archive holds.</summary>
    public static ClickHouseQuery CreateKeysTable(EventTables tables) =>
        new ClickHouseQuery($$"""
            CREATE TABLE IF NOT EXISTS {{Keys(tables)}}
            (
                archive_id String,
                row_hash UInt64,
                derived_hash UInt64
            )
            ENGINE = MergeTree
            ORDER BY (archive_id, row_hash)
            """).For("create archive keys table");

    /// <summary>The name of Coldstore's table of what was already hot, identical to an archive's rows, before its restore began.</summary>
    public const string BaselineTable = "coldstore_restore_baseline";

    /// <summary>
    /// Creates the baseline table. Identical rows are indistinguishable, so a restore records how many copies of
    /// its archive's rows were hot before it inserted anything; leftovers of an interrupted restore are what is
    /// above that baseline, and a copy that was hot before is never taken for one.
    /// </summary>
    public static ClickHouseQuery CreateBaselineTable(EventTables tables) =>
        new ClickHouseQuery($$"""
            CREATE TABLE IF NOT EXISTS {{Baseline(tables)}}
            (
                archive_id String,
                rows UInt64,
                checksum UInt64,
                derived_rows UInt64
            )
            ENGINE = MergeTree
            ORDER BY archive_id
            """).For("create restore baseline table");

    /// <summary>Records an archive's restore baseline, replacing any earlier one (run after <see cref="DropBaseline"/>).</summary>
    public static ClickHouseQuery InsertBaseline(EventTables tables, Guid archiveId, long rows, ulong checksum, long derivedRows) =>
        new ClickHouseQuery($"INSERT INTO {Baseline(tables)} (archive_id, rows, checksum, derived_rows) VALUES ({{archive_id:String}}, {{rows:UInt64}}, {{checksum:UInt64}}, {{derived_rows:UInt64}})")
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .With("rows", "UInt64", (ulong)rows)
            .With("checksum", "UInt64", checksum)
            .With("derived_rows", "UInt64", (ulong)derivedRows)
            .WithSetting("async_insert", "0")
            .WithSetting("insert_deduplicate", "0")
            .For("record restore baseline");

    /// <summary>Reads an archive's restore baseline (no row when none was recorded).</summary>
    public static ClickHouseQuery ReadBaseline(EventTables tables, Guid archiveId) =>
        new ClickHouseQuery($"SELECT rows, checksum, derived_rows FROM {Baseline(tables)} WHERE archive_id = {{archive_id:String}} LIMIT 1")
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .For("read restore baseline");

    /// <summary>Forgets an archive's restore baseline, synchronously.</summary>
    public static ClickHouseQuery DropBaseline(EventTables tables, Guid archiveId) =>
        new ClickHouseQuery($"DELETE FROM {Baseline(tables)} WHERE archive_id = {{archive_id:String}}")
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .WithSetting("lightweight_deletes_sync", "2")
            .WithSetting("mutations_sync", "2")
            .For("drop restore baseline");

    /// <summary>Count, checksum and expected internal events of the hot rows an archive with this cutoff takes.</summary>
    public static ClickHouseQuery HotSummary(EventTables tables, Guid workspaceId, DateTime cutoff) =>
        new ClickHouseQuery($$"""
            SELECT count() AS rows, sum({{RowHash}}) AS checksum, countIf({{DerivesInternalEvent}}) AS derived_rows
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .For("summarize hot rows");

    /// <summary>
    /// Copies the workspace's rows up to the cutoff into one Parquet object per month of <c>processing_time</c>.
    /// The target's pattern must contain <c>{_partition_id}</c>; its write settings make a rerun overwrite the same objects.
    /// </summary>
    public static ClickHouseQuery CopyToArchive(EventTables tables, Guid workspaceId, DateTime cutoff, TableFunctionExpression target, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new ClickHouseQuery($$"""
            INSERT INTO FUNCTION {{target.Sql}}
            PARTITION BY toYYYYMM(processing_time)
            SELECT {{StoredColumnList}}
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .With(target.Parameters)
            .WithSettings(ExportSettings)
            .WithSettings(target.WriteSettings)
            .WithSettings(target.AccessSettings)
            .WithSetting("max_execution_time", Seconds(timeout))
            .For("copy rows to archive");
    }

    /// <summary>Count and checksum of rows as read back from archive objects.</summary>
    public static ClickHouseQuery ArchiveSummary(TableFunctionExpression source, Guid workspaceId, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ClickHouseQuery($$"""
            SELECT count() AS rows, sum({{RowHash}}) AS checksum, countIf(JSONExtractString(message_raw, 'type') = 'track' AND startsWith(JSONExtractString(message_raw, 'event'), 'DF')) AS derived_rows,
                countIf(workspace_id != {workspace_id:String}) AS foreign_rows
            FROM {{source.Sql}}
            """)
            .With(source.Parameters)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .WithSettings(ReadArchiveSettings)
            .WithSettings(source.AccessSettings)
            .WithSetting("max_execution_time", Seconds(timeout))
            .For("read back archive");
    }

    /// <summary>Number of key rows recorded for an archive, and their checksum.</summary>
    public static ClickHouseQuery KeysSummary(EventTables tables, Guid archiveId) =>
        new ClickHouseQuery($"SELECT count() AS rows, sum(row_hash) AS checksum FROM {Keys(tables)} WHERE archive_id = {{archive_id:String}}")
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .For("summarize archive keys");

    /// <summary>Records the hashes of every row in an archive's objects, read from the objects themselves.</summary>
    public static ClickHouseQuery FillKeys(EventTables tables, Guid archiveId, TableFunctionExpression source, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ClickHouseQuery($$"""
            INSERT INTO {{Keys(tables)}} (archive_id, row_hash, derived_hash)
            SELECT {archive_id:String}, {{RowHash}}, {{DerivedRowHash}}
            FROM {{source.Sql}}
            """)
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .With(source.Parameters)
            .WithSettings(ReadArchiveSettings)
            .WithSettings(source.AccessSettings)
            .WithSetting("async_insert", "0")
            .WithSetting("insert_deduplicate", "0")
            .WithSetting("max_execution_time", Seconds(timeout))
            .For("record archive keys");
    }

    /// <summary>Forgets an archive's keys, synchronously (before a refill, or once it is restored).</summary>
    public static ClickHouseQuery DropKeys(EventTables tables, Guid archiveId) =>
        new ClickHouseQuery($"DELETE FROM {Keys(tables)} WHERE archive_id = {{archive_id:String}}")
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .WithSetting("lightweight_deletes_sync", "2")
            .WithSetting("mutations_sync", "2")
            .For("drop archive keys");

    /// <summary>
    /// Deletes, in the background, exactly the hot rows the archive holds: a row that arrived after the copy, or
    /// whose <c>processing_time</c> is past the cutoff, is not in the keys and stays hot.
    /// </summary>
    public static ClickHouseQuery DeleteArchivedEvents(EventTables tables, Guid workspaceId, DateTime cutoff, Guid archiveId, bool synchronous = false) =>
        new ClickHouseQuery($$"""
            DELETE FROM {{tables.QualifiedEvents}}
            WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
              AND {{RowHash}} IN (SELECT row_hash FROM {{Keys(tables)}} WHERE archive_id = {archive_id:String})
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .WithSettings(DeleteSettings(synchronous))
            .For(synchronous ? "remove restored leftovers" : "delete archived rows");

    /// <summary>Deletes, in the background, the internal events derived from the archive's rows.</summary>
    public static ClickHouseQuery DeleteArchivedInternalEvents(EventTables tables, Guid workspaceId, DateTime cutoff, Guid archiveId, bool synchronous = false) =>
        new ClickHouseQuery($$"""
            DELETE FROM {{tables.QualifiedInternalEvents}}
            WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
              AND {{DerivedRowHash}} IN (SELECT derived_hash FROM {{Keys(tables)}} WHERE archive_id = {archive_id:String})
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .WithSettings(DeleteSettings(synchronous))
            .For(synchronous ? "remove restored internal leftovers" : "delete archived internal events");

    /// <summary>The statements the server is running whose query id starts with <paramref name="prefix"/> (one workspace's).</summary>
    public static ClickHouseQuery RunningStatements(string prefix) =>
        new ClickHouseQuery("SELECT query_id, elapsed FROM system.processes WHERE startsWith(query_id, {prefix:String})")
            .With("prefix", "String", prefix)
            .For("find statements an earlier holder left running");

    /// <summary>
    /// Cancels the statements whose query id starts with <paramref name="prefix"/>. ASYNC: the caller polls
    /// <see cref="RunningStatements"/> until they are gone, with its own bound, instead of holding a request open.
    /// </summary>
    public static ClickHouseQuery KillStatements(string prefix) =>
        new ClickHouseQuery("KILL QUERY WHERE startsWith(query_id, {prefix:String}) ASYNC")
            .With("prefix", "String", prefix)
            .For("kill statements an earlier holder left running");

    /// <summary>Unfinished mutations (deletes) touching the workspace on the events or internal events tables.</summary>
    public static ClickHouseQuery PendingDeletes(EventTables tables, Guid workspaceId) =>
        new ClickHouseQuery("""
            SELECT count() AS pending, any(latest_fail_reason) AS fail_reason
            FROM system.mutations
            WHERE database = {database:String} AND table IN ({events:String}, {internal:String})
              AND is_done = 0 AND position(command, {workspace_id:String}) > 0
            """)
            .With("database", "String", tables.Database)
            .With("events", "String", tables.Events)
            .With("internal", "String", tables.InternalEvents)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("check pending deletes");

    /// <summary>Hot rows (and derived rows) that belong to an archive: leftovers before a restore, the restored rows after.</summary>
    public static ClickHouseQuery RestoredSummary(EventTables tables, Guid workspaceId, DateTime cutoff, Guid archiveId) =>
        new ClickHouseQuery($$"""
            SELECT
                (SELECT count() FROM {{tables.QualifiedEvents}}
                 WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
                   AND {{RowHash}} IN (SELECT row_hash FROM {{Keys(tables)}} WHERE archive_id = {archive_id:String})) AS rows,
                (SELECT sum({{RowHash}}) FROM {{tables.QualifiedEvents}}
                 WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
                   AND {{RowHash}} IN (SELECT row_hash FROM {{Keys(tables)}} WHERE archive_id = {archive_id:String})) AS checksum,
                (SELECT count() FROM {{tables.QualifiedInternalEvents}}
                 WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
                   AND {{DerivedRowHash}} IN (SELECT derived_hash FROM {{Keys(tables)}} WHERE archive_id = {archive_id:String})) AS derived_rows
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .With("archive_id", "String", ArchiveIdText(archiveId))
            .For("summarize restored rows");

    /// <summary>
    /// Inserts an archive's rows back; every derived column recomputes and the materialized view fires. Only the
    /// workspace's own rows up to the archive's cutoff are taken: the objects are read a second time here, after they
    /// were checked, and an object swapped in between (or forged to match the checksum) must not bring in another
    /// tenant's rows, which the restore's verification would then only see as a mismatch.
    /// </summary>
    public static ClickHouseQuery RestoreInsert(EventTables tables, Guid workspaceId, DateTime cutoff, TableFunctionExpression source, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ClickHouseQuery($$"""
            INSERT INTO {{tables.QualifiedEvents}} ({{StoredColumnList}})
            SELECT {{StoredColumnList}}
            FROM {{source.Sql}}
            WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            """)
            .With(source.Parameters)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .WithSettings(RestoreSettings)
            .WithSettings(source.AccessSettings)
            .WithSetting("max_execution_time", Seconds(timeout))
            .For("insert archived rows");
    }

    /// <summary>
    /// Full-row checksums of a workspace in both tables, over every column, for proving a round trip exact. Rows of
    /// archives whose delete was submitted are left out, so the result does not depend on how far ClickHouse got.
    /// </summary>
    public static ClickHouseQuery WorkspaceChecksums(EventTables tables, Guid workspaceId, IReadOnlyCollection<Guid> archiveIds)
    {
        ArgumentNullException.ThrowIfNull(archiveIds);
        var eventsFilter = archiveIds.Count == 0 ? string.Empty : " AND " + NotArchived(tables, RowHash, "row_hash");
        var internalFilter = archiveIds.Count == 0 ? string.Empty : " AND " + NotArchived(tables, DerivedRowHash, "derived_hash");
        var query = new ClickHouseQuery($$"""
            SELECT
                (SELECT count() FROM {{tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}{{eventsFilter}}) AS event_rows,
                (SELECT sum(cityHash64(event_type, event, toUnixTimestamp64Milli(event_time), message_id, user_id, anonymous_id,
                        user_or_anonymous_id, properties, hidden, toUnixTimestamp64Milli(processing_time),
                        toUnixTimestamp64Milli(server_time), message_raw, workspace_id))
                 FROM {{tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}{{eventsFilter}}) AS event_checksum,
                (SELECT count() FROM {{tables.QualifiedInternalEvents}} WHERE workspace_id = {workspace_id:String}{{internalFilter}}) AS internal_rows,
                (SELECT sum(cityHash64(workspace_id, user_or_anonymous_id, user_id, anonymous_id, message_id, event,
                        toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(processing_time), properties, template_id,
                        broadcast_id, journey_id, triggering_message_id, channel_type, delivery_to, delivery_from,
                        origin_message_id, hidden))
                 FROM {{tables.QualifiedInternalEvents}} WHERE workspace_id = {workspace_id:String}{{internalFilter}}) AS internal_checksum
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("checksum workspace");
        return archiveIds.Count == 0 ? query : query.With(ArchiveIdsParameter(archiveIds));
    }

    /// <summary>A filter that leaves out rows whose hash is among the keys of the archives bound to <c>{archive_ids:Array(String)}</c>.</summary>
    internal static string NotArchived(EventTables tables, string hashExpression, string keyColumn) =>
        $"{hashExpression} NOT IN (SELECT {keyColumn} FROM {Keys(tables)} WHERE archive_id IN {{archive_ids:Array(String)}})";

    /// <summary>The parameter <see cref="NotArchived"/> reads.</summary>
    internal static ClickHouseParameter[] ArchiveIdsParameter(IReadOnlyCollection<Guid> archiveIds) =>
        [new("archive_ids", "Array(String)", archiveIds.Select(ArchiveIdText).ToArray())];

    /// <summary>The text of an archive id as used in keys and object paths.</summary>
    public static string ArchiveIdText(Guid archiveId) => archiveId.ToString("D");

    private static string Keys(EventTables tables) => $"{tables.QuotedDatabase}.`{KeysTable}`";

    private static string Baseline(EventTables tables) => $"{tables.QuotedDatabase}.`{BaselineTable}`";

    private static ClickHouseParameter[] WorkspaceAndCutoff(Guid workspaceId, DateTime cutoff) =>
    [
        new("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId)),
        new("cutoff", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(cutoff, DateTimeKind.Utc)),
    ];

    private static Dictionary<string, string> DeleteSettings(bool synchronous) => synchronous
        ? new() { ["mutations_sync"] = "2", ["lightweight_deletes_sync"] = "2" }
        // As Dittofeed's own deletes: the statement returns at once and ClickHouse applies it in the background.
        : new() { ["mutations_sync"] = "0", ["lightweight_deletes_sync"] = "0" };

    // max_execution_time is in seconds; a sub-second timeout would mean "no limit" if truncated to 0.
    private static string Seconds(TimeSpan timeout) =>
        Math.Max(1, (long)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
