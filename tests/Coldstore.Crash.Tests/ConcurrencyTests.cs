using Coldstore.Crash.Tests.Support;
using Coldstore.Services;
using Xunit.Abstractions;

// Child processes, not chDB in this process: see the note at the top of FailpointCrashTests.cs.
//
// Two processes archiving one workspace at once cannot both run with embedded chDB: chDB holds its data directory
// exclusively (the `status` file in it is locked), so the second process cannot even open the events. What can be
// tested, and is below: that the second process fails cleanly (exit code 2, a clear message, nothing on stdout) without
// disturbing the first, and that the per-workspace lease, which guards the state store when the two processes could
// share a ClickHouse server, refuses a rerun while a killed holder's lease lasts and lets it through once it lapses.

namespace Coldstore.Crash.Tests;

/// <summary>A second CLI process on the same embedded chDB directory while an archive runs.</summary>
public sealed class SecondProcessOnOneEmbeddedDirectoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_second_archive_on_the_same_embedded_directory_fails_cleanly_and_the_first_finishes_undisturbed()
    {
        await using var sandbox = await Sandbox.CreateAsync(EngineSet.SqliteAndLocalDirectory, await EventTemplate.Small, "second-process", output);
        var a = sandbox.Template.A.ToString();

        // The first archive holds chDB (and the workspace's lease) through a long settle window, so the second
        // certainly starts while it runs. Unthrottled: neither may queue behind the other or other tests' runs.
        await using var first = await sandbox.StartAsync(["archive", a], throttled: false, settings: new Dictionary<string, string>
        {
            ["COLDSTORE_SETTLE_SECONDS"] = "8",
        });
        Assert.True(await sandbox.WaitUntilItHoldsTheEngineAsync(first, TimeSpan.FromSeconds(60)),
            $"The first archive (pid {first.ProcessId}) never held the chDB directory while running; the test cannot overlap it.");
        var second = await sandbox.RunAsync(["archive", a], failpoint: null, throttled: false);
        var stillRunning = !first.HasExited;
        var firstResult = await first.WaitAsync(ColdstoreCli.DefaultTimeout);
        sandbox.Log(firstResult);
        output.WriteLine(second.ToString());
        Assert.True(stillRunning, $"The first archive had finished before the second was refused, so they did not overlap.\n{firstResult}");

        Assert.True(second.ExitCode == 2, $"Expected exit code 2 (an engine that cannot be opened).\n{second}");
        Assert.Equal(string.Empty, second.Stdout.Trim());
        Assert.Contains("another process", second.Stderr, StringComparison.Ordinal);

        firstResult.ShouldSucceed();
        Assert.Equal("cold", firstResult.JsonString("storage"));
        Assert.Equal(sandbox.Template.ARows, firstResult.Json().GetProperty("rows").GetInt64());

        (await sandbox.RunAsync("restore", a)).ShouldSucceed();
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

/// <summary>
/// The lease a killed archive leaves: it refuses an immediate rerun (exit 3), and lapses after the CLI's default 60 s
/// lease duration for a rerun that waits. Each configuration is its own class so the two waits overlap.
/// </summary>
public abstract class LeaseOfAKilledProcessTests(EngineSet engines, ITestOutputHelper output)
{
    [Fact]
    public async Task A_lease_left_by_a_killed_archive_refuses_an_immediate_rerun_then_lapses_for_a_rerun_that_waits()
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, "lease", output);
        var a = sandbox.Template.A.ToString();

        (await sandbox.RunAsync(["archive", a], failpoint: Steps.ArchiveVerified)).ShouldHaveDiedOfSigKill();

        var refused = await sandbox.RunAsync("archive", a);
        Assert.True(refused.ExitCode == 3, $"Expected exit code 3 (conflict: the dead process's lease still holds).\n{refused}");
        Assert.Contains("busy", refused.Stderr, StringComparison.Ordinal);
        var untouched = (await sandbox.StatusAsync())[sandbox.Template.A];
        Assert.Equal(sandbox.Template.ARows, untouched.HotRows);

        // Unthrottled: this child mostly sleeps until the lease lapses.
        var waited = await sandbox.RunAsync(["archive", a, "--wait", "70"], failpoint: null, timeout: TimeSpan.FromSeconds(150), throttled: false);
        output.WriteLine($"the waiting archive took {waited.Elapsed.TotalSeconds:F1} s");
        waited.ShouldSucceed();
        Assert.Equal("cold", waited.JsonString("storage"));
        // It got the lease by waiting for the lapse, not because the dead process had released it.
        Assert.True(waited.Elapsed > TimeSpan.FromSeconds(30), $"The waiting archive got the lease after only {waited.Elapsed.TotalSeconds:F1} s.\n{waited}");

        (await sandbox.RunAsync("restore", a)).ShouldSucceed();
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

public sealed class LeaseOfAKilledProcessTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : LeaseOfAKilledProcessTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class LeaseOfAKilledProcessTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : LeaseOfAKilledProcessTests(EngineSet.HttpPostgresAndS3, output);
