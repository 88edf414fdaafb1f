using Coldstore.Crash.Tests.Support;
using Xunit.Abstractions;

// Child processes, not chDB in this process: see the note at the top of FailpointCrashTests.cs. Here the test itself
// sends SIGKILL to the CLI at a random instant (fixed seeds, so a failure repeats), which only a separate process allows.

namespace Coldstore.Crash.Tests;

/// <summary>Kills a CLI operation at a random instant (not at a failpoint) and returns what the killed run printed.</summary>
internal static class RandomKill
{
    /// <summary>
    /// Starts <c>coldstore ARGS</c>, waits until it has opened chDB (so the kill never lands in .NET's start-up, where it
    /// would prove nothing), waits a random delay, and sends SIGKILL. The delays are stratified: iteration i of n draws
    /// from the i-th of n equal slices of 0.2 s to <paramref name="maxDelaySeconds"/>, so a few iterations still spread
    /// over the whole operation. Returns the killed run; asserts it died of the kill or, when it finished first, that it
    /// succeeded.
    /// </summary>
    public static async Task<CliResult> KillAtRandomAsync(
        Sandbox sandbox, IReadOnlyList<string> args, Random random, int iteration, int iterations, double maxDelaySeconds, ITestOutputHelper output)
    {
        var delay = TimeSpan.FromSeconds(0.2 + ((maxDelaySeconds - 0.2) * (iteration + random.NextDouble()) / iterations));
        await using var running = await sandbox.StartAsync(args);
        var opened = await sandbox.WaitUntilItHoldsTheEngineAsync(running, TimeSpan.FromSeconds(60));
        if (opened)
        {
            await Task.Delay(delay);
        }

        var killed = opened && running.KillNow();
        var result = await running.WaitAsync(ColdstoreCli.DefaultTimeout);
        sandbox.Log(result);
        Assert.True(opened, $"The run (pid {running.ProcessId}) never opened chDB.\n{result}");

        // Killed: 137. Finished before the kill landed (the signal can race a process already exiting, so even a
        // delivered kill may meet exit code 0): it must have succeeded. Anything else is a failure of its own.
        Assert.True(result.DiedOfSigKill || result.ExitCode == 0, $"Unexpected end of a run killed {delay.TotalSeconds:F2} s after opening chDB.\n{result}");
        output.WriteLine(killed
            ? $"{args[0]} killed {delay.TotalSeconds:F2} s after it opened chDB"
            : $"{args[0]} finished before the kill {delay.TotalSeconds:F2} s after it opened chDB");

        // A kill before the lease was taken leaves none; after, one, which would hold the rerun off for 60 s.
        var lapsed = await sandbox.LapseLeasesAsync();
        Assert.True(lapsed <= 1, $"{lapsed} leases of one workspace.");
        return result;
    }

    /// <summary>The names of the steps a run reports: what a rerun had left to do shows where the kill landed.</summary>
    public static string StepNames(CliResult result) =>
        string.Join(", ", result.Json().GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
}

/// <summary>
/// Archive of a large workspace killed at random instants (fixed seed): each time, running archive again must finish
/// and a restore must give back exactly the original rows.
/// </summary>
public abstract class ArchiveKilledAtRandomInstantsTests(EngineSet engines, ITestOutputHelper output)
{
    private const int Iterations = 3;

    [Fact]
    public async Task An_archive_killed_at_random_instants_finishes_when_rerun_and_its_restore_gives_back_exactly_the_original_rows()
    {
        var random = new Random(7_411);
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Large, "random-archive", output);
        var a = sandbox.Template.A.ToString();
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            await RandomKill.KillAtRandomAsync(sandbox, ["archive", a], random, iteration, Iterations, maxDelaySeconds: 3.0, output);

            var rerun = (await sandbox.RunAsync("archive", a)).ShouldSucceed();
            output.WriteLine($"the rerun archive did: {RandomKill.StepNames(rerun)}");
            Assert.Equal("cold", rerun.JsonString("storage"));
            var restored = (await sandbox.RunAsync("restore", a)).ShouldSucceed();
            Assert.Equal("hot", restored.JsonString("storage"));
            await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
        }
    }
}

/// <summary>
/// Restore of a large workspace killed at random instants (fixed seed): each time, running restore again must finish
/// with every row back exactly once.
/// </summary>
public abstract class RestoreKilledAtRandomInstantsTests(EngineSet engines, ITestOutputHelper output)
{
    private const int Iterations = 3;

    [Fact]
    public async Task A_restore_killed_at_random_instants_finishes_when_rerun_with_every_row_back_exactly_once()
    {
        var random = new Random(9_173);
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Large, "random-restore", output);
        var a = sandbox.Template.A.ToString();
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var archived = (await sandbox.RunAsync("archive", a)).ShouldSucceed();
            Assert.Equal("cold", archived.JsonString("storage"));

            await RandomKill.KillAtRandomAsync(sandbox, ["restore", a], random, iteration, Iterations, maxDelaySeconds: 4.5, output);

            var rerun = (await sandbox.RunAsync("restore", a)).ShouldSucceed();
            output.WriteLine($"the rerun restore did: {RandomKill.StepNames(rerun)}");
            Assert.Equal("hot", rerun.JsonString("storage"));
            await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
        }
    }
}

public sealed class ArchiveKilledAtRandomInstantsTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : ArchiveKilledAtRandomInstantsTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class ArchiveKilledAtRandomInstantsTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : ArchiveKilledAtRandomInstantsTests(EngineSet.HttpPostgresAndS3, output);

public sealed class RestoreKilledAtRandomInstantsTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : RestoreKilledAtRandomInstantsTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class RestoreKilledAtRandomInstantsTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : RestoreKilledAtRandomInstantsTests(EngineSet.HttpPostgresAndS3, output);
