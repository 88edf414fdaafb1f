using Coldstore.Domain;
using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>
/// The statements of an erasure: users' rows found by the salted hash of their ids (the ledger keeps only the
/// hashes), counted per archive object, left out of a rewrite of each object that holds any, and deleted from the
/// hot tables as Dittofeed deletes (asynchronously, then waited for).
/// </summary>
/// <remarks>
/// The hot tables have <c>user_id</c> and <c>anonymous_id</c> columns; an archive holds only the five stored columns,
/// so there the ids are computed from <c>message_raw</c> by the events table's own default expressions (read from
/// <c>system.columns</c>): a user is matched in an archive exactly as the table would match them once restored.
/// </remarks>
public static class EraseSql
{
    /// <summary>
    /// True for a row of one of the erasure's users: the hash of the salt and its user id, or of the salt and its
    /// anonymous id, is the erasure's. Its parameters are <see cref="MatchParameters"/>'s.
    /// </summary>
    /// <param name="userId">The expression of the row's user id (a column, or the table's expression over <c>message_raw</c>).</param>
    /// <param name="anonymousId">The expression of the row's anonymous id.</param>
    public static string Match(string userId, string anonymousId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(userId);
        ArgumentException.ThrowIfNullOrWhiteSpace(anonymousId);
        return $"(hex(SHA256(concat({{erase_salt:String}}, ({userId})))) IN {{erase_users:Array(String)}}"
            + $" OR hex(SHA256(concat({{erase_salt:String}}, ({anonymousId})))) IN {{erase_anonymous:Array(String)}})";
    }

    /// <summary>The match over a hot table's own columns.</summary>
    public static string HotMatch => Match("user_id", "anonymous_id");

    /// <summary>The parameters of <see cref="Match"/>: the salt and the hashes, never the ids.</summary>
    public static ClickHouseParameter[] MatchParameters(ErasureIdentities identities)
    {
        ArgumentNullException.ThrowIfNull(identities);
        return
        [
            new("erase_salt", "String", identities.Salt),
            new("erase_users", "Array(String)", identities.UserIdHashes.ToArray()),
            new("erase_anonymous", "Array(String)", identities.AnonymousIdHashes.ToArray()),
        ];
    }

