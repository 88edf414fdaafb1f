using Coldstore.ClickHouseHttp;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>The HTTP interface's text surgery, on its own: what it rewrites, and what it must leave alone.</summary>
public sealed class StatementTextTests
{
    [Theory]
    [InlineData("SELECT * FROM system.processes", "SELECT * FROM _coldstore_http.processes")]
    [InlineData("SELECT * FROM `system`.`processes` WHERE 1", "SELECT * FROM _coldstore_http.processes WHERE 1")]
    [InlineData("SELECT * FROM system . processes", "SELECT * FROM _coldstore_http.processes")]
    [InlineData("SELECT * FROM system.processes_x", "SELECT * FROM system.processes_x")]
    [InlineData("SELECT * FROM mysystem.processes", "SELECT * FROM mysystem.processes")]
    [InlineData("SELECT * FROM system.mutations", "SELECT * FROM system.mutations")]
    public void Only_references_to_system_processes_are_rewritten(string sql, string expected) =>
        Assert.Equal(expected, StatementText.RewriteProcesses(sql));

    [Fact]
    public void The_query_id_rides_in_log_comment_and_only_a_safe_one()
    {
        Assert.Equal("coldstore-http:a:b-1", StatementText.Carrier("a:b-1"));
        Assert.False(StatementText.IsCarriableQueryId("x' DROP TABLE t --"));
        Assert.False(StatementText.IsCarriableQueryId("has space"));
        Assert.Throws<ArgumentException>(() => StatementText.Carrier("x'"));
    }

    [Theory]
    [InlineData("KILL QUERY WHERE query_id = 'a'", "query_id = 'a'", "SYNC", null)]
    [InlineData("kill query where query_id = {id:String} async", "query_id = {id:String}", "ASYNC", null)]
    [InlineData("KILL QUERY ON CLUSTER 'c' WHERE user = 'x' TEST FORMAT JSON;", "user = 'x'", "TEST", "JSON")]
    [InlineData("KILL QUERY WHERE query_id IN ('a', 'b') SYNC FORMAT TabSeparated", "query_id IN ('a', 'b')", "SYNC", "TabSeparated")]
    public void KILL_QUERY_is_split_into_its_condition_mode_and_format(string sql, string where, string mode, string? format) =>
        Assert.Equal(new KillQuery(where, mode, format), StatementText.ParseKillQuery(sql));

    [Theory]
    [InlineData("SELECT 1")]
    [InlineData("KILL MUTATION WHERE mutation_id = 'x'")]
    public void Anything_else_is_not_a_KILL_QUERY(string sql) => Assert.Null(StatementText.ParseKillQuery(sql));

    [Fact]
    public void An_insert_with_a_trailing_format_is_split_for_streaming()
    {
        Assert.Equal(("INSERT INTO t (a, b)", "JSONEachRow"), StatementText.SplitInsertFormat("INSERT INTO t (a, b) FORMAT JSONEachRow"));
        Assert.Null(StatementText.SplitInsertFormat("INSERT INTO t SELECT 1"));
        Assert.Null(StatementText.SplitInsertFormat("SELECT 1 FORMAT JSON"));
    }

    [Theory]
    [InlineData("SELECT 1", true)]
    [InlineData("  with x as (select 1) select * from x", true)]
    [InlineData("/* comment */ SELECT 1", true)]
    [InlineData("SHOW TABLES", true)]
    [InlineData("INSERT INTO t VALUES (1)", false)]
    [InlineData("DROP TABLE t", false)]
    [InlineData("/* SELECT */ DROP TABLE t", false)]
    public void Only_reads_may_run_over_GET(string sql, bool readOnly) => Assert.Equal(readOnly, StatementText.IsReadOnly(sql));
}
