using System.Text.Json;

namespace Coldstore.Tests;

/// <summary><c>coldstore hold|release|purge</c> through the CLI, on both configurations.</summary>
public abstract class RetentionCliTests(CliTarget target)
{
    [Fact]
    public async Task Hold_release_and_a_dry_run_purge_answer_in_json_and_a_purge_without_retention_exits_2_naming_the_setting()
    {
        var created = await target.RunAsync("workspace", "create", "--name", $"cli-retention-{Guid.NewGuid():N}");
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = created.Stdout.Trim();
        Assert.True((await target.RunAsync("ingest", "--workspace", id, "--generate", "25", "--seed", "3")).ExitCode == 0);
        var tombstoned = await target.RunAsync("tombstone", id, "--json");
        Assert.True(tombstoned.ExitCode == 0, tombstoned.ToString());

        var hold = await target.RunAsync("hold", id, "--reason", "ticket 7", "--json");
        Assert.True(hold.ExitCode == 0, hold.ToString());
        Assert.Equal("ticket 7", Json.Parse(hold).GetProperty("reason").GetString());
        var noReason = await target.RunAsync("hold", id);
        Assert.Equal(2, noReason.ExitCode);

        // Tombstoned just now: a 1-day rule takes nothing yet, held or not.
        var dry = await target.RunAsync("purge", "--dry-run", "--purge-after-days", "1", "--json");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.True(Json.Parse(dry).GetProperty("dryRun").GetBoolean());
        Assert.Equal(0, Json.Parse(dry).GetProperty("archives").GetArrayLength());

        var released = await target.RunAsync("release", id, "--json");
        Assert.True(Json.Parse(released).GetProperty("released").GetBoolean());
        Assert.False(Json.Parse(await target.RunAsync("release", id, "--json")).GetProperty("released").GetBoolean());

        var off = await target.RunAsync("purge");
        Assert.Equal(2, off.ExitCode);
        Assert.Contains("COLDSTORE_PURGE_TOMBSTONED_AFTER_DAYS", Assert.Single(off.StderrLines, l => l.StartsWith("coldstore: error:", StringComparison.Ordinal)), StringComparison.Ordinal);
        var archives = Json.Parse(await target.RunAsync("archives", id, "--json")).GetProperty("archives");
        Assert.Equal("archived", archives.EnumerateArray().Single().GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Array, archives.ValueKind);
    }
}

public sealed class RetentionCliOnSqliteAndLocalDirectory(SqliteAndLocalDirectoryTarget target)
    : RetentionCliTests(target), IClassFixture<SqliteAndLocalDirectoryTarget>;

public sealed class RetentionCliOnPostgresAndS3(PostgresAndS3Target target)
    : RetentionCliTests(target), IClassFixture<PostgresAndS3Target>;
