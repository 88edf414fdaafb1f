using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>
/// DDL for Dittofeed-compatible event tables, written from the facts in Dittofeed's schema.
/// Every statement is <c>IF NOT EXISTS</c>: <c>init</c> creates what is missing and never alters what exists.
/// </summary>
public static class SchemaSql
{
    // The stored columns and their types in the events table, written once for both lists below.
    private static readonly (string Name, string Type)[] StoredColumnTypes =
    [
        ("message_raw", "String"), ("processing_time", "DateTime64(3)"), ("workspace_id", "String"),
        ("message_id", "String"), ("server_time", "DateTime64(3)"),
    ];

    /// <summary>The five columns that carry information; every other column of the events table derives from them.</summary>
    public static readonly IReadOnlyList<string> StoredColumns = [.. StoredColumnTypes.Select(c => c.Name)];

    /// <summary>
    /// The stored columns with their types, as every read of archive objects names them: reads never depend on the
    /// server's schema inference, which differs by version (24.12 makes inferred columns Nullable).
    /// </summary>
    public static readonly string StoredColumnsStructure = string.Join(", ", StoredColumnTypes.Select(c => $"{c.Name} {c.Type}"));

    /// <summary>Every column of the events table that Coldstore copies or the materialized view reads.</summary>
    public static readonly IReadOnlyList<string> RequiredColumns =
    [
        "event_type", "event", "event_time", "message_id", "user_id", "anonymous_id", "user_or_anonymous_id",
        "properties", "hidden", "processing_time", "server_time", "message_raw", "workspace_id",
    ];

    /// <summary>The statements that create the database and the events table; run before checking an existing table.</summary>
    public static IReadOnlyList<ClickHouseQuery> CreateDatabaseAndEvents(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return
        [
            new ClickHouseQuery($"CREATE DATABASE IF NOT EXISTS {tables.QuotedDatabase}").For("create database"),
            CreateEvents(tables),
        ];
    }

    /// <summary>The statements that create what derives from the events table; run only once it has the required columns.</summary>
    public static IReadOnlyList<ClickHouseQuery> CreateDerived(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return [CreateInternalEvents(tables), CreateInternalEventsView(tables), .. DropRetiredTables(tables)];
    }

    /// <summary>The tables earlier versions kept in ClickHouse, on one node only; nothing reads them any more.</summary>
    public static readonly IReadOnlyList<string> RetiredTables = ["coldstore_archive_keys", "coldstore_restore_baseline"];

    /// <summary>
    /// Drops the tables of <see cref="RetiredTables"/>: Coldstore keeps nothing in ClickHouse but the events, so there
    /// is nothing to replicate or to create <c>ON CLUSTER</c>.
    /// </summary>
    public static IReadOnlyList<ClickHouseQuery> DropRetiredTables(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return [.. RetiredTables.Select(name => new ClickHouseQuery($"DROP TABLE IF EXISTS {tables.QuotedDatabase}.`{name}`").For("drop retired table " + name))];
    }

    /// <summary>Every statement <c>init</c> runs, in order.</summary>
    public static IReadOnlyList<ClickHouseQuery> CreateAll(EventTables tables) => [.. CreateDatabaseAndEvents(tables), .. CreateDerived(tables)];

    /// <summary>The hot events table. Derived columns recompute from <c>message_raw</c> when a row is inserted with only the stored columns.</summary>
    public static ClickHouseQuery CreateEvents(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        const string EventTypeEnum = "Enum8('identify' = 1, 'track' = 2, 'page' = 3, 'screen' = 4, 'group' = 5, 'alias' = 6)";
        return new ClickHouseQuery($"""
            CREATE TABLE IF NOT EXISTS {tables.QualifiedEvents}
            (
                event_type {EventTypeEnum} DEFAULT JSONExtract(message_raw, 'type', '{EventTypeEnum.Replace("'", "\\'", StringComparison.Ordinal)}'),
                event String DEFAULT JSONExtractString(message_raw, 'event'),
                event_time DateTime64(3) DEFAULT assumeNotNull(parseDateTime64BestEffortOrNull(JSONExtractString(message_raw, 'timestamp'), 3)),
                message_id String,
                user_id String DEFAULT JSONExtractString(message_raw, 'userId'),
                anonymous_id String DEFAULT JSONExtractString(message_raw, 'anonymousId'),
                user_or_anonymous_id String DEFAULT if(JSONHas(message_raw, 'userId'), JSONExtractString(message_raw, 'userId'), JSONExtractString(message_raw, 'anonymousId')),
                properties String DEFAULT if(JSONHas(message_raw, 'traits'), JSONExtractRaw(message_raw, 'traits'), JSONExtractRaw(message_raw, 'properties')),
                hidden Bool DEFAULT JSONExtractBool(message_raw, 'context', 'hidden'),
                processing_time DateTime64(3) DEFAULT now64(3),
                server_time DateTime64(3),
                message_raw String,
                workspace_id String,
                INDEX message_id_idx message_id TYPE bloom_filter(0.01) GRANULARITY 4
            )
            ENGINE = MergeTree
            ORDER BY (workspace_id, processing_time, user_or_anonymous_id, event_time, message_id)
            """).For("create events table");
    }

