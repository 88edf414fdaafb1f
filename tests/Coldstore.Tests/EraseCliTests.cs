using System.Text.Json;

namespace Coldstore.Tests;

/// <summary><c>coldstore erase</c> end to end through the CLI, on both configurations.</summary>
public abstract class EraseCliTests(CliTarget target)
{
    [Fact]
    public async Task Erase_removes_one_user_from_a_paused_workspaces_archive_records_it_without_the_id_and_resume_brings_back_everyone_else()
    {
        var created = await target.RunAsync("workspace", "create", "--name", $"cli-erase-{Guid.NewGuid():N}");
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = created.Stdout.Trim();
        Assert.True((await target.RunAsync("ingest", "--workspace", id, "--generate", "120", "--seed", "17")).ExitCode == 0);
        var before = Json.Parse(await target.RunAsync("checksum", id, "--json"));
        var paused = await target.RunAsync("pause", id);
        Assert.True(paused.ExitCode == 0, paused.ToString());
        var top = Json.Parse(await target.RunAsync("query", id, "SELECT user_id, count() AS n FROM user_events_v2 WHERE user_id != '' GROUP BY user_id ORDER BY n DESC, user_id LIMIT 1", "--json"))
            .EnumerateArray().Single();
        var user = top.GetProperty("user_id").GetString()!;
        var rows = top.GetProperty("n").GetInt64();

        var erased = await target.RunAsync("erase", "--workspace", id, "--user", user, "--requested-by", "ticket-99", "--json");

        Assert.True(erased.ExitCode == 0, erased.ToString());
        var result = Json.Parse(erased);
        Assert.Equal("applied", result.GetProperty("state").GetString());
        Assert.Equal(rows, result.GetProperty("erasures")[0].GetProperty("archivedRowsErased").GetInt64());
        Assert.DoesNotContain(user, erased.Stdout, StringComparison.Ordinal);
        var archives = await target.RunAsync("archives", id, "--json");
        Assert.DoesNotContain(user, archives.Stdout, StringComparison.Ordinal);
        var erasure = Json.Parse(archives).GetProperty("erasures").EnumerateArray().Single();
        Assert.Equal(("applied", "ticket-99", 1), (erasure.GetProperty("state").GetString(), erasure.GetProperty("requestedBy").GetString(), erasure.GetProperty("userIds").GetInt32()));
        var left = Json.Parse(await target.RunAsync("query", id, $"SELECT count() AS n FROM user_events_v2 WHERE user_id = '{user}'", "--json")).EnumerateArray().Single();
        Assert.Equal(0, left.GetProperty("n").GetInt64());
        var nothingPending = await target.RunAsync("erase", "--workspace", id, "--pending");
        Assert.True(nothingPending.ExitCode == 0, nothingPending.ToString());
        Assert.Contains("no pending erasure", nothingPending.Stdout, StringComparison.Ordinal);

        var resumed = await target.RunAsync("resume", id);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var after = Json.Parse(await target.RunAsync("checksum", id, "--json"));
        Assert.Equal(before.GetProperty("eventRows").GetInt64() - rows, after.GetProperty("eventRows").GetInt64());
    }

    [Fact]
    public async Task An_erase_naming_nobody_exits_2_with_one_line_naming_the_workspace_and_records_nothing()
    {
        var created = await target.RunAsync("workspace", "create", "--name", $"cli-erase-{Guid.NewGuid():N}");
        var id = created.Stdout.Trim();

        var none = await target.RunAsync("erase", "--workspace", id);
        var both = await target.RunAsync("erase", "--workspace", id, "--pending", "--user", "u1");

        Assert.Equal(2, none.ExitCode);
        Assert.Contains(id, Assert.Single(none.StderrLines, l => l.StartsWith("coldstore: error:", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains(id, Assert.Single(both.StderrLines, l => l.StartsWith("coldstore: error:", StringComparison.Ordinal)), StringComparison.Ordinal);
        var archives = Json.Parse(await target.RunAsync("archives", id, "--json"));
        Assert.Equal(0, archives.GetProperty("erasures").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, archives.GetProperty("hold").ValueKind);
    }
}

public sealed class EraseCliOnSqliteAndLocalDirectory(SqliteAndLocalDirectoryTarget target)
    : EraseCliTests(target), IClassFixture<SqliteAndLocalDirectoryTarget>;

public sealed class EraseCliOnPostgresAndS3(PostgresAndS3Target target)
    : EraseCliTests(target), IClassFixture<PostgresAndS3Target>;
