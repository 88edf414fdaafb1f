using System.Text.Json;

namespace Coldstore.Tests;

/// <summary>
/// <c>coldstore tombstone|activate|pause|resume</c> and <c>coldstore worker --once</c> end to end on real engines,
/// subclassed once per configuration.
/// </summary>
public abstract class LifecycleCliTests(CliTarget target)
{
    private async Task<Guid> CreateWorkspaceAsync(string name, int events, params string[] extra)
    {
        var created = await target.RunAsync(["workspace", "create", "--name", name, .. extra]);
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = Guid.ParseExact(created.Stdout.Trim(), "D");
        var ingest = await target.RunAsync("ingest", "--workspace", id.ToString("D"), "--generate", events.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", "5");
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        return id;
    }

    private async Task<JsonElement> JsonOfAsync(params string[] command)
    {
        var result = await target.RunAsync([.. command, "--json"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return Json.Parse(result);
    }

    private async Task<JsonElement> StatusAsync(Guid id) => (await JsonOfAsync("status", id.ToString("D"))).EnumerateArray().Single();

    private async Task<string> ChecksumAsync(Guid id)
    {
        var sums = await JsonOfAsync("checksum", id.ToString("D"));
        return $"{sums.GetProperty("eventRows")}/{sums.GetProperty("eventChecksum")}/{sums.GetProperty("internalEventRows")}/{sums.GetProperty("internalEventChecksum")}";
    }

    [Fact]
    public async Task Pause_then_resume_moves_status_and_events_and_the_round_trip_is_exact()
    {
        var id = await CreateWorkspaceAsync($"cli-pause-{Guid.NewGuid():N}", 800);
        var before = await ChecksumAsync(id);

        var paused = await JsonOfAsync("pause", id.ToString("D"));
        Assert.Equal("Paused", paused.GetProperty("after").GetProperty("status").GetString());
        Assert.Equal("archive", paused.GetProperty("moved").GetString());
        Assert.Equal("cold", paused.GetProperty("storage").GetString());
        Assert.Equal(800, paused.GetProperty("rows").GetInt64());
        var status = await StatusAsync(id);
        Assert.Equal(0, status.GetProperty("hotRows").GetInt64());
        Assert.Equal(800, status.GetProperty("archivedRows").GetInt64());

        var resumed = await JsonOfAsync("resume", id.ToString("D"));
        Assert.Equal("Active", resumed.GetProperty("after").GetProperty("status").GetString());
        Assert.Equal("restore", resumed.GetProperty("moved").GetString());
        Assert.Equal("hot", (await StatusAsync(id)).GetProperty("storage").GetString());
        Assert.Equal(before, await ChecksumAsync(id));
    }

    [Fact]
    public async Task Archive_and_restore_take_several_ids_each_on_its_own_and_one_that_fails_stops_none_of_the_others()
    {
        var a = await CreateWorkspaceAsync($"cli-many-a-{Guid.NewGuid():N}", 120);
        var b = await CreateWorkspaceAsync($"cli-many-b-{Guid.NewGuid():N}", 80);
        var missing = Guid.NewGuid();
        var before = (await ChecksumAsync(a), await ChecksumAsync(b));

        // A typo is refused before anything runs.
        var typo = await target.RunAsync("archive", a.ToString("D"), "not-a-workspace");
        Assert.Equal(2, typo.ExitCode);
        Assert.Contains("'not-a-workspace' is not a workspace id", typo.Stderr, StringComparison.Ordinal);
        Assert.Equal("hot", (await StatusAsync(a)).GetProperty("storage").GetString());

        var archived = await target.RunAsync("archive", a.ToString("D"), missing.ToString("D"), b.ToString("D"), "--json");
        Assert.True(archived.ExitCode == 1, archived.ToString());
        var results = Json.Parse(archived).EnumerateArray().ToDictionary(r => Guid.Parse(r.GetProperty("workspaceId").GetString()!));
        Assert.Equal(3, results.Count);
        Assert.Equal((true, 120L), (results[a].GetProperty("ok").GetBoolean(), results[a].GetProperty("rows").GetInt64()));
        Assert.Equal((true, 80L), (results[b].GetProperty("ok").GetBoolean(), results[b].GetProperty("rows").GetInt64()));
        Assert.False(results[missing].GetProperty("ok").GetBoolean());
        Assert.Contains(missing.ToString("D"), results[missing].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains(archived.StderrLines, line => line.StartsWith("coldstore: error:", StringComparison.Ordinal) && line.Contains(missing.ToString("D"), StringComparison.Ordinal));
        Assert.Equal(("cold", "cold"), ((await StatusAsync(a)).GetProperty("storage").GetString(), (await StatusAsync(b)).GetProperty("storage").GetString()));

        var restored = await target.RunAsync("restore", b.ToString("D"), a.ToString("D"), "--concurrency", "1", "--json");
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal(2, Json.Parse(restored).GetArrayLength());
        Assert.Equal(before, (await ChecksumAsync(a), await ChecksumAsync(b)));
    }

    [Fact]
    public async Task Archive_with_a_status_takes_every_workspace_in_it()
    {
        var paused = new[] { await CreateWorkspaceAsync($"cli-st-1-{Guid.NewGuid():N}", 60), await CreateWorkspaceAsync($"cli-st-2-{Guid.NewGuid():N}", 40) };
        var active = await CreateWorkspaceAsync($"cli-st-3-{Guid.NewGuid():N}", 30);
        foreach (var id in paused)
        {
            var pause = await target.RunAsync("pause", id.ToString("D"), "--no-wait");
            Assert.True(pause.ExitCode == 0, pause.ToString());
        }

        var neither = await target.RunAsync("archive");
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("--status", neither.Stderr, StringComparison.Ordinal);
        var badStatus = await target.RunAsync("archive", "--status", "Sleeping");
        Assert.Equal(2, badStatus.ExitCode);
        Assert.Contains("Sleeping", badStatus.Stderr, StringComparison.Ordinal);

        var archived = await target.RunAsync("archive", "--status", "Paused", "--json");
        Assert.True(archived.ExitCode == 0, archived.ToString());
        var results = Json.Parse(archived).EnumerateArray().ToDictionary(r => Guid.Parse(r.GetProperty("workspaceId").GetString()!));
        Assert.Equal(60, results[paused[0]].GetProperty("rows").GetInt64());
        Assert.Equal(40, results[paused[1]].GetProperty("rows").GetInt64());
        Assert.False(results.ContainsKey(active));
        foreach (var id in paused)
        {
            Assert.Equal("cold", (await StatusAsync(id)).GetProperty("storage").GetString());
        }

        Assert.Equal("hot", (await StatusAsync(active)).GetProperty("storage").GetString());
    }

    [Fact]
    public async Task Tombstone_and_activate_rename_as_dittofeed_does_and_a_taken_name_exits_3_with_one_line()
    {
        var name = $"cli-tomb-{Guid.NewGuid():N}";
        var id = await CreateWorkspaceAsync(name, 300, "--external-id", $"ext-{name}");

        var tombstoned = await JsonOfAsync("tombstone", id.ToString("D"));
        Assert.Equal($"DfTombstoned-{name}", tombstoned.GetProperty("after").GetProperty("name").GetString());
        Assert.Equal($"DfTombstoned-ext-{name}", tombstoned.GetProperty("after").GetProperty("externalId").GetString());
        Assert.Equal("cold", tombstoned.GetProperty("storage").GetString());

        var usurper = await target.RunAsync("workspace", "create", "--name", name);
        Assert.Equal(0, usurper.ExitCode);
        var conflict = await target.RunAsync("activate", id.ToString("D"));
        Assert.Equal(3, conflict.ExitCode);
        var line = Assert.Single(conflict.StderrLines);
        Assert.StartsWith("coldstore: error:", line, StringComparison.Ordinal);
        Assert.Contains(id.ToString("D"), line, StringComparison.Ordinal);
        Assert.Contains("activate", line, StringComparison.Ordinal);
        Assert.Equal("Tombstoned", (await StatusAsync(id)).GetProperty("status").GetString());
        Assert.Equal("cold", (await StatusAsync(id)).GetProperty("storage").GetString());
    }

    [Fact]
    public async Task With_no_wait_only_the_status_changes_and_worker_once_moves_each_workspace_where_it_belongs()
    {
        var paused = await CreateWorkspaceAsync($"cli-w-paused-{Guid.NewGuid():N}", 400);
        var tombstoned = await CreateWorkspaceAsync($"cli-w-tomb-{Guid.NewGuid():N}", 350);
        var active = await CreateWorkspaceAsync($"cli-w-active-{Guid.NewGuid():N}", 300);
        var sums = new Dictionary<Guid, string>
        {
            [paused] = await ChecksumAsync(paused),
            [tombstoned] = await ChecksumAsync(tombstoned),
            [active] = await ChecksumAsync(active),
        };

        var pause = await JsonOfAsync("pause", paused.ToString("D"), "--no-wait");
        Assert.Equal("worker", pause.GetProperty("moved").GetString());
        Assert.Equal("hot", pause.GetProperty("storage").GetString());
        Assert.Equal("cold", pause.GetProperty("desiredStorage").GetString());
        await JsonOfAsync("tombstone", tombstoned.ToString("D"), "--no-wait");
        Assert.Equal(400, (await StatusAsync(paused)).GetProperty("hotRows").GetInt64());

        var pass = await JsonOfAsync("worker", "--once");
        Assert.True(pass.GetProperty("converged").GetBoolean(), pass.ToString());
        var attempts = pass.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal("archive", attempts.Single(a => a.GetProperty("workspaceId").GetGuid() == paused).GetProperty("action").GetString());
        Assert.Equal("archive", attempts.Single(a => a.GetProperty("workspaceId").GetGuid() == tombstoned).GetProperty("action").GetString());
        Assert.DoesNotContain(attempts, a => a.GetProperty("workspaceId").GetGuid() == active);
        foreach (var (id, storage) in new[] { (paused, "cold"), (tombstoned, "cold"), (active, "hot") })
        {
            Assert.Equal(storage, (await StatusAsync(id)).GetProperty("storage").GetString());
        }

        await JsonOfAsync("resume", paused.ToString("D"), "--no-wait");
        await JsonOfAsync("activate", tombstoned.ToString("D"), "--no-wait");
        Assert.True((await JsonOfAsync("worker", "--once")).GetProperty("converged").GetBoolean());
        foreach (var (id, sum) in sums)
        {
            Assert.Equal("hot", (await StatusAsync(id)).GetProperty("storage").GetString());
            Assert.Equal(sum, await ChecksumAsync(id));
        }
    }

    [Fact]
    public async Task The_worker_refuses_a_bad_setting_with_one_line_naming_it_and_exit_2()
    {
        // The worker runs on a .NET host (AddColdstore): a bad setting there is the same one line and exit 2.
        foreach (var (flag, value, expected) in new[]
        {
            ("--lease-seconds", "2", "--lease-seconds='2' is not valid: use a number of seconds from 5 to 3600"),
            ("--concurrency", "lots", "--concurrency='lots' is not valid: use a whole number from 1 to 64."),
            ("--poll-seconds", "0.01", "--poll-seconds='0.01' is not valid: use a number of seconds from 0.1 to 3600"),
        })
        {
            var refused = await target.RunAsync("worker", "--once", flag, value);
            Assert.True(refused.ExitCode == 2, refused.ToString());
            Assert.Contains(expected, Assert.Single(refused.StderrLines), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_cold_storage_off_pause_changes_only_the_status_and_the_worker_refuses_to_run()
    {
        var id = await CreateWorkspaceAsync($"cli-off-{Guid.NewGuid():N}", 200);

        var paused = await JsonOfAsync("pause", id.ToString("D"), "--cold-storage", "off");
        Assert.Equal("Paused", paused.GetProperty("after").GetProperty("status").GetString());
        Assert.Equal("off", paused.GetProperty("moved").GetString());
        Assert.False(paused.GetProperty("coldStorage").GetBoolean());
        var status = await StatusAsync(id);
        Assert.Equal("hot", status.GetProperty("storage").GetString());
        Assert.Equal(200, status.GetProperty("hotRows").GetInt64());

        var worker = await target.RunAsync("worker", "--once", "--cold-storage", "off");
        Assert.Equal(2, worker.ExitCode);
        Assert.Contains("COLDSTORE_COLD_STORAGE", Assert.Single(worker.StderrLines), StringComparison.Ordinal);
        var bad = await target.RunAsync("pause", id.ToString("D"), "--cold-storage", "maybe");
        Assert.Equal(2, bad.ExitCode);
        // The refusal names the setting as it was given: the flag here, the variable when it came from the environment.
        Assert.Contains("--cold-storage='maybe' is not valid: use on or off.", Assert.Single(bad.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lifecycle_commands_on_a_malformed_or_unknown_id_fail_with_one_line_naming_it()
    {
        var malformed = await target.RunAsync("pause", "not-a-uuid");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("not-a-uuid", Assert.Single(malformed.StderrLines), StringComparison.Ordinal);

        var unknown = Guid.NewGuid();
        var missing = await target.RunAsync("tombstone", unknown.ToString("D"));
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains(unknown.ToString("D"), Assert.Single(missing.StderrLines), StringComparison.Ordinal);
    }
}

public sealed class LifecycleCliOnSqliteAndLocalDirectory(SqliteAndLocalDirectoryTarget target)
    : LifecycleCliTests(target), IClassFixture<SqliteAndLocalDirectoryTarget>;

public sealed class LifecycleCliOnPostgresAndS3(PostgresAndS3Target target)
    : LifecycleCliTests(target), IClassFixture<PostgresAndS3Target>;
