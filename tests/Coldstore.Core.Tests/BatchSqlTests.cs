using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Core.Tests;

/// <summary>The batch statements: values only as parameters, each workspace paired with its own archive and cutoff.</summary>
public sealed class BatchSqlTests
{
    private static readonly EventTables Tables = new("dittofeed");
    private static readonly Guid First = Guid.Parse("11111111-2222-4333-8444-555555555555");
    private static readonly Guid Second = Guid.Parse("66666666-7777-4888-8999-000000000000");
    private static readonly DateTime Cutoff = new(2024, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);

    private static TableFunctionExpression Store(string prefix) => new(
        $"s3({{{prefix}_url:String}}, {{{prefix}_key:String}}, {{{prefix}_secret:String}}, 'Parquet')",
        [new($"{prefix}_url", "String", $"http://s3/bucket/{prefix}"), new($"{prefix}_key", "String", "AKIA", true), new($"{prefix}_secret", "String", "very-secret", true)],
        new Dictionary<string, string> { ["s3_truncate_on_insert"] = "1" });

    [Fact]
    public void The_copy_pairs_each_workspace_with_its_own_archive_and_writes_where_a_single_archive_would()
    {
        var archiveA = Guid.Parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
        var archiveB = Guid.Parse("bbbbbbbb-cccc-4ddd-8eee-ffffffffffff");
        var query = BatchSql.CopyToArchives(Tables, [(First, archiveA), (Second, archiveB)], Cutoff, Store("archive"), TimeSpan.FromSeconds(20));

        Assert.Contains("PARTITION BY concat('workspace_id=', workspace_id, '/archive=',", query.Sql, StringComparison.Ordinal);
        Assert.Contains("transform(workspace_id, {workspace_ids:Array(String)}, {archive_ids:Array(String)}, '')", query.Sql, StringComparison.Ordinal);
        Assert.Contains("'/month=', toString(toYYYYMM(processing_time))", query.Sql, StringComparison.Ordinal);
        Assert.Equal(new[] { First.ToString("D"), Second.ToString("D") }, (string[])query.Parameters.Single(p => p.Name == "workspace_ids").Value);
        Assert.Equal(new[] { archiveA.ToString("D"), archiveB.ToString("D") }, (string[])query.Parameters.Single(p => p.Name == "archive_ids").Value);
        Assert.Equal("20", query.Settings["max_execution_time"]);
        Assert.Equal("1", query.Settings["s3_truncate_on_insert"]);
    }

    [Fact]
    public void The_restore_insert_takes_each_workspace_only_up_to_its_own_cutoff_from_its_own_objects()
    {
        var later = Cutoff.AddDays(3);
        var query = BatchSql.RestoreInsert(Tables, [(First, Cutoff, Store("archive0")), (Second, later, Store("archive1"))], TimeSpan.FromSeconds(20));

        Assert.Contains("FROM s3({archive0_url:String}", query.Sql, StringComparison.Ordinal);
        Assert.Contains("WHERE workspace_id = {workspace_0:String} AND processing_time <= {cutoff_0:DateTime64(3, 'UTC')}", query.Sql, StringComparison.Ordinal);
        Assert.Contains("WHERE workspace_id = {workspace_1:String} AND processing_time <= {cutoff_1:DateTime64(3, 'UTC')}", query.Sql, StringComparison.Ordinal);
        Assert.Equal(First.ToString("D"), query.Parameters.Single(p => p.Name == "workspace_0").Value);
        Assert.Equal(later, query.Parameters.Single(p => p.Name == "cutoff_1").Value);
        Assert.Equal("0", query.Settings["insert_deduplicate"]);
        Assert.Equal("UTC", query.Settings["session_timezone"]);
        Assert.Equal("0", query.Settings["use_hive_partitioning"]);
    }

    [Fact]
    public void The_batch_delete_names_only_literal_workspaces_parts_and_cutoff_with_no_subquery_and_no_clock()
    {
        var query = BatchSql.DeleteInParts(Tables, HotTable.Events, [First, Second], Cutoff, ["all_2_2_0", "all_1_1_0", "all_2_2_0"]);

        Assert.DoesNotContain("SELECT", query.Sql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("now", query.Sql, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(new[] { "all_1_1_0", "all_2_2_0" }, (string[])query.Parameters.Single(p => p.Name == "parts").Value);
        Assert.Equal("0", query.Settings["mutations_sync"]);
        Assert.Throws<ArgumentException>(() => BatchSql.DeleteInParts(Tables, HotTable.Events, [First], Cutoff, []));
        Assert.Throws<ArgumentException>(() => BatchSql.DeleteInParts(Tables, HotTable.Events, [], Cutoff, ["all_1_1_0"]));
    }

    [Fact]
    public void No_batch_statement_carries_a_value_or_a_secret_in_its_text()
    {
        ClickHouseQuery[] statements =
        [
            BatchSql.CopyToArchives(Tables, [(First, Guid.NewGuid())], Cutoff, Store("archive"), TimeSpan.FromSeconds(5)),
            BatchSql.ArchiveSummaries([(First, Store("archive0")), (Second, Store("archive1"))], TimeSpan.FromSeconds(5)),
            BatchSql.RestoreInsert(Tables, [(First, Cutoff, Store("archive0"))], TimeSpan.FromSeconds(5)),
            BatchSql.HotSummaries(Tables, [First, Second], Cutoff),
            BatchSql.HotSummariesUpTo(Tables, [(First, Cutoff), (Second, Cutoff)]),
            BatchSql.PartSummaries(Tables, HotTable.InternalEvents, [First], Cutoff),
            BatchSql.DeleteInParts(Tables, HotTable.InternalEvents, [First], Cutoff, ["all_1_1_0"]),
            BatchSql.RunningStatements(Tables, ["coldstore:x:"]),
        ];

        foreach (var statement in statements)
        {
            Assert.DoesNotContain(First.ToString("D"), statement.Sql, StringComparison.Ordinal);
            Assert.DoesNotContain("very-secret", statement.Sql, StringComparison.Ordinal);
            Assert.DoesNotContain("2024-03-04", statement.Sql, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_read_back_counts_rows_of_other_workspaces_per_archive()
    {
        var query = BatchSql.ArchiveSummaries([(First, Store("archive0")), (Second, Store("archive1"))], TimeSpan.FromSeconds(5));

        Assert.Contains("countIf(workspace_id != member) AS foreign_rows", query.Sql, StringComparison.Ordinal);
        Assert.Contains("GROUP BY member", query.Sql, StringComparison.Ordinal);
        Assert.Equal(Second.ToString("D"), query.Parameters.Single(p => p.Name == "member_1").Value);
        Assert.Throws<ArgumentException>(() => BatchSql.ArchiveSummaries([], TimeSpan.FromSeconds(5)));
    }
}
