using System.Text.Json;

namespace Coldstore.Tests;

/// <summary>
/// <c>coldstore demo</c> in process, on chDB, SQLite and a local archive directory. The main test gives it a database,
/// a state file and an archive directory that do not exist yet, so the demo's own init is what makes them.
/// </summary>
public sealed class DemoCommandTests(SqliteAndLocalDirectoryTarget target) : IClassFixture<SqliteAndLocalDirectoryTarget>
{
    private const int Events = 1500;

    private static readonly string[] Phases = ["init", "create", "ingest", "checksum-before", "to-cold", "status", "to-hot", "checksum-after"];

    private static string SqlitePath(string state) => state["sqlite:".Length..];

    [Fact]
    public async Task The_demo_starts_from_nothing_moves_two_workspaces_to_cold_and_back_and_every_row_returns_exactly()
    {
        var database = target.NewDatabase();
        var state = await target.NewStateAsync();
        var archiveDirectory = Path.Combine(target.TempDirectory, $"archive-{Guid.NewGuid():N}");
        var archive = $"file:{archiveDirectory}";
        Assert.False(File.Exists(SqlitePath(state)));

        var demo = await Cli.RunAsync(target.Args(["demo", "--events", $"{Events}", "--json"], database, state, archive));

        Assert.True(demo.ExitCode == 0, demo.ToString());
        // With --json, stdout holds the one document and nothing goes to stderr.
        Assert.True(demo.Stderr.Length == 0, demo.ToString());
        Assert.True(File.Exists(SqlitePath(state)), "the demo should have created the SQLite state file itself");
        var json = Json.Parse(demo);
        Assert.True(json.GetProperty("exact").GetBoolean(), demo.Stdout);
        Assert.Equal(Phases, json.GetProperty("phases").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.All(json.GetProperty("phases").EnumerateArray(), p => Assert.True(p.GetProperty("durationMs").GetInt64() >= 0));

        var suffix = json.GetProperty("runSuffix").GetString()!;
        var workspaces = json.GetProperty("workspaces").EnumerateArray().ToArray();
        Assert.Equal(4, workspaces.Length);
        Assert.Equal(4, workspaces.Select(w => w.GetProperty("id").GetGuid()).Distinct().Count());
        Assert.All(workspaces, w => Assert.EndsWith($"-{suffix}", w.GetProperty("name").GetString(), StringComparison.Ordinal));
        Assert.Equal(["active", "active", "paused", "tombstoned"], workspaces.Select(w => w.GetProperty("role").GetString()).Order(StringComparer.Ordinal));
        Assert.Contains(workspaces, w => w.GetProperty("externalId").ValueKind == JsonValueKind.String);

        foreach (var w in workspaces)
        {
            AssertRoundTripExact(w);
            AssertMidway(w);
        }

        var totals = json.GetProperty("totals");
        Assert.Equal(2L * Events, totals.GetProperty("rowsMoved").GetInt64());
        Assert.True(totals.GetProperty("compressionRatio").GetDouble() > 1, totals.ToString());

        // At the end every workspace is Active and hot again, as `status` (a separate run) reads it from the engines.
        var status = await Cli.RunAsync(target.Args(["status", "--json"], database, state, archive));
        Assert.True(status.ExitCode == 0, status.ToString());
        var reports = Json.Parse(status).EnumerateArray().ToDictionary(r => r.GetProperty("id").GetGuid());
        Assert.Equal(4, reports.Count);
        foreach (var w in workspaces)
        {
            var report = reports[w.GetProperty("id").GetGuid()];
            Assert.Equal(w.GetProperty("name").GetString(), report.GetProperty("name").GetString());
            Assert.Equal("Active", report.GetProperty("status").GetString());
            Assert.Equal("hot", report.GetProperty("storage").GetString());
            Assert.Equal(Events, report.GetProperty("hotRows").GetInt64());
            Assert.Equal(0, report.GetProperty("archives").GetInt32());
        }
    }

    [Fact]
    public async Task Running_the_demo_again_on_the_same_engines_uses_new_workspaces_and_is_exact_again()
    {
        // The class's database and state are already initialized, so this is also init on an initialized install.
        var first = await target.RunAsync("demo", "--events", "200", "--seed", "7", "--json");
        var second = await target.RunAsync("demo", "--events", "200", "--seed", "7", "--json");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        var runs = new[] { Json.Parse(first), Json.Parse(second) };
        Assert.All(runs, run => Assert.True(run.GetProperty("exact").GetBoolean()));
        Assert.NotEqual(runs[0].GetProperty("runSuffix").GetString(), runs[1].GetProperty("runSuffix").GetString());
        var names = runs.SelectMany(run => run.GetProperty("workspaces").EnumerateArray().Select(w => w.GetProperty("name").GetString())).ToArray();
        Assert.Equal(8, names.Distinct(StringComparer.Ordinal).Count());
        // The same seed generates the same events per tenant; checksums differ (new workspace ids and processing
        // times) but how many of them are Dittofeed's own, and so become internal events, does not.
        Assert.Equal(InternalEventRows(runs[0]), InternalEventRows(runs[1]));

        static long[] InternalEventRows(JsonElement run) =>
            run.GetProperty("workspaces").EnumerateArray().Select(w => w.GetProperty("after").GetProperty("internalEventRows").GetInt64()).ToArray();
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    public async Task Fewer_than_one_event_is_a_usage_error_naming_events_before_anything_is_created(string events)
    {
        var state = await target.NewStateAsync();
        var archiveDirectory = Path.Combine(target.TempDirectory, $"archive-{Guid.NewGuid():N}");

        var demo = await Cli.RunAsync(target.Args(["demo", "--events", events, "--json"], target.NewDatabase(), state, $"file:{archiveDirectory}"));

        Assert.True(demo.ExitCode == 2, demo.ToString());
        Assert.Empty(demo.Stdout);
        var error = Assert.Single(demo.StderrLines, l => l.Contains("--events", StringComparison.Ordinal));
        Assert.StartsWith("coldstore:", error, StringComparison.Ordinal);
        Assert.Contains($"not {events}", error, StringComparison.Ordinal);
        Assert.False(File.Exists(SqlitePath(state)), "a rejected command line must not create the state store");
        Assert.False(Directory.Exists(archiveDirectory), "a rejected command line must not create the archive directory");
    }

    private static void AssertRoundTripExact(JsonElement w)
    {
        var name = w.GetProperty("name").GetString();
        Assert.True(w.GetProperty("match").GetBoolean(), $"{name}: {w}");
        Assert.Equal(Events, w.GetProperty("rows").GetInt64());
        var before = w.GetProperty("before");
        var after = w.GetProperty("after");
        Assert.Equal(Events, before.GetProperty("eventRows").GetInt64());
        // About a sixth of generated events are Dittofeed's own, which the view turns into internal events.
        Assert.InRange(before.GetProperty("internalEventRows").GetInt64(), 1, Events - 1);
        foreach (var field in new[] { "eventRows", "internalEventRows" })
        {
            Assert.Equal(before.GetProperty(field).GetInt64(), after.GetProperty(field).GetInt64());
        }

        foreach (var field in new[] { "eventChecksum", "internalEventChecksum" })
        {
            // Text, so no 64-bit value is rounded; a checksum of zero would mean nothing was summed.
            Assert.Equal(JsonValueKind.String, before.GetProperty(field).ValueKind);
            Assert.NotEqual("0", before.GetProperty(field).GetString());
            Assert.Equal(before.GetProperty(field).GetString(), after.GetProperty(field).GetString());
        }

        Assert.True(w.GetProperty("rawBytes").GetInt64() > 0, $"{name}: {w}");
    }

    private static void AssertMidway(JsonElement w)
    {
        var midway = w.GetProperty("midway");
        var rows = w.GetProperty("rows").GetInt64();
        var archivedBytes = w.GetProperty("archivedBytes").GetInt64();
        switch (w.GetProperty("role").GetString())
        {
            case "active":
                Assert.Equal("Active", midway.GetProperty("status").GetString());
                Assert.Equal("hot", midway.GetProperty("storage").GetString());
                Assert.Equal(rows, midway.GetProperty("hotRows").GetInt64());
                Assert.Equal(0, midway.GetProperty("archivedRows").GetInt64());
                Assert.Equal(0, archivedBytes);
                Assert.Equal(JsonValueKind.Null, w.GetProperty("compressionRatio").ValueKind);
                break;
            case var role:
                Assert.Equal(role == "paused" ? "Paused" : "Tombstoned", midway.GetProperty("status").GetString());
                Assert.Equal("cold", midway.GetProperty("storage").GetString());
                Assert.Equal(0, midway.GetProperty("hotRows").GetInt64());
                Assert.Equal(rows, midway.GetProperty("archivedRows").GetInt64());
                // The archive is compressed Parquet of the same columns, so it is smaller than their raw size.
                Assert.InRange(archivedBytes, 1, w.GetProperty("rawBytes").GetInt64() - 1);
                Assert.True(w.GetProperty("compressionRatio").GetDouble() > 1, w.ToString());
                if (role == "tombstoned")
                {
                    Assert.StartsWith("DfTombstoned-", midway.GetProperty("name").GetString(), StringComparison.Ordinal);
                }

                break;
        }
    }
}
