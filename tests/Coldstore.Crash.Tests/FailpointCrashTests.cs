using Coldstore.Crash.Tests.Support;
using Coldstore.Services;
using Xunit.Abstractions;

// Why every test here drives the CLI in child processes, never chDB in this process:
//  * chDB (embedded ClickHouse) runs one data directory per process, and a data directory cannot be used by two live
//    processes. If the test process opened a sandbox's directory (even just to assert), the CLI could not open it.
//  * A crash must be a real one. COLDSTORE_FAILPOINT=<step> makes the CLI SIGKILL itself right after the step: no
//    finally block, disposal, lease release or flush runs, exactly as if the machine lost power to that process.
//    Only a separate process can be killed like that while the test goes on to inspect what it left behind.
//  * So every ClickHouse action, including every assertion on events (checksum, status), is a `coldstore … --json`
//    child run on the test's own chDB directory, state store and archive location (see Support/Sandbox.cs).
//    Only the archive store is read directly, through its adapter, to prove no object was left behind, and the state
//    store's lease row is aged so that a killed process's 60 s lease lapses at once (Sandbox.LapseLeasesAsync; the
//    real 60 s lapse is tested in ConcurrencyTests.cs). On Postgres, the state store's schema and the two workspaces
//    are made in this process through the Postgres adapter (the state half of `init` and `workspace create`).
//  * To keep ~300 child runs within minutes on two cores, the events are ingested once per test run into a template
//    chDB directory (Support/EventTemplate.cs) that each test copies while no process has it open.

namespace Coldstore.Crash.Tests;

/// <summary>
/// Archive killed right after each of its steps (<c>COLDSTORE_FAILPOINT</c>), then the same command run again: it
/// must finish, and a restore must give back exactly the original rows, never losing or doubling one.
/// </summary>
public abstract class ArchiveFailpointTests(EngineSet engines, ITestOutputHelper output)
{
    // The events fit one chunk, so the step between chunks is never reached here (ChunkedFailpointTests stop there).
    public static TheoryData<string> ArchiveSteps => [.. Steps.All.Where(s => s.StartsWith("archive:", StringComparison.Ordinal) && s != Steps.ArchiveChunkArchived)];

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task An_archive_killed_after_the_step_finishes_when_rerun_and_its_restore_gives_back_exactly_the_original_rows(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, $"archive-{step}", output);
        var a = sandbox.Template.A.ToString();

        var crashed = await sandbox.RunAsync(["archive", a], failpoint: step);
        crashed.ShouldHaveDiedOfSigKill();
        output.WriteLine($"killed after {step}: {crashed.Elapsed.TotalSeconds:F1} s");
        await sandbox.LapseTheKilledProcessLeaseAsync();

        var rerun = (await sandbox.RunAsync("archive", a)).ShouldSucceed();
        Assert.Equal("cold", rerun.JsonString("storage"));

        var restored = (await sandbox.RunAsync("restore", a)).ShouldSucceed();
        Assert.Equal("hot", restored.JsonString("storage"));
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

public sealed class ArchiveFailpointTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : ArchiveFailpointTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class ArchiveFailpointTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : ArchiveFailpointTests(EngineSet.HttpPostgresAndS3, output);

/// <summary>
/// Restore killed right after each of its steps, then run again: it must finish with every row back exactly once.
/// </summary>
public abstract class RestoreFailpointTests(EngineSet engines, ITestOutputHelper output)
{
    public static TheoryData<string> RestoreSteps => [.. Steps.All.Where(s => s.StartsWith("restore:", StringComparison.Ordinal))];

    [Theory]
    [MemberData(nameof(RestoreSteps))]
    public async Task A_restore_killed_after_the_step_finishes_when_rerun_with_every_row_back_exactly_once(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, $"restore-{step}", output);
        var a = sandbox.Template.A.ToString();
        var archived = (await sandbox.RunAsync("archive", a)).ShouldSucceed();
        Assert.Equal("cold", archived.JsonString("storage"));

        var crashed = await sandbox.RunAsync(["restore", a], failpoint: step);
        crashed.ShouldHaveDiedOfSigKill();
        output.WriteLine($"killed after {step}: {crashed.Elapsed.TotalSeconds:F1} s");
        await sandbox.LapseTheKilledProcessLeaseAsync();

        var rerun = (await sandbox.RunAsync("restore", a)).ShouldSucceed();
        Assert.Equal("hot", rerun.JsonString("storage"));
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

public sealed class RestoreFailpointTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : RestoreFailpointTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class RestoreFailpointTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : RestoreFailpointTests(EngineSet.HttpPostgresAndS3, output);

/// <summary>
/// Archive killed right after each of its steps, then the other operation: a restore must roll the half-done archive
/// back (when it deleted nothing) or finish it and restore it, and either way give back exactly the original rows.
/// </summary>
public abstract class ArchiveFailpointThenRestoreTests(EngineSet engines, ITestOutputHelper output)
{
    public static TheoryData<string> ArchiveSteps => ArchiveFailpointTests.ArchiveSteps;

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task A_restore_after_an_archive_killed_after_the_step_gives_back_exactly_the_original_rows(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, $"archive-then-restore-{step}", output);
        var a = sandbox.Template.A.ToString();

        var crashed = await sandbox.RunAsync(["archive", a], failpoint: step);
        crashed.ShouldHaveDiedOfSigKill();
        output.WriteLine($"killed after {step}: {crashed.Elapsed.TotalSeconds:F1} s");
        await sandbox.LapseTheKilledProcessLeaseAsync();

        var restored = (await sandbox.RunAsync("restore", a)).ShouldSucceed();
        Assert.Equal("hot", restored.JsonString("storage"));
        output.WriteLine(restored.Stdout);
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

public sealed class ArchiveFailpointThenRestoreTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : ArchiveFailpointThenRestoreTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class ArchiveFailpointThenRestoreTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : ArchiveFailpointThenRestoreTests(EngineSet.HttpPostgresAndS3, output);
