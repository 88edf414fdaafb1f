using Coldstore.Domain;
using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>The two tables an archive removes rows from.</summary>
public enum HotTable
{
    /// <summary><c>user_events_v2</c>: the archived rows themselves.</summary>
    Events,

    /// <summary><c>internal_events</c>: the rows its materialized view derived from archived rows.</summary>
    InternalEvents,
}

/// <summary>
/// The statements that delete an archive's rows from the hot tables without a subquery or a non-deterministic
/// function, so every MergeTree family accepts them (a replicated or shared table validates each mutation and refuses
/// both with code 36). A delete is bounded by data parts, which are immutable:
/// <list type="number">
/// <item>one <c>SELECT … GROUP BY _part</c> lists the parts holding the workspace's rows up to the cutoff, with a count
/// and checksum per part; only when their sum is the archive's (every such row is archived, and no other) are
/// they deleted, with <c>workspace_id = … AND processing_time &lt;= cutoff AND _part IN (…)</c>;</item>
/// <item>a part created later (an insert, or a merge) is not in the list, so a row that arrives after the listing is
/// never deleted; a merge can also move listed rows into a new part before the delete reaches them, so once the
/// delete has applied a check finds any archived row still hot (by its hash, against the archive's objects: a
/// SELECT may have a subquery) and deletes it by part, or by part and a literal list of hashes where the part also
/// holds rows that are not archived.</item>
/// </list>
/// </summary>
public static class BoundedDeleteSql
{
    /// <summary>
    /// A row's data part by the name it had before any mutation: <c>{partition}_{min}_{max}_{level}</c>, without the
    /// <c>_{mutation}</c> a mutation appends. Any mutation of the table (another workspace's delete, Dittofeed's own)
    /// renames every part it rewrites, so a bound by <c>_part</c> itself would miss a part that another delete reached
    /// first; the name without the mutation version changes only when a merge makes a new part.
    /// </summary>
    public const string PartOfRow = "arrayStringConcat(arraySlice(splitByChar('_', _part), 1, 4), '_')";