    /// <summary>
    /// Per object of an archive (<c>_file</c>, its key relative to the archive's prefix): its rows and checksum (to
    /// check the archive against its manifest before anything is rewritten), rows of other workspaces, and the rows,
    /// checksum and internal events of the erasure's users in it.
    /// </summary>
    /// <param name="source">The archive's objects, read with their columns named.</param>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="match">The match over the archive's columns (<see cref="Match"/> with the table's expressions).</param>
    /// <param name="identities">Whom the erasure removes.</param>
    /// <param name="timeout">The bound on the statement.</param>
    public static ClickHouseQuery MatchesPerObject(TableFunctionExpression source, Guid workspaceId, string match, ErasureIdentities identities, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(match);
        return new ClickHouseQuery($$"""
            SELECT _file AS key, count() AS rows, sum({{ArchiveSql.RowHash}}) AS checksum,
                countIf(workspace_id != {workspace_id:String}) AS foreign_rows,
                countIf(matched) AS matched_rows, sumIf({{ArchiveSql.RowHash}}, matched) AS matched_checksum,
                countIf(matched AND {{ArchiveSql.ArchivedDerivesInternalEvent}}) AS matched_derived_rows
            FROM (SELECT *, _file, {{match}} AS matched FROM {{source.Sql}})
            GROUP BY key
            ORDER BY key
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .With(MatchParameters(identities))
            .ReadingArchive(source, timeout)
            .For("count erased users' rows per archive object");
    }

    /// <summary>
    /// Writes one object again without the erasure's users' rows (and without any row of another workspace): the
    /// replacement is a new key, so the object it replaces stays whole until the new manifest names the replacement.
    /// </summary>
    public static ClickHouseQuery RewriteObject(TableFunctionExpression source, TableFunctionExpression target, Guid workspaceId, string match, ErasureIdentities identities, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentException.ThrowIfNullOrWhiteSpace(match);
        return new ClickHouseQuery($$"""
            INSERT INTO FUNCTION {{target.Sql}}
            SELECT {{ArchiveSql.StoredColumnList}}
            FROM {{source.Sql}}
            WHERE workspace_id = {workspace_id:String} AND NOT {{match}}
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .With(MatchParameters(identities))
            .With(target.Parameters)
            .WithSettings(ArchiveSql.ExportSettings)
            .WithSettings(target.WriteSettings)
            .ReadingArchive(source, timeout)
            .For("rewrite an archive object without erased users");
    }

    /// <summary>Per object: rows, checksum and internal events, as read back from the replacement objects.</summary>
    public static ClickHouseQuery ObjectSummaries(TableFunctionExpression source, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ClickHouseQuery($$"""
            SELECT _file AS key, count() AS rows, sum({{ArchiveSql.RowHash}}) AS checksum,
                countIf({{ArchiveSql.ArchivedDerivesInternalEvent}}) AS derived_rows
            FROM {{source.Sql}}
            GROUP BY key
            ORDER BY key
            """)
            .ReadingArchive(source, timeout)
            .For("read back rewritten archive objects");
    }

    /// <summary>
    /// Deletes the erasure's users' rows of the workspace from a hot table, as Dittofeed's user deletion does:
    /// asynchronously (the caller then waits for the workspace's deletes to apply). Deterministic and without a
    /// subquery, so replicated and shared tables accept it.
    /// </summary>
    public static ClickHouseQuery DeleteHotRows(EventTables tables, HotTable table, Guid workspaceId, ErasureIdentities identities)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($$"""
            DELETE FROM {{(table == HotTable.Events ? tables.QualifiedEvents : tables.QualifiedInternalEvents)}}
            WHERE workspace_id = {workspace_id:String} AND {{HotMatch}}
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .With(MatchParameters(identities))
            .WithSettings(BoundedDeleteSql.DeleteSettings(synchronous: false))
            .For(table == HotTable.Events ? "delete erased users' rows" : "delete erased users' internal events");
    }

    /// <summary>How many rows of the erasure's users a hot table holds for the workspace (what a delete leaves is none).</summary>
    public static ClickHouseQuery CountHotRows(EventTables tables, HotTable table, Guid workspaceId, ErasureIdentities identities)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery($$"""
            SELECT count() AS rows
            FROM {{(table == HotTable.Events ? tables.QualifiedEvents : tables.QualifiedInternalEvents)}}
            WHERE workspace_id = {workspace_id:String} AND {{HotMatch}}
            """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .With(MatchParameters(identities))
            .For(table == HotTable.Events ? "count erased users' hot rows" : "count erased users' internal events");
    }

    /// <summary>
    /// A key pattern that reads exactly <paramref name="keys"/> under <paramref name="prefix"/>: the key itself, or a
    /// <c>{a,b}</c> alternation. An archive read after verification names its manifest's objects, so an object an
    /// unfinished erasure wrote beside them (or has yet to delete) is never read with them.
    /// </summary>
    public static string ExactKeys(string prefix, IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            throw new ArgumentException("An exact read needs at least one key.", nameof(keys));
        }

        foreach (var key in keys)
        {
            if (key.Length == 0 || key.IndexOfAny(['{', '}', ',', '*', '?', '/']) >= 0)
            {
                throw new ArgumentException($"Key '{key}' cannot be named in an alternation.", nameof(keys));
            }
        }

        return keys.Count == 1 ? prefix + keys[0] : prefix + "{" + string.Join(",", keys) + "}";
    }

    /// <summary>
    /// The key an erasure writes in place of <paramref name="key"/>: its month, then the erasure's id
    /// (<c>month=202401.parquet</c> → <c>month=202401.e-1a2b3c4d….parquet</c>), so a later erasure of the same
    /// object gets a key of its own.
    /// </summary>
    public static string ReplacementKey(string key, Guid erasureId)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var dot = key.IndexOf('.', StringComparison.Ordinal);
        var stem = dot < 0 ? key : key[..dot];
        return $"{stem}.e-{erasureId:N}.parquet";
    }
}
