using System.Globalization;
using System.Text;
using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>One column of the events table as the server describes it: what a query over archives must reproduce.</summary>
/// <param name="Name">The column's name.</param>
/// <param name="Type">Its type, e.g. <c>LowCardinality(String)</c>.</param>
/// <param name="DefaultKind"><c>DEFAULT</c>, <c>MATERIALIZED</c>, <c>ALIAS</c>, or empty.</param>
/// <param name="DefaultExpression">The expression the table computes it with, or empty.</param>
public sealed record EventColumn(string Name, string Type, string DefaultKind, string DefaultExpression);

/// <summary>
/// The statements of <c>coldstore query</c>: a read-only query over a workspace's archived rows in which
/// <c>user_events_v2</c> names those rows, with every column the hot table has, the derived ones computed by the
/// table's own expressions from the stored <c>message_raw</c>.
/// </summary>
/// <remarks>
/// The user's query is spliced after a <c>WITH user_events_v2 AS (…)</c> that reads only the workspace's own archive
/// objects (one table function per archive, each under the workspace's prefix) and only its own workspace id; it is
/// run only after <see cref="Coldstore.Services.ArchiveQueryCheck"/> accepted its syntax tree, which admits one
/// SELECT whose only table is that name, with no table function, dictionary or file access.
/// </remarks>
public static class ArchiveQuerySql
{
    /// <summary>The name the archived rows go by in a query.</summary>
    public const string RowsName = "user_events_v2";

    /// <summary>The syntax tree of the user's query, one node per row (<c>EXPLAIN AST</c>): parsed by the server, run by no one.</summary>
    public static ClickHouseQuery ExplainSyntax(string sql)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        return new ClickHouseQuery("EXPLAIN AST " + sql).For("parse a query over archives");
    }

    /// <summary>
    /// ClickHouse's built-in functions (not user-defined ones), with whether each is case-insensitive and whether it
    /// aggregates: the only functions a query over archives may call (<see cref="Coldstore.Services.QueryFunctions"/>).
    /// </summary>
    public static ClickHouseQuery BuiltInFunctions() => new ClickHouseQuery("""
        SELECT name, toUInt8(case_insensitive) AS case_insensitive, toUInt8(is_aggregate) AS is_aggregate
        FROM system.functions
        WHERE origin = 'System'
        """).For("list built-in functions");

    /// <summary>The aggregate function combinators (<c>If</c>, <c>Array</c>, <c>State</c>, …), which build names such as <c>countIf</c>.</summary>
    public static ClickHouseQuery AggregateCombinators() =>
        new ClickHouseQuery("SELECT name FROM system.aggregate_function_combinators").For("list aggregate combinators");

    /// <summary>The events table's columns in order, with how the table computes the derived ones.</summary>
    public static ClickHouseQuery EventColumns(EventTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return new ClickHouseQuery("""
            SELECT name, type, default_kind, default_expression
            FROM system.columns
            WHERE database = {database:String} AND table = {table:String}
            ORDER BY position
            """)
            .With("database", "String", tables.Database)
            .With("table", "String", tables.Events)
            .For("read the events table's columns");
    }

    /// <summary>
    /// The user's query over the archived rows of one workspace: <c>WITH user_events_v2 AS (every column of the hot
    /// table, computed over the archives' stored columns) SELECT * FROM (&lt;query&gt;)</c>.
    /// </summary>
    /// <param name="sql">The user's query, already checked.</param>
    /// <param name="columns">The hot table's columns (<see cref="EventColumns"/>).</param>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="archives">One table function per archive, each reading only that archive's objects, with distinct parameter names.</param>
    /// <param name="timeout">The bound on the statement.</param>
    public static ClickHouseQuery OverArchives(string sql, IReadOnlyList<EventColumn> columns, Guid workspaceId, IReadOnlyList<TableFunctionExpression> archives, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(archives);
        if (archives.Count == 0)
        {
            throw new ArgumentException("A query over archives needs at least one archive.", nameof(archives));
        }

        var select = new StringBuilder();
        foreach (var column in columns)
        {
            if (select.Length > 0)
            {
                select.Append(", ");
            }

            if (SchemaSql.StoredColumns.Contains(column.Name, StringComparer.Ordinal))
            {
                select.Append(Quote(column.Name));
            }
            else if (column.DefaultExpression.Length > 0)
            {
                // Exactly what the table computes on insert, in the column's own type.
                select.Append(CultureInfo.InvariantCulture, $"CAST(({column.DefaultExpression}) AS {column.Type}) AS {Quote(column.Name)}");
            }
            else
            {
                select.Append(CultureInfo.InvariantCulture, $"defaultValueOfTypeName('{column.Type.Replace("'", "\\'", StringComparison.Ordinal)}') AS {Quote(column.Name)}");
            }
        }

        var sources = string.Join("\n            UNION ALL\n            ", archives.Select(a =>
            $"SELECT {ArchiveSql.StoredColumnList} FROM {a.Sql} WHERE workspace_id = {{query_workspace_id:String}}"));
        // The user's text is never cut or edited: it runs whole, as the subquery it was checked as, so what ClickHouse
        // parsed for the check is what runs (a comment the check and a splice read differently cannot move a clause out
        // of it). The newline before ')' ends a trailing line comment of the user's.
        var statement = $"""
            WITH {RowsName} AS (
                SELECT {select}
                FROM (
                    {sources}
                )
            )
            SELECT * FROM (
            {sql}
            )
            """;
        var query = new ClickHouseQuery(statement)
            .With("query_workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .WithSettings(ArchiveSql.ReadArchiveSettings)
            // The archived rows' name must reach every subquery and UNION branch of the user's query (the default since
            // 20.x, pinned): a branch that missed it would read the real table of that name.
            .WithSetting("enable_global_with_statement", "1")
            .WithSetting("max_execution_time", ArchiveSql.Seconds(timeout))
            .For("query archived rows");
        foreach (var archive in archives)
        {
            query = query.With(archive.Parameters).WithSettings(archive.AccessSettings);
        }

        return query;
    }

    private static string Quote(string identifier) => $"`{identifier.Replace("`", "``", StringComparison.Ordinal)}`";
}
