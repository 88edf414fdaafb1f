using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>
/// The statements of a batch: many workspaces archived with one cutoff, each statement covering all of them and
/// answering per workspace, so a fleet of small workspaces costs a few statements rather than a few per workspace.
/// Every answer is grouped by workspace, so each workspace is still verified on its own.
/// </summary>
/// <remarks>
/// The deletes stay exact for the same reason as one workspace's (<see cref="BoundedDeleteSql"/>): the parts are listed
/// for every workspace in one statement, so in one snapshot. A listed part that holds rows of a workspace up to the
/// cutoff held them when listed (parts are immutable), so it was listed for that workspace too, with those rows in its
/// count and checksum. Deleting the batch's workspaces' rows up to the cutoff in the union of their listed parts
/// therefore takes exactly what each workspace's own bound would take, in one mutation per table.
/// </remarks>
public static class BatchSql
{
    /// <summary>Per workspace of the batch: count and checksum of the hot rows up to the cutoff, and of the internal events they derive.</summary>
    public static ClickHouseQuery HotSummaries(EventTables tables, IReadOnlyCollection<Guid> workspaceIds, DateTime cutoff)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($$"""
            SELECT workspace_id, count() AS rows, sum({{ArchiveSql.RowHash}}) AS checksum,
                countIf({{ArchiveSql.DerivesInternalEvent}}) AS derived_rows,
                sumIf({{ArchiveSql.DerivedRowHash}}, {{ArchiveSql.DerivesInternalEvent}}) AS derived_checksum
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id IN {workspace_ids:Array(String)} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            GROUP BY workspace_id
            """)
            .With(WorkspacesAndCutoff(workspaceIds, cutoff))
            .For("summarize hot rows of a batch");
    }

    /// <summary>
    /// Copies every workspace's rows up to the cutoff into its own archive's objects, one per month, in one statement:
    /// the target's pattern is <c>{_partition_id}.parquet</c> under the store's root, and the partition id is the
    /// workspace's archive prefix (<c>workspace_id=…/archive=…/</c>) and <c>month=YYYYMM</c>, so each object lands
    /// exactly where a single archive would have written it.
    /// </summary>
    /// <param name="tables">The hot tables.</param>
    /// <param name="archives">Each workspace and the id of its new archive.</param>
    /// <param name="cutoff">The batch's cutoff.</param>
    /// <param name="target">The store's table function over <c>{_partition_id}.parquet</c>.</param>
    /// <param name="timeout">The statement's bound (<c>max_execution_time</c>).</param>
    public static ClickHouseQuery CopyToArchives(EventTables tables, IReadOnlyList<(Guid WorkspaceId, Guid ArchiveId)> archives, DateTime cutoff, TableFunctionExpression target, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archives);
        ArgumentNullException.ThrowIfNull(target);
        return new ClickHouseQuery($$"""
            INSERT INTO FUNCTION {{target.Sql}}
            PARTITION BY concat('workspace_id=', workspace_id, '/archive=',
                transform(workspace_id, {workspace_ids:Array(String)}, {archive_ids:Array(String)}, ''),
                '/month=', toString(toYYYYMM(processing_time)))
            SELECT {{ArchiveSql.StoredColumnList}}
            FROM {{tables.QualifiedEvents}}
            WHERE workspace_id IN {workspace_ids:Array(String)} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            """)
            .With(WorkspacesAndCutoff([.. archives.Select(a => a.WorkspaceId)], cutoff))
            .With("archive_ids", "Array(String)", archives.Select(a => ArchiveSql.ArchiveIdText(a.ArchiveId)).ToArray())
            .With(target.Parameters)
            .WithSettings(ArchiveSql.ExportSettings)
            .WithSettings(target.WriteSettings)
            .WithSettings(target.AccessSettings)
            .WithSetting("max_execution_time", ArchiveSql.Seconds(timeout))
            .For("copy a batch to its archives");
    }

    /// <summary>
    /// Per workspace: count and checksum of its archive's objects as read back, the internal events they derive, and
    /// how many rows of other workspaces they hold. Each workspace's objects are read through their own table function
    /// (one <c>UNION ALL</c> branch each), so a listing never goes beyond one archive's prefix.
    /// </summary>
    /// <param name="sources">Each workspace and its archive's objects; the expressions' parameter names must differ.</param>
    /// <param name="timeout">The statement's bound.</param>
    public static ClickHouseQuery ArchiveSummaries(IReadOnlyList<(Guid WorkspaceId, TableFunctionExpression Source)> sources, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0)
        {
            throw new ArgumentException("A batch read-back needs at least one archive.", nameof(sources));
        }

        var branches = sources.Select((s, i) =>
            $"SELECT {{member_{i}:String}} AS member, {ArchiveSql.StoredColumnList} FROM {s.Source.Sql}");
        var query = new ClickHouseQuery($$"""
            SELECT member, count() AS rows, sum({{ArchiveSql.RowHash}}) AS checksum,
                countIf({{ArchiveSql.ArchivedDerivesInternalEvent}}) AS derived_rows,
                sumIf({{ArchiveSql.DerivedRowHash}}, {{ArchiveSql.ArchivedDerivesInternalEvent}}) AS derived_checksum,
                countIf(workspace_id != member) AS foreign_rows
            FROM ({{string.Join("\nUNION ALL\n", branches)}})
            GROUP BY member
            """);
        for (var i = 0; i < sources.Count; i++)
        {
            query = query.With($"member_{i}", "String", EventSql.WorkspaceIdText(sources[i].WorkspaceId)).ReadingArchive(sources[i].Source, timeout);
        }

        return query.For("read back a batch's archives");
    }

    /// <summary>
    /// Per workspace and data part (by its name before mutations, <see cref="BoundedDeleteSql.PartOfRow"/>): count and
    /// checksum of the workspace's rows up to the cutoff; for events also the internal events they derive. One snapshot
    /// for every workspace of the batch: what their deletes are bounded by.
    /// </summary>
    public static ClickHouseQuery PartSummaries(EventTables tables, HotTable table, IReadOnlyCollection<Guid> workspaceIds, DateTime cutoff)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var derived = table == HotTable.Events
            ? $", countIf({ArchiveSql.DerivesInternalEvent}) AS derived_rows, sumIf({ArchiveSql.DerivedRowHash}, {ArchiveSql.DerivesInternalEvent}) AS derived_checksum"
            : string.Empty;
        return new ClickHouseQuery($$"""
            SELECT workspace_id, {{BoundedDeleteSql.PartOfRow}} AS part, count() AS rows, sum({{BoundedDeleteSql.HotHash(table)}}) AS checksum{{derived}}
            FROM {{Table(tables, table)}}
            WHERE workspace_id IN {workspace_ids:Array(String)} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
            GROUP BY workspace_id, part
            ORDER BY workspace_id, part
            """)
            .With(WorkspacesAndCutoff(workspaceIds, cutoff))
            .For(table == HotTable.Events ? "list parts of a batch's archived rows" : "list parts of a batch's archived internal events");
    }

    /// <summary>
    /// Deletes the batch's workspaces' rows up to the cutoff in the union of the parts listed for them, in the
    /// background (see the remarks on <see cref="BatchSql"/> for why the union takes exactly each workspace's own).
    /// Only workspaces whose listing matched their archive may be named.
    /// </summary>
    public static ClickHouseQuery DeleteInParts(EventTables tables, HotTable table, IReadOnlyCollection<Guid> workspaceIds, DateTime cutoff, IReadOnlyCollection<string> parts)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0 || workspaceIds.Count == 0)
        {
            throw new ArgumentException("A bounded delete needs at least one workspace and one part.", nameof(parts));
        }

        return new ClickHouseQuery($$"""
            DELETE FROM {{Table(tables, table)}}
            WHERE workspace_id IN {workspace_ids:Array(String)} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}
              AND {{BoundedDeleteSql.PartOfRow}} IN {parts:Array(String)}
            """)
            .With(WorkspacesAndCutoff(workspaceIds, cutoff))
            .With("parts", "Array(String)", parts.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray())
            .WithSettings(new Dictionary<string, string> { ["mutations_sync"] = "0", ["lightweight_deletes_sync"] = "0" })
            .For(table == HotTable.Events ? "delete a batch's archived rows" : "delete a batch's archived internal events");
    }

    /// <summary>
    /// Per workspace, each up to its own archive's cutoff: count and checksum of its hot rows, and of its internal
    /// events (<see cref="ArchiveSql.DerivedRowHash"/>). A batch restore's baseline before it inserts, and its check after.
    /// </summary>
    public static ClickHouseQuery HotSummariesUpTo(EventTables tables, IReadOnlyList<(Guid WorkspaceId, DateTime Cutoff)> archives)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archives);
        const string UpToItsCutoff =
            "workspace_id IN {workspace_ids:Array(String)} AND processing_time <= arrayElement({cutoffs:Array(DateTime64(3, 'UTC'))}, indexOf({workspace_ids:Array(String)}, workspace_id))";
        return new ClickHouseQuery($$"""
            SELECT workspace_id, sum(rows) AS rows, sum(checksum) AS checksum, sum(internal_rows) AS internal_rows, sum(internal_checksum) AS internal_checksum
            FROM (
                SELECT workspace_id, count() AS rows, sum({{ArchiveSql.RowHash}}) AS checksum, toUInt64(0) AS internal_rows, toUInt64(0) AS internal_checksum
                FROM {{tables.QualifiedEvents}} WHERE {{UpToItsCutoff}} GROUP BY workspace_id
                UNION ALL
                SELECT workspace_id, toUInt64(0), toUInt64(0), count(), sum({{ArchiveSql.DerivedRowHash}})
                FROM {{tables.QualifiedInternalEvents}} WHERE {{UpToItsCutoff}} GROUP BY workspace_id)
            GROUP BY workspace_id
            """)
            .With("workspace_ids", "Array(String)", archives.Select(a => EventSql.WorkspaceIdText(a.WorkspaceId)).ToArray())
            .With("cutoffs", "Array(DateTime64(3, 'UTC'))", archives.Select(a => DateTime.SpecifyKind(a.Cutoff, DateTimeKind.Utc)).ToArray())
            .For("summarize a batch's rows up to their cutoffs");
    }

    /// <summary>
    /// Inserts every archive's rows back in one statement: each workspace's objects read through their own table
    /// function, taking only that workspace's rows up to its archive's cutoff (tenant isolation, as a single restore's
    /// insert), with the restore's settings. Every derived column recomputes and the materialized view fires.
    /// </summary>
    public static ClickHouseQuery RestoreInsert(EventTables tables, IReadOnlyList<(Guid WorkspaceId, DateTime Cutoff, TableFunctionExpression Source)> archives, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archives);
        if (archives.Count == 0)
        {
            throw new ArgumentException("A batch restore needs at least one archive.", nameof(archives));
        }

        var branches = archives.Select((a, i) =>
            $"SELECT {ArchiveSql.StoredColumnList} FROM {a.Source.Sql} WHERE workspace_id = {{workspace_{i}:String}} AND processing_time <= {{cutoff_{i}:DateTime64(3, 'UTC')}}");
        var query = new ClickHouseQuery($$"""
            INSERT INTO {{tables.QualifiedEvents}} ({{ArchiveSql.StoredColumnList}})
            {{string.Join("\nUNION ALL\n", branches)}}
            """)
            .WithSettings(ArchiveSql.RestoreSettings);
        for (var i = 0; i < archives.Count; i++)
        {
            query = query
                .With($"workspace_{i}", "String", EventSql.WorkspaceIdText(archives[i].WorkspaceId))
                .With($"cutoff_{i}", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(archives[i].Cutoff, DateTimeKind.Utc))
                .ReadingArchive(archives[i].Source, timeout);
        }

        return query.For("insert a batch's archived rows");
    }

    /// <summary>
    /// The statements whose query id starts with any of <paramref name="prefixes"/> (many workspaces' at once; see
    /// <see cref="ArchiveSql.RunningStatements"/>), on every replica when a cluster is configured.
    /// </summary>
    public static ClickHouseQuery RunningStatements(EventTables tables, IReadOnlyCollection<string> prefixes)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return ArchiveSql.OnCluster(new ClickHouseQuery(
                $"SELECT query_id, elapsed FROM {ArchiveSql.SystemTable(tables, "processes")} WHERE arrayExists(p -> startsWith(query_id, p), {{prefixes:Array(String)}})")
            .With("prefixes", "Array(String)", prefixes.ToArray()), tables)
            .For("find statements earlier holders left running");
    }

    private static ClickHouseParameter[] WorkspacesAndCutoff(IEnumerable<Guid> workspaceIds, DateTime cutoff) =>
    [
        new("workspace_ids", "Array(String)", workspaceIds.Select(EventSql.WorkspaceIdText).ToArray()),
        new("cutoff", "DateTime64(3, 'UTC')", DateTime.SpecifyKind(cutoff, DateTimeKind.Utc)),
    ];

    private static string Table(EventTables tables, HotTable table) =>
        table == HotTable.Events ? tables.QualifiedEvents : tables.QualifiedInternalEvents;
}