    /// <summary>The derived internal events table, filled only by the materialized view.</summary>
    public static ClickHouseQuery CreateInternalEvents(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($"""
            CREATE TABLE IF NOT EXISTS {tables.QualifiedInternalEvents}
            (
                workspace_id String,
                user_or_anonymous_id String,
                user_id String,
                anonymous_id String,
                message_id String,
                event String,
                event_time DateTime64(3),
                processing_time DateTime64(3),
                properties String,
                template_id String,
                broadcast_id String,
                journey_id String,
                triggering_message_id String,
                channel_type String,
                delivery_to String,
                delivery_from String,
                origin_message_id String,
                hidden Bool,
                INDEX template_id_idx template_id TYPE bloom_filter(0.01) GRANULARITY 4,
                INDEX broadcast_id_idx broadcast_id TYPE bloom_filter(0.01) GRANULARITY 4,
                INDEX journey_id_idx journey_id TYPE bloom_filter(0.01) GRANULARITY 4
            )
            ENGINE = MergeTree
            ORDER BY (workspace_id, processing_time, event, user_or_anonymous_id, message_id)
            """).For("create internal events table");
    }

    /// <summary>The view that copies Dittofeed's own <c>DF…</c> track events into internal events, extracting ids from properties.</summary>
    public static ClickHouseQuery CreateInternalEventsView(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {tables.QualifiedInternalEventsView} TO {tables.QualifiedInternalEvents}
            AS SELECT
                workspace_id,
                user_or_anonymous_id,
                user_id,
                anonymous_id,
                message_id,
                event,
                event_time,
                processing_time,
                properties,
                JSONExtractString(properties, 'templateId') AS template_id,
                JSONExtractString(properties, 'broadcastId') AS broadcast_id,
                JSONExtractString(properties, 'journeyId') AS journey_id,
                JSONExtractString(properties, 'triggeringMessageId') AS triggering_message_id,
                JSONExtractString(properties, 'variant', 'type') AS channel_type,
                JSONExtractString(properties, 'variant', 'to') AS delivery_to,
                JSONExtractString(properties, 'variant', 'from') AS delivery_from,
                JSONExtractString(properties, 'messageId') AS origin_message_id,
                hidden
            FROM {tables.QualifiedEvents}
            WHERE event_type = 'track' AND startsWith(event, 'DF')
            """).For("create internal events view");
    }

    /// <summary>1 when the events table exists, else 0.</summary>
    public static ClickHouseQuery EventsTableExists(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery("SELECT count() FROM system.tables WHERE database = {database:String} AND name = {table:String}")
            .With("database", "String", tables.Database)
            .With("table", "String", tables.Events)
            .For("check events table exists");
    }

    /// <summary>
    /// Which of the required columns the existing events table lacks. <c>init</c> refuses to go on with an
    /// events table it did not create and cannot work with, rather than altering it.
    /// </summary>
    public static ClickHouseQuery MissingColumns(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery("""
            SELECT arrayJoin({required:Array(String)}) AS name
            WHERE name NOT IN (SELECT name FROM system.columns WHERE database = {database:String} AND table = {table:String})
            ORDER BY name
            """)
            .With("required", "Array(String)", RequiredColumns.ToArray())
            .With("database", "String", tables.Database)
            .With("table", "String", tables.Events)
            .For("check events table columns");
    }
}

/// <summary>
/// Which table engines Coldstore can archive from and restore into: the plain, replicated and shared MergeTree. The
/// others would change what a restore means (Replacing, Collapsing, Summing and Aggregating MergeTree merge rows away)
/// or cannot take a lightweight delete at all (a Distributed table: its deletes go to the local tables).
/// </summary>
public static class TableEngines
{
    /// <summary>The engines Coldstore supports.</summary>
    public static readonly IReadOnlyList<string> Supported = ["MergeTree", "ReplicatedMergeTree", "SharedMergeTree"];

    /// <summary>The engines of the events and internal events tables, as <c>system.tables</c> has them.</summary>
    public static ClickHouseQuery Read(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery("""
            SELECT name, engine, engine_full
            FROM system.tables
            WHERE database = {database:String} AND name IN ({events:String}, {internal:String})
            ORDER BY name
            """)
            .With("database", "String", tables.Database)
            .With("events", "String", tables.Events)
            .With("internal", "String", tables.InternalEvents)
            .For("read table engines");
    }

    /// <summary>
    /// Null when <paramref name="engine"/> is supported, else the problem and what to do, in words for one line.
    /// </summary>
    /// <param name="qualifiedTable">The table, as <c>database.table</c>.</param>
    /// <param name="engine">Its engine (<c>system.tables.engine</c>).</param>
    /// <param name="engineFull">Its engine clause with arguments (<c>system.tables.engine_full</c>).</param>
    public static string? Problem(string qualifiedTable, string engine, string engineFull)
    {
        if (Supported.Contains(engine, StringComparer.Ordinal))
        {
            return null;
        }

        if (engine == "Distributed")
        {
            // Distributed('cluster', 'database', 'table'[, sharding key …]).
            var arguments = System.Text.RegularExpressions.Regex.Match(engineFull ?? string.Empty,
                @"^Distributed\(\s*'(?<cluster>[^']*)'\s*,\s*'(?<database>[^']*)'\s*,\s*'(?<table>[^']*)'");
            var local = arguments.Success ? $"{arguments.Groups["database"].Value}.{arguments.Groups["table"].Value}" : "its local table";
            var cluster = arguments.Success ? $"'{arguments.Groups["cluster"].Value}'" : "its cluster";
            return $"{qualifiedTable} is a Distributed table, which a lightweight delete cannot reach through; point Coldstore at the local table {local} on every shard of cluster {cluster} (COLDSTORE_CLICKHOUSE_DATABASE and the table names) instead";
        }

        return $"{qualifiedTable} uses the {engine} engine; Coldstore archives and restores only {string.Join(", ", Supported)} tables (other engines merge rows away or cannot delete them)";
    }
}
