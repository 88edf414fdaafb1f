using Coldstore.Domain;
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
    /// <summary>The hash of one events row over the five stored columns.</summary>
    public const string RowHash =
        "cityHash64(message_raw, toUnixTimestamp64Milli(processing_time), workspace_id, message_id, toUnixTimestamp64Milli(server_time))";

    /// <summary>The hash that identifies the <c>internal_events</c> row derived from an events row.</summary>
    public const string DerivedRowHash = "cityHash64(message_id, toUnixTimestamp64Milli(processing_time))";

    /// <summary>
    /// The hash of the columns an internal event copies from the events row it derives from (the view copies them as they
    /// are, <c>hidden</c> and the times included), computable on both tables: which hot event, if any, owns an internal
    /// event. Two events that share a message id and a millisecond (<see cref="DerivedRowHash"/>) still differ here
    /// unless every copied column is equal.
    /// </summary>
    public const string OwnerHash =
        "cityHash64(workspace_id, message_id, toUnixTimestamp64Milli(processing_time), user_or_anonymous_id, user_id, anonymous_id, event, toUnixTimestamp64Milli(event_time), properties, hidden)";

    /// <summary>Rows the materialized view turns into internal events.</summary>
    public const string DerivesInternalEvent = "event_type = 'track' AND startsWith(event, 'DF')";

    /// <summary>
    /// <see cref="DerivesInternalEvent"/> for rows read from an archive, which holds only the five stored columns:
    /// <c>event_type</c> and <c>event</c> are the table's defaults over <c>message_raw</c>, computed here the same way.
    /// </summary>
    public const string ArchivedDerivesInternalEvent =
        "JSONExtractString(message_raw, 'type') = 'track' AND startsWith(JSONExtractString(message_raw, 'event'), 'DF')";

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
        // Bounded memory (measured on chDB 26.7 for a 1,000,000-row chunk, view on: 672 MB tracked with 100,000-row
        // blocks, about 460 MB with these): small read and insert blocks, and smaller still into the view.
        ["max_block_size"] = "32768",
        ["input_format_parquet_max_block_size"] = "32768",
        ["min_insert_block_size_rows"] = "65536",
        ["max_insert_block_size"] = "65536",
        ["min_insert_block_size_bytes"] = "33554432",
        ["min_insert_block_size_rows_for_materialized_views"] = "16384",
        ["min_insert_block_size_bytes_for_materialized_views"] = "16777216",
        ["input_format_parquet_memory_high_watermark"] = "67108864",
    };

    /// <summary>The ClickHouse server's clock, in epoch milliseconds. The cutoff must come from the clock that stamps <c>processing_time</c>.</summary>
    public static ClickHouseQuery ServerNow() =>
        new ClickHouseQuery("SELECT toUnixTimestamp64Milli(now64(3)) AS now_ms").For("read server clock");

    /// <summary>
    /// Count and checksum of the hot rows an archive with this cutoff takes, and of the internal events they derive
    /// (<see cref="DerivedRowHash"/> summed over the rows the view turns into one).
    /// </summary>
    public static ClickHouseQuery HotSummary(EventTables tables, Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk = null) =>
        new ClickHouseQuery($$"""
            SELECT count() AS rows, sum({{RowHash}}) AS checksum,
                countIf({{DerivesInternalEvent}}) AS derived_rows, sumIf({{DerivedRowHash}}, {{DerivesInternalEvent}}) AS derived_checksum
            FROM {{tables.QualifiedEvents}}
            WHERE {{RowsOf(chunk)}}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .For("summarize hot rows");

    /// <summary>Count and checksum (<see cref="DerivedRowHash"/>) of the workspace's internal events up to the cutoff.</summary>
    public static ClickHouseQuery InternalSummary(EventTables tables, Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk = null) =>
        new ClickHouseQuery($$"""
            SELECT count() AS rows, sum({{DerivedRowHash}}) AS checksum
            FROM {{tables.QualifiedInternalEvents}}
            WHERE {{RowsOf(chunk)}}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .For("summarize internal events");

    /// <summary>
    /// The workspace's rows up to the cutoff per month of <c>processing_time</c> in UTC (<c>yyyyMM</c>), ascending: what
    /// an archive of a large workspace is split into chunks by (<see cref="ArchiveChunk.Plan"/>).
    /// </summary>
    public static ClickHouseQuery RowsPerMonth(EventTables tables, Guid workspaceId, DateTime cutoff) =>
        new ClickHouseQuery($$"""
            SELECT toUInt32(toYYYYMM(processing_time, 'UTC')) AS month, count() AS rows
            FROM {{tables.QualifiedEvents}}
            WHERE {{RowsOf(null)}}
            GROUP BY month
            ORDER BY month
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff))
            .For("count rows per month");

    /// <summary>How many of the workspace's rows up to the cutoff are in a chunk (reads only the columns the chunk is cut by).</summary>
    public static ClickHouseQuery CountRows(EventTables tables, Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk) =>
        new ClickHouseQuery($$"""
            SELECT count() AS rows
            FROM {{tables.QualifiedEvents}}
            WHERE {{RowsOf(chunk)}}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .For("count rows of a chunk");

    /// <summary>
    /// Copies the workspace's rows up to the cutoff into one Parquet object per month of <c>processing_time</c>.
    /// The target's pattern must contain <c>{_partition_id}</c>; its write settings make a rerun overwrite the same objects.
    /// </summary>
    public static ClickHouseQuery CopyToArchive(EventTables tables, Guid workspaceId, DateTime cutoff, TableFunctionExpression target, TimeSpan timeout, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new ClickHouseQuery($$"""
            INSERT INTO FUNCTION {{target.Sql}}
            PARTITION BY toYYYYMM(processing_time)
            SELECT {{StoredColumnList}}
            FROM {{tables.QualifiedEvents}}
            WHERE {{RowsOf(chunk)}}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff, chunk))
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
            SELECT count() AS rows, sum({{RowHash}}) AS checksum,
                countIf({{ArchivedDerivesInternalEvent}}) AS derived_rows, sumIf({{DerivedRowHash}}, {{ArchivedDerivesInternalEvent}}) AS derived_checksum,
                countIf(workspace_id != {workspace_id:String}) AS foreign_rows
            FROM {{source.Sql}}
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .ReadingArchive(source, timeout)
            .For("read back archive");
    }

    /// <summary>
    /// The statements the server is running whose query id starts with <paramref name="prefix"/> (one workspace's), on
    /// every replica of the tables' cluster when one is configured.
    /// </summary>
    public static ClickHouseQuery RunningStatements(EventTables tables, string prefix) =>
        OnCluster(new ClickHouseQuery($"SELECT query_id, elapsed FROM {SystemTable(tables, "processes")} WHERE startsWith(query_id, {{prefix:String}})")
            .With("prefix", "String", prefix), tables)
            .For("find statements an earlier holder left running");

    /// <summary>
    /// Cancels the statements whose query id starts with <paramref name="prefix"/> (<c>ON CLUSTER</c> when one is
    /// configured). ASYNC: the caller polls <see cref="RunningStatements"/> until they are gone, with its own bound,
    /// instead of holding a request open.
    /// </summary>
    public static ClickHouseQuery KillStatements(EventTables tables, string prefix)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var onCluster = tables.Cluster is { } cluster ? $" ON CLUSTER `{cluster}`" : string.Empty;
        return new ClickHouseQuery($"KILL QUERY{onCluster} WHERE startsWith(query_id, {{prefix:String}}) ASYNC")
            .With("prefix", "String", prefix)
            .For("kill statements an earlier holder left running");
    }

    /// <summary>
    /// The inserts into the events table that started at or before <paramref name="cutoff"/> and are still running, and
    /// the asynchronous inserts into it queued since then: the writes whose rows may carry a <c>processing_time</c> up
    /// to the cutoff and commit after it. An archive waits for these before copying, instead of a fixed window.
    /// </summary>
    /// <remarks>
    /// <c>system.processes</c> has no table column, so an insert is matched by the table's name in its text, which errs
    /// towards waiting (an insert into a table of a similar name only delays the copy). Statements under
    /// <paramref name="ownPrefix"/> are Coldstore's own on these tables (restores of other workspaces): their rows are
    /// another workspace's and the lease keeps them off the one being archived. On a cluster, every replica is asked;
    /// a replica's start time comes from its own clock, so clock skew is covered by the copy's count checks, not here.
    /// </remarks>
    public static ClickHouseQuery InsertsInFlight(EventTables tables, DateTime cutoff, string ownPrefix)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return OnCluster(new ClickHouseQuery($$"""
            SELECT
                (SELECT count() FROM {{SystemTable(tables, "processes")}}
                 WHERE query_kind = 'Insert' AND positionCaseInsensitive(query, {events:String}) > 0
                   AND NOT startsWith(query_id, {own_prefix:String})
                   AND elapsed * 1000 >= dateDiff('millisecond', {cutoff:DateTime64(3, 'UTC')}, now64(3))) AS inserts,
                (SELECT count() FROM {{SystemTable(tables, "asynchronous_inserts")}}
                 WHERE database = {database:String} AND table = {events:String} AND first_update <= {cutoff:DateTime64(3, 'UTC')}) AS queued
            """)
            .With("database", "String", tables.Database)
            .With("events", "String", tables.Events)
            .With("own_prefix", "String", ownPrefix)
            .With("cutoff", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(cutoff, DateTimeKind.Utc)), tables)
            .For("find inserts in flight at the cutoff");
    }

    /// <summary>Unfinished mutations (deletes) touching the workspace on the events or internal events tables.</summary>
    public static ClickHouseQuery PendingDeletes(EventTables tables, Guid workspaceId) =>
        UnfinishedMutations(new ClickHouseQuery($$"""
            SELECT count() AS pending, any(latest_fail_reason) AS fail_reason
            FROM {{SystemTable(tables, "mutations")}}
            WHERE {{UnfinishedMutationOfTheTables}} AND position(command, {workspace_id:String}) > 0
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId)), tables)
            .For("check pending deletes");

    /// <summary>
    /// Unfinished mutations of the events and internal events tables counted per workspace id they name, in one
    /// statement for the whole fleet: a delete's text carries its workspace id as a literal (the server writes bound
    /// values into <c>system.mutations.command</c>), and a mutation naming several ids counts for each.
    /// </summary>
    public static ClickHouseQuery PendingDeletesByWorkspace(EventTables tables) =>
        UnfinishedMutations(new ClickHouseQuery($$"""
            SELECT workspace_id, count() AS pending
            FROM {{SystemTable(tables, "mutations")}}
            ARRAY JOIN arrayDistinct(extractAll(command, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')) AS workspace_id
            WHERE {{UnfinishedMutationOfTheTables}}
            GROUP BY workspace_id
            """), tables)
            .For("check pending deletes of every workspace");

    /// <summary>
    /// The unfinished mutations of one table, everyone's: the count ClickHouse compares with
    /// <c>number_of_mutations_to_delay</c>. On a cluster, the count of the replica that has the most.
    /// </summary>
    public static ClickHouseQuery UnfinishedMutationsOfTable(EventTables tables, string table)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return OnCluster(new ClickHouseQuery($$"""
            SELECT toInt64(max(unfinished)) AS unfinished
            FROM (SELECT hostName() AS host, count() AS unfinished FROM {{SystemTable(tables, "mutations")}}
                  WHERE database = {database:String} AND table = {table:String} AND is_done = 0 GROUP BY host)
            """)
            .With("database", "String", tables.Database)
            .With("table", "String", table), tables)
            .For("count the table's unfinished mutations");
    }

    /// <summary>A <c>system.mutations</c> row of the events or internal events table that has not finished.</summary>
    private const string UnfinishedMutationOfTheTables =
        "database = {database:String} AND table IN ({events:String}, {internal:String}) AND is_done = 0";

    /// <summary>Binds what <see cref="UnfinishedMutationOfTheTables"/> names, and the cluster when there is one.</summary>
    private static ClickHouseQuery UnfinishedMutations(ClickHouseQuery query, EventTables tables) =>
        OnCluster(query
            .With("database", "String", tables.Database)
            .With("events", "String", tables.Events)
            .With("internal", "String", tables.InternalEvents), tables);

    /// <summary>
    /// Inserts an archive's rows back; every derived column recomputes and the materialized view fires. Only the
    /// workspace's own rows up to the archive's cutoff are taken: the objects are read a second time here, after they
    /// were checked, and an object swapped in between (or forged to match the checksum) must not bring in another
    /// tenant's rows, which the restore's verification would then only see as a mismatch.
    /// </summary>
    public static ClickHouseQuery RestoreInsert(EventTables tables, Guid workspaceId, DateTime cutoff, TableFunctionExpression source, TimeSpan timeout, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ClickHouseQuery($$"""
            INSERT INTO {{tables.QualifiedEvents}} ({{StoredColumnList}})
            SELECT {{StoredColumnList}}
            FROM {{source.Sql}}
            WHERE {{RowsOf(chunk)}}
            """)
            .With(WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .WithSettings(RestoreSettings)
            .ReadingArchive(source, timeout)
            .For("insert archived rows");
    }

    /// <summary>Full-row checksums of a workspace in both tables, over every column, for proving a round trip exact.</summary>
    public static ClickHouseQuery WorkspaceChecksums(EventTables tables, Guid workspaceId) =>
        new ClickHouseQuery($$"""
            SELECT
                (SELECT count() FROM {{tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}) AS event_rows,
                (SELECT sum(cityHash64(event_type, event, toUnixTimestamp64Milli(event_time), message_id, user_id, anonymous_id,
                        user_or_anonymous_id, properties, hidden, toUnixTimestamp64Milli(processing_time),
                        toUnixTimestamp64Milli(server_time), message_raw, workspace_id))
                 FROM {{tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}) AS event_checksum,
                (SELECT count() FROM {{tables.QualifiedInternalEvents}} WHERE workspace_id = {workspace_id:String}) AS internal_rows,
                (SELECT sum(cityHash64(workspace_id, user_or_anonymous_id, user_id, anonymous_id, message_id, event,
                        toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(processing_time), properties, template_id,
                        broadcast_id, journey_id, triggering_message_id, channel_type, delivery_to, delivery_from,
                        origin_message_id, hidden))
                 FROM {{tables.QualifiedInternalEvents}} WHERE workspace_id = {workspace_id:String}) AS internal_checksum
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("checksum workspace");

    /// <summary>The text of an archive id as used in keys and object paths.</summary>
    public static string ArchiveIdText(Guid archiveId) => archiveId.ToString("D");

    /// <summary><c>system.{table}</c>, or every replica's when the tables' cluster is configured (<c>{cluster:String}</c>).</summary>
    internal static string SystemTable(EventTables tables, string table) =>
        tables.Cluster is null ? $"system.{table}" : $"clusterAllReplicas({{cluster:String}}, system.{table})";

    /// <summary>Binds the cluster <see cref="SystemTable"/> names, when there is one.</summary>
    internal static ClickHouseQuery OnCluster(ClickHouseQuery query, EventTables tables) =>
        tables.Cluster is { } cluster ? query.With("cluster", "String", cluster) : query;

    /// <summary>
    /// What every statement that reads archive objects carries: the table function's parameters, no hive partitioning
    /// (see <see cref="ReadArchiveSettings"/>), the store's access settings (its S3 timeouts and retries) and a bound on
    /// how long the statement may run.
    /// </summary>
    internal static ClickHouseQuery ReadingArchive(this ClickHouseQuery query, TableFunctionExpression archive, TimeSpan timeout) =>
        query.With(archive.Parameters)
            .WithSettings(ReadArchiveSettings)
            .WithSettings(archive.AccessSettings)
            .WithSetting("max_execution_time", Seconds(timeout));

    /// <summary>
    /// The rows an archive takes: the workspace's up to the cutoff and, for a chunk of a large workspace, those of its
    /// <c>processing_time</c> range and hash bucket (see <see cref="ArchiveChunk"/>). Its parameters are
    /// <see cref="WorkspaceAndCutoff"/>'s. Deterministic and without a subquery, so a mutation may carry it.
    /// </summary>
    public static string RowsOf(ArchiveChunk? chunk) => chunk switch
    {
        null => UpToCutoff,
        { Buckets: 1 } => $"{UpToCutoff} AND {InChunkRange}",
        _ => $"{UpToCutoff} AND {InChunkRange} AND {DerivedRowHash} % {{chunk_buckets:UInt32}} = {{chunk_bucket:UInt32}}",
    };

    private const string UpToCutoff = "workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}";

    private const string InChunkRange =
        "processing_time >= {chunk_from:DateTime64(3, 'UTC')} AND processing_time < {chunk_until:DateTime64(3, 'UTC')}";

    /// <summary>The parameters of <see cref="RowsOf"/>.</summary>
    internal static ClickHouseParameter[] WorkspaceAndCutoff(Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk = null)
    {
        List<ClickHouseParameter> parameters =
        [
            new("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId)),
            new("cutoff", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(cutoff, DateTimeKind.Utc)),
        ];
        if (chunk is not null)
        {
            parameters.Add(new("chunk_from", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(chunk.From, DateTimeKind.Utc)));
            parameters.Add(new("chunk_until", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(chunk.Until, DateTimeKind.Utc)));
            if (chunk.Buckets > 1)
            {
                parameters.Add(new("chunk_bucket", "UInt32", (uint)chunk.Bucket));
                parameters.Add(new("chunk_buckets", "UInt32", (uint)chunk.Buckets));
            }
        }

        return [.. parameters];
    }

    // max_execution_time is in seconds; a sub-second timeout would mean "no limit" if truncated to 0.
    internal static string Seconds(TimeSpan timeout) =>
        Math.Max(1, (long)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