    /// <summary>
    /// Per data part: the count and checksum of the workspace's rows up to the cutoff, the listing a delete is bounded
    /// by; for events also the count and checksum of the internal events those rows derive.
    /// </summary>
    public static ClickHouseQuery PartSummaries(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        // For events, the internal events the listed rows derive come with them, in the same snapshot.
        var derived = table == HotTable.Events
            ? $", countIf({ArchiveSql.DerivesInternalEvent}) AS derived_rows, sumIf({ArchiveSql.DerivedRowHash}, {ArchiveSql.DerivesInternalEvent}) AS derived_checksum"
            : string.Empty;
        return new ClickHouseQuery($$"""
            SELECT {{PartOfRow}} AS part, count() AS rows, sum({{HotHash(table)}}) AS checksum{{derived}}
            FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
            GROUP BY part
            ORDER BY part
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .For(table == HotTable.Events ? "list parts of archived rows" : "list parts of archived internal events");
    }

    /// <summary>
    /// Deletes the workspace's rows up to the cutoff in the listed parts. Asynchronous unless <paramref name="synchronous"/>:
    /// as Dittofeed's own deletes, the statement returns at once and ClickHouse applies it in the background.
    /// </summary>
    public static ClickHouseQuery DeleteInParts(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, IReadOnlyCollection<string> parts, bool synchronous, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("A bounded delete needs at least one part.", nameof(parts));
        }

        return new ClickHouseQuery($$"""
            DELETE FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
              AND {{PartOfRow}} IN {parts:Array(String)}
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .With("parts", "Array(String)", parts.ToArray())
            .WithSettings(DeleteSettings(synchronous))
            .For(table == HotTable.Events ? "delete archived rows" : "delete archived internal events");
    }

    /// <summary>
    /// Deletes, in one part, the workspace's rows up to the cutoff whose hash is (or, with <paramref name="keep"/>, is
    /// not) in a literal list: for a part that holds archived rows beside rows that are not, the smaller side is listed.
    /// Synchronous: it runs only as a repair, after the bounded delete, and its effect is checked at once.
    /// </summary>
    public static ClickHouseQuery DeleteInPartByHash(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, string part, IReadOnlyCollection<ulong> hashes, bool keep, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentException.ThrowIfNullOrEmpty(part);
        ArgumentNullException.ThrowIfNull(hashes);
        var operation = keep ? "NOT IN" : "IN";
        return new ClickHouseQuery($$"""
            DELETE FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
              AND {{PartOfRow}} = {part:String} AND {{RowIdentity(table)}} {{operation}} {hashes:Array(UInt64)}
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .With("part", "String", part)
            .With("hashes", "Array(UInt64)", hashes.ToArray())
            .WithSettings(DeleteSettings(synchronous: true))
            .For(table == HotTable.Events ? "delete archived rows left in a merged part" : "delete archived internal events left in a merged part");
    }

    /// <summary>
    /// Per data part: how many of the workspace's rows up to the cutoff there are, and how many of them are an
    /// archive's (their hash is among the hashes of the archive's objects). Reads the archive.
    /// </summary>
    public static ClickHouseQuery ArchivedRowsByPart(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, TableFunctionExpression archive, TimeSpan timeout, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archive);
        return new ClickHouseQuery($$"""
            SELECT {{PartOfRow}} AS part, count() AS rows, countIf({{IsArchived(tables, table, archive, chunk)}}) AS archived
            FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
            GROUP BY part
            ORDER BY part
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .ReadingArchive(archive, timeout)
            .For(table == HotTable.Events ? "find archived rows still hot" : "find archived internal events still hot");
    }

    /// <summary>
    /// The distinct hashes of the workspace's rows up to the cutoff in one part that are (or, with
    /// <paramref name="archived"/> false, are not) an archive's, at most <paramref name="limit"/> + 1 of them.
    /// </summary>
    public static ClickHouseQuery HashesInPart(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, string part, TableFunctionExpression archive, bool archived, int limit, TimeSpan timeout, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archive);
        return new ClickHouseQuery($$"""
            SELECT DISTINCT {{RowIdentity(table)}} AS hash
            FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
              AND {{PartOfRow}} = {part:String} AND {{(archived ? "" : "NOT ")}}({{IsArchived(tables, table, archive, chunk)}})
            LIMIT {limit:UInt32}
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .With("part", "String", part)
            .With("limit", "UInt32", (uint)limit + 1)
            .ReadingArchive(archive, timeout)
            .For("list hashes of a merged part");
    }

    /// <summary>
    /// How many of the workspace's rows up to the cutoff are an archive's: before a restore, the copies already hot (a
    /// replay identical to archived rows), which leftover removal must never take.
    /// </summary>
    public static ClickHouseQuery ArchivedRowsHot(EventTables tables, HotTable table, Guid workspaceId, DateTime cutoff, TableFunctionExpression archive, TimeSpan timeout, ArchiveChunk? chunk = null)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(archive);
        return new ClickHouseQuery($$"""
            SELECT count() AS rows
            FROM {{Table(tables, table)}}
            WHERE {{ArchiveSql.RowsOf(chunk)}}
              AND {{IsArchived(tables, table, archive, chunk)}}
            """)
            .With(ArchiveSql.WorkspaceAndCutoff(workspaceId, cutoff, chunk))
            .ReadingArchive(archive, timeout)
            .For(table == HotTable.Events ? "count archived rows already hot" : "count archived internal events already hot");
    }

    /// <summary>The hash a table's rows are identified by: the five stored columns, or the derived row's message id and time.</summary>
    public static string HotHash(HotTable table) => table == HotTable.Events ? ArchiveSql.RowHash : ArchiveSql.DerivedRowHash;

    /// <summary>
    /// The hash a repair lists the rows of a merged part by: the five stored columns for events; for internal events the
    /// columns the view copies (<see cref="ArchiveSql.OwnerHash"/>), which tell an archived internal event from a later
    /// one with the same message id and millisecond that the same part holds (<see cref="HotHash"/> cannot).
    /// </summary>
    public static string RowIdentity(HotTable table) => table == HotTable.Events ? ArchiveSql.RowHash : ArchiveSql.OwnerHash;

    /// <summary>
    /// True for a hot row that is one of the archive's: its hash is among the archive's rows' hashes. An internal event
    /// is known to the archive only by its message id and time (<see cref="ArchiveSql.DerivedRowHash"/>), which a later,
    /// different event can share; so an internal event with an archived row's derived hash counts as archived only when
    /// no hot event up to the cutoff owns it (<see cref="ArchiveSql.OwnerHash"/>: the columns the view copies are equal).
    /// A late event with an archived event's message id and millisecond keeps its own internal event, and the archived
    /// one still goes, even when a merge put both into one part.
    /// </summary>
    private static string IsArchived(EventTables tables, HotTable table, TableFunctionExpression archive, ArchiveChunk? chunk) => table == HotTable.Events
        ? $"{ArchiveSql.RowHash} IN (SELECT {ArchiveSql.RowHash} FROM {archive.Sql})"
        : $"""
            {ArchiveSql.DerivedRowHash} IN (SELECT {ArchiveSql.DerivedRowHash} FROM {archive.Sql} WHERE {ArchiveSql.ArchivedDerivesInternalEvent})
                AND {ArchiveSql.OwnerHash} NOT IN (SELECT {ArchiveSql.OwnerHash} FROM {tables.QualifiedEvents}
                    WHERE {ArchiveSql.RowsOf(chunk)} AND {ArchiveSql.DerivesInternalEvent})
            """;

    private static string Table(EventTables tables, HotTable table) =>
        table == HotTable.Events ? tables.QualifiedEvents : tables.QualifiedInternalEvents;

    internal static Dictionary<string, string> DeleteSettings(bool synchronous) => synchronous
        ? new() { ["mutations_sync"] = "2", ["lightweight_deletes_sync"] = "2" }
        : new() { ["mutations_sync"] = "0", ["lightweight_deletes_sync"] = "0" };
}
