using System.Globalization;
using System.Text.Json;

namespace Coldstore.Tests;

/// <summary><c>coldstore query</c> and <c>coldstore archives</c> end to end through the CLI, on both configurations.</summary>
public abstract class ArchiveQueryCliTests(CliTarget target)
{
    private async Task<Guid> ArchivedWorkspaceAsync(int events)
    {
        var created = await target.RunAsync("workspace", "create", "--name", $"cli-query-{Guid.NewGuid():N}");
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = Guid.ParseExact(created.Stdout.Trim(), "D");
        var ingest = await target.RunAsync("ingest", "--workspace", id.ToString("D"), "--generate", events.ToString(CultureInfo.InvariantCulture), "--seed", "9");
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var archived = await target.RunAsync("archive", id.ToString("D"));
        Assert.True(archived.ExitCode == 0, archived.ToString());
        return id;
    }

    [Fact]
    public async Task A_query_prints_the_archived_rows_as_json_as_csv_and_as_a_table()
    {
        var id = (await ArchivedWorkspaceAsync(150)).ToString("D");
        const string Sql = "SELECT event_type, count() AS n FROM user_events_v2 GROUP BY event_type ORDER BY event_type";

        var json = await target.RunAsync("query", id, Sql, "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var rows = Json.Parse(json).EnumerateArray().ToList();
        Assert.Equal(150, rows.Sum(r => r.GetProperty("n").GetInt64()));
        Assert.All(rows, r => Assert.Equal(JsonValueKind.String, r.GetProperty("event_type").ValueKind));

        var csv = await target.RunAsync("query", id, Sql, "--format", "csv");
        Assert.True(csv.ExitCode == 0, csv.ToString());
        var lines = csv.Stdout.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("event_type,n", lines[0]);
        Assert.Equal(rows.Select(r => $"{r.GetProperty("event_type").GetString()},{r.GetProperty("n").GetInt64()}"), lines[1..]);

        var table = await target.RunAsync("query", id, Sql);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains($"{rows.Count} rows from 1 archives of workspace {id}", table.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_statement_that_is_not_a_select_of_the_archived_rows_exits_2_with_one_line_and_changes_nothing()
    {
        var id = (await ArchivedWorkspaceAsync(40)).ToString("D");

        var refused = await target.RunAsync("query", id, "ALTER TABLE user_events_v2 DELETE WHERE 1");

        Assert.Equal(2, refused.ExitCode);
        var error = Assert.Single(refused.StderrLines, l => l.StartsWith("coldstore: error:", StringComparison.Ordinal));
        Assert.Contains(id, error, StringComparison.Ordinal);
        Assert.Contains("only a SELECT is accepted", error, StringComparison.Ordinal);
        var count = await target.RunAsync("query", id, "SELECT count() AS n FROM user_events_v2", "--json");
        Assert.Equal(40, Json.Parse(count).EnumerateArray().Single().GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task Archives_lists_each_archive_with_its_objects_months_and_counts()
    {
        var id = (await ArchivedWorkspaceAsync(60)).ToString("D");

        var listed = await target.RunAsync("archives", id, "--json");

        Assert.True(listed.ExitCode == 0, listed.ToString());
        var archive = Json.Parse(listed).GetProperty("archives").EnumerateArray().Single();
        Assert.Equal("archived", archive.GetProperty("state").GetString());
        Assert.Equal(60, archive.GetProperty("rows").GetInt64());
        var objects = archive.GetProperty("objects").EnumerateArray().ToList();
        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.StartsWith($"workspace_id={id}/archive=", o.GetProperty("key").GetString(), StringComparison.Ordinal));
        Assert.Equal(archive.GetProperty("bytes").GetInt64(), objects.Sum(o => o.GetProperty("size").GetInt64()));
        Assert.Equal(DateTime.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture), Assert.Single(archive.GetProperty("months").EnumerateArray()).GetString());
        Assert.Equal(JsonValueKind.Null, archive.GetProperty("chunk").ValueKind);

        var human = await target.RunAsync("archives", id);
        Assert.True(human.ExitCode == 0, human.ToString());
        Assert.Contains("1 archives; 1 archived, holding 60 rows", human.Stdout, StringComparison.Ordinal);
    }
}

public sealed class ArchiveQueryCliOnSqliteAndLocalDirectory(SqliteAndLocalDirectoryTarget target)
    : ArchiveQueryCliTests(target), IClassFixture<SqliteAndLocalDirectoryTarget>;

public sealed class ArchiveQueryCliOnPostgresAndS3(PostgresAndS3Target target)
    : ArchiveQueryCliTests(target), IClassFixture<PostgresAndS3Target>;
