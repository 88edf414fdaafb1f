using Coldstore.Sql;

namespace Coldstore.Core.Tests;

public sealed class SqlBuilderTests
{
    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("a-b")]
    [InlineData("a`; DROP TABLE x; --")]
    [InlineData("db.table")]
    public void Identifiers_that_could_break_out_of_quotes_are_refused(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => new EventTables(database: name));
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_schema_statement_only_creates_what_is_missing()
    {
        var statements = SchemaSql.CreateAll(new EventTables("dittofeed"));

        Assert.Equal(6, statements.Count);
        Assert.All(statements.Take(4), s => Assert.Contains("CREATE", s.Sql, StringComparison.Ordinal));
        Assert.All(statements.Take(4), s => Assert.Contains("IF NOT EXISTS", s.Sql, StringComparison.Ordinal));
        // Coldstore keeps nothing of its own in ClickHouse; what earlier versions kept there is dropped.
        Assert.Equal("DROP TABLE IF EXISTS `dittofeed`.`coldstore_archive_keys`", statements[4].Sql);
        Assert.Equal("DROP TABLE IF EXISTS `dittofeed`.`coldstore_restore_baseline`", statements[5].Sql);
        Assert.All(statements, s => Assert.DoesNotContain("ALTER", s.Sql, StringComparison.Ordinal));
        Assert.Contains("`dittofeed`.`user_events_v2`", statements[1].Sql, StringComparison.Ordinal);
        Assert.Contains("ORDER BY (workspace_id, processing_time, user_or_anonymous_id, event_time, message_id)", statements[1].Sql, StringComparison.Ordinal);
        Assert.Contains("TO `dittofeed`.`internal_events`", statements[3].Sql, StringComparison.Ordinal);
        Assert.Contains("FROM `dittofeed`.`user_events_v2`", statements[3].Sql, StringComparison.Ordinal);
    }

    [Fact]
    public void The_events_table_derives_every_column_but_the_stored_five()
    {
        var sql = SchemaSql.CreateEvents(new EventTables()).Sql;
        var columnLines = sql.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && char.IsLower(l[0]) && !l.StartsWith("event_type Enum8", StringComparison.Ordinal) || l.StartsWith("event_type", StringComparison.Ordinal)).ToList();

        foreach (var stored in SchemaSql.StoredColumns.Where(c => c != "processing_time"))
        {
            var line = Assert.Single(columnLines, l => l.StartsWith(stored + " ", StringComparison.Ordinal));
            Assert.DoesNotContain("DEFAULT", line, StringComparison.Ordinal);
        }

        Assert.Contains(columnLines, l => l.StartsWith("processing_time DateTime64(3) DEFAULT now64(3)", StringComparison.Ordinal));
        foreach (var derived in new[] { "event_type", "event", "event_time", "user_id", "anonymous_id", "user_or_anonymous_id", "properties", "hidden" })
        {
            Assert.Contains(columnLines, l => l.StartsWith(derived + " ", StringComparison.Ordinal) && l.Contains("DEFAULT", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Hot_row_counts_bind_workspace_ids()
    {
        var id = Guid.Parse("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d");

        var query = EventSql.CountHotRows(new EventTables(), [id]);

        Assert.Contains("{workspace_ids:Array(String)}", query.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain(id.ToString(), query.Sql, StringComparison.Ordinal);
        Assert.Equal(new[] { "0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d" }, (string[])Assert.Single(query.Parameters).Value);
    }

    [Fact]
    public void Ingestion_inserts_in_utc_and_synchronously()
    {
        var insert = EventSql.IngestInsert(new EventTables());

        Assert.StartsWith("INSERT INTO `default`.`user_events_v2` (message_id, message_raw, workspace_id, server_time)", insert.Sql, StringComparison.Ordinal);
        Assert.Equal("UTC", insert.Settings["session_timezone"]);
        Assert.Equal("0", insert.Settings["async_insert"]);
    }

    [Fact]
    public void Raw_bytes_measure_exactly_the_stored_columns_of_one_bound_workspace()
    {
        var id = Guid.Parse("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d");

        var query = EventSql.WorkspaceRawBytes(new EventTables("dittofeed"), id);

        Assert.Contains("sum(byteSize(message_raw, processing_time, workspace_id, message_id, server_time)) AS raw_bytes", query.Sql, StringComparison.Ordinal);
        Assert.Contains("FROM `dittofeed`.`user_events_v2`", query.Sql, StringComparison.Ordinal);
        Assert.Contains("workspace_id = {workspace_id:String}", query.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain(id.ToString(), query.Sql, StringComparison.Ordinal);
        var parameter = Assert.Single(query.Parameters);
        Assert.Equal(("workspace_id", "String", (object)"0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d"), (parameter.Name, parameter.Type, parameter.Value));
    }

    [Fact]
    public void Secret_parameters_are_masked_when_a_query_is_printed()
    {
        var query = new Ports.ClickHouseQuery("SELECT {key:String}").WithSecret("key", "String", "AKIA-very-secret");

        Assert.DoesNotContain("very-secret", query.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", query.ToString(), StringComparison.Ordinal);
    }
}
