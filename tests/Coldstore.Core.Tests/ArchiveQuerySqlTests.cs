using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Core.Tests;

public sealed class ArchiveQuerySqlTests
{
    private static readonly Guid Workspace = Guid.Parse("11111111-2222-4333-8444-555555555555");

    private static readonly EventColumn[] Columns =
    [
        new("event_type", "Enum8('identify' = 1, 'track' = 2)", "DEFAULT", "JSONExtract(message_raw, 'type', 'Enum8(\\'identify\\' = 1, \\'track\\' = 2)')"),
        new("message_id", "String", "", ""),
        new("user_id", "String", "DEFAULT", "JSONExtractString(message_raw, 'userId')"),
        new("processing_time", "DateTime64(3)", "DEFAULT", "now64(3)"),
        new("message_raw", "String", "", ""),
        new("workspace_id", "String", "", ""),
        new("server_time", "DateTime64(3)", "", ""),
    ];

    private static TableFunctionExpression Archive(string prefix) =>
        new($"file({{{prefix}_path:String}}, 'Parquet', 'message_raw String')", [new($"{prefix}_path", "String", $"/a/{prefix}/*.parquet")], new Dictionary<string, string>())
        {
            AccessSettings = new Dictionary<string, string> { ["storage_file_read_method"] = "pread" },
        };

    [Fact]
    public void The_archived_rows_go_by_the_hot_tables_name_with_its_columns_computed_as_the_table_computes_them()
    {
        var query = ArchiveQuerySql.OverArchives("SELECT count() FROM user_events_v2", Columns, Workspace, [Archive("a0"), Archive("a1")], TimeSpan.FromMinutes(2));

        Assert.StartsWith("WITH user_events_v2 AS (", query.Sql, StringComparison.Ordinal);
        Assert.Contains("CAST((JSONExtractString(message_raw, 'userId')) AS String) AS `user_id`", query.Sql, StringComparison.Ordinal);
        // Stored columns come from the archive as they are: processing_time is never recomputed by its default.
        Assert.DoesNotContain("now64", query.Sql, StringComparison.Ordinal);
        Assert.Contains("`processing_time`", query.Sql, StringComparison.Ordinal);
        Assert.Equal(2, query.Sql.Split("WHERE workspace_id = {query_workspace_id:String}").Length - 1);
        Assert.Contains("UNION ALL", query.Sql, StringComparison.Ordinal);
        Assert.EndsWith("SELECT * FROM (\nSELECT count() FROM user_events_v2\n)", query.Sql.TrimEnd(), StringComparison.Ordinal);
        Assert.Equal(Workspace.ToString("D"), query.Parameters.Single(p => p.Name == "query_workspace_id").Value);
        Assert.Contains(query.Parameters, p => p.Name == "a1_path");
        Assert.Equal("pread", query.Settings["storage_file_read_method"]);
        Assert.Equal("0", query.Settings["use_hive_partitioning"]);
        Assert.Equal("120", query.Settings["max_execution_time"]);
    }

    [Theory]
    [InlineData("WITH 2 AS two SELECT two")]
    [InlineData("/* /* */ WITH 1 AS z SELECT * FROM default.user_events_v2 -- */ SELECT count() FROM user_events_v2")]
    [InlineData("SELECT 1 -- a trailing comment")]
    public void The_users_text_runs_whole_as_one_subquery_never_cut(string sql)
    {
        var query = ArchiveQuerySql.OverArchives(sql, Columns, Workspace, [Archive("a0")], TimeSpan.FromMinutes(1));

        Assert.EndsWith($"SELECT * FROM (\n{sql}\n)", query.Sql.TrimEnd(), StringComparison.Ordinal);
        Assert.StartsWith("WITH user_events_v2 AS (", query.Sql, StringComparison.Ordinal);
        Assert.Equal("1", query.Settings["enable_global_with_statement"]);
    }

    [Fact]
    public void A_query_over_no_archive_is_a_programming_error()
    {
        Assert.Throws<ArgumentException>(() => ArchiveQuerySql.OverArchives("SELECT 1", Columns, Workspace, [], TimeSpan.FromMinutes(1)));
    }
}
