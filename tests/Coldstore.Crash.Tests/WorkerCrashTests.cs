using System.Diagnostics;
using System.Text.Json;
using Coldstore.Crash.Tests.Support;
using WorkspaceLifecycle = Coldstore.Domain.WorkspaceLifecycle;
using Xunit.Abstractions;

// Child processes, not chDB in this process: see the note at the top of FailpointCrashTests.cs. Here the CLI child is
// `coldstore worker`, which reconciles every workspace's events with its status (Paused, Tombstoned: cold; Active: hot).
// The test changes statuses with `pause|tombstone|resume|activate --no-wait` (status only), so the worker does every move,
// and kills it (SIGKILL) or stops it (SIGTERM) while it runs. While a worker runs, the test reads only the state store
// (never chDB): its lease table (Sandbox.HeldLeasesAsync: a held lease is a move in progress) and the workspaces' storage
// column (Sandbox.StorageAsync: "archiving" once an archive's ledger row is written).

namespace Coldstore.Crash.Tests;

/// <summary>Runs of <c>coldstore worker</c> in its two modes, and the status changes that give it work.</summary>
internal static class WorkerRuns
{
    /// <summary>The long-running worker, re-reading the workspaces every half second.</summary>
    public static readonly IReadOnlyList<string> LongRunning = ["worker", "--poll-seconds", "0.5"];

    /// <summary>
    /// <c>coldstore TRANSITION ID --no-wait</c>, which must succeed, change only the status to
    /// <paramref name="expectedStatus"/>, and leave the events to the worker.
    /// </summary>
    public static async Task ChangeStatusAsync(Sandbox sandbox, string transition, Guid workspaceId, string expectedStatus)
    {
        var result = (await sandbox.RunAsync(transition, workspaceId.ToString(), "--no-wait")).ShouldSucceed();
        var json = result.Json();
        Assert.True(json.GetProperty("after").GetProperty("status").GetString() == expectedStatus, $"Expected status {expectedStatus}.\n{result}");
        Assert.True(json.GetProperty("moved").GetString() == "worker", $"--no-wait should leave the move to the worker.\n{result}");
    }

    /// <summary>
    /// Starts the long-running worker, waits until it has a move in progress (holds a lease), waits a random delay and
    /// sends SIGKILL; then lets the leases it left lapse. The delays are stratified as in <see cref="RandomKill"/>:
    /// iteration i of n draws from the i-th of n slices of 0 to <paramref name="maxDelaySeconds"/>. They count from
    /// the first lease, not from when chDB opened: the worker spends a second or more between the two on a loaded
    /// machine (state store checks, the first pass's reads), where a kill proves nothing. Returns how many leases it
    /// held when it died, i.e. how many moves the kill cut short.
    /// </summary>
    public static async Task<int> KillAtRandomAsync(
        Sandbox sandbox, Random random, int iteration, int iterations, double maxDelaySeconds, ITestOutputHelper output)
    {
        var delay = TimeSpan.FromSeconds(maxDelaySeconds * (iteration + random.NextDouble()) / iterations);
        var outOfPlace = await sandbox.WorkspacesOutOfPlaceAsync();
        await using var running = await sandbox.StartAsync(LongRunning);
        var opened = await sandbox.WaitUntilItHoldsTheEngineAsync(running, TimeSpan.FromSeconds(60));
        var underway = opened && await sandbox.WaitUntilAMoveIsUnderwayAsync(running, TimeSpan.FromSeconds(60));
        if (underway)
        {
            await Task.Delay(delay);
        }

        var killed = running.KillNow();
        var result = await running.WaitAsync(ColdstoreCli.DefaultTimeout);
        sandbox.Log(result);
        Assert.True(opened, $"The worker (pid {running.ProcessId}) never opened chDB.\n{result}");
        Assert.True(underway, $"The worker (pid {running.ProcessId}) never started a move, though workspaces were not where their status says.\n{result}");

        // A long-running worker never exits by itself: ending before the kill (even with 0) is a failure of its own.
        Assert.True(killed && result.DiedOfSigKill, $"The worker ended before it was killed {delay.TotalSeconds:F2} s into its moves.\n{result}");
        var lapsed = await sandbox.LapseLeasesAsync();
        output.WriteLine($"worker killed {delay.TotalSeconds:F2} s after its first lease, holding {lapsed} lease(s); its log:");
        WriteLog(output, result);
        // A batch holds the lease of every workspace in it, so the bound is not the concurrency but the workspaces that
        // need a move: the worker must never lease one whose events are where its status says.
        Assert.True(lapsed <= outOfPlace, $"The killed worker held {lapsed} leases, but only {outOfPlace} workspaces needed a move.");
        return lapsed;
    }

    /// <summary>
    /// Kills the long-running worker <paramref name="kills"/> times at random instants (see <see cref="KillAtRandomAsync"/>),
    /// or fewer when it got every workspace where it belongs first; asserts at least one kill cut a move short.
    /// </summary>
    public static async Task KillRepeatedlyAsync(Sandbox sandbox, Random random, int kills, double maxDelaySeconds, string moves, ITestOutputHelper output)
    {
        var midMove = 0;
        for (var kill = 0; kill < kills; kill++)
        {
            if (await sandbox.WorkspacesOutOfPlaceAsync() == 0)
            {
                output.WriteLine($"every workspace is where its status says after {kill} kills; no more kills");
                break;
            }

            midMove += await KillAtRandomAsync(sandbox, random, kill, kills, maxDelaySeconds, output) > 0 ? 1 : 0;
        }

        Assert.True(midMove > 0, $"None of the kills landed while the worker was {moves}, so they proved nothing.");
        output.WriteLine($"{midMove} of {kills} kills cut {moves} short");
    }

    /// <summary>
    /// Runs <c>coldstore worker --once</c> until it exits 0 (at most <paramref name="attempts"/> times) and returns
    /// that run; fails with every run's output when none did.
    /// </summary>
    public static async Task<CliResult> RunOnceUntilConvergedAsync(Sandbox sandbox, ITestOutputHelper output, int attempts = 3)
    {
        var failures = new List<CliResult>();
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            var result = await sandbox.RunAsync("worker", "--once");
            output.WriteLine($"worker --once #{attempt}: {AttemptsText(result)}");
            if (result.ExitCode == 0)
            {
                Assert.True(result.Json().GetProperty("converged").GetBoolean(), $"worker --once exited 0 without converging.\n{result}");
                return result;
            }

            WriteLog(output, result);
            failures.Add(result);
        }

        Assert.Fail($"worker --once did not exit 0 in {attempts} runs.\n{string.Join("\n\n", failures)}");
        return null!;
    }

    /// <summary>The attempts of a <c>worker --once --json</c> run, one line: name, action, outcome, rows.</summary>
    public static string AttemptsText(CliResult result)
    {
        if (result.ExitCode is not (0 or 1 or 3))
        {
            return $"exit {result.ExitCode}";
        }

        var attempts = result.Json().GetProperty("attempts").EnumerateArray()
            .Select(a => $"{a.GetProperty("name").GetString()} {a.GetProperty("storageBefore").GetString()}→{a.GetProperty("storageAfter").GetString()} "
                + $"{a.GetProperty("action").GetString()} {a.GetProperty("outcome").GetString()} {a.GetProperty("rows").GetInt64()} rows")
            .ToList();
        return $"exit {result.ExitCode}, {(attempts.Count == 0 ? "no attempts" : string.Join("; ", attempts))}";
    }

    /// <summary>The worker's log (stderr), line by line, into the test's output.</summary>
    public static void WriteLog(ITestOutputHelper output, CliResult result)
    {
        foreach (var line in result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            output.WriteLine($"    {line}");
        }
    }

    /// <summary>The attempts of a <c>worker --once --json</c> run on one workspace.</summary>
    public static List<JsonElement> AttemptsOn(CliResult result, Guid workspaceId) =>
        [.. result.Json().GetProperty("attempts").EnumerateArray().Where(a => a.GetProperty("workspaceId").GetGuid() == workspaceId)];

    /// <summary>Asserts that status shows the workspace cold, with no hot rows and every original row archived.</summary>
    public static void AssertCold(IReadOnlyDictionary<Guid, WorkspaceStatus> status, TemplateWorkspace workspace, string expectedStatus)
    {
        var s = status[workspace.Id];
        Assert.True(s.Status == expectedStatus, $"{workspace.Name}: expected status {expectedStatus}, found {s}");
        Assert.True(s.Storage == "cold", $"{workspace.Name}: expected cold storage, found {s}");
        Assert.True(s.HotRows == 0, $"{workspace.Name}: expected no hot rows, found {s}");
        Assert.True(s.ArchivedRows == workspace.Rows, $"{workspace.Name}: expected {workspace.Rows} archived rows, found {s}");
    }

    /// <summary>Asserts that status shows the workspace Active and hot with exactly its original rows and no archive.</summary>
    public static void AssertHot(IReadOnlyDictionary<Guid, WorkspaceStatus> status, TemplateWorkspace workspace)
    {
        var s = status[workspace.Id];
        Assert.True(s.Status == "Active", $"{workspace.Name}: expected status Active, found {s}");
        Assert.True(s.Name == workspace.Name, $"{workspace.Name}: expected its original name back, found {s}");
        Assert.True(s.Storage == "hot", $"{workspace.Name}: expected hot storage, found {s}");
        Assert.True(s.HotRows == workspace.Rows, $"{workspace.Name}: expected {workspace.Rows} hot rows, found {s}");
        Assert.True(s.Archives == 0 && s.ArchivedRows == 0, $"{workspace.Name}: expected no archive, found {s}");
    }

    /// <summary>
    /// Asserts every workspace of the sandbox is Active, hot, and holds exactly its original rows (counts, then
    /// full-row checksums of both event tables), and that no archive object was left behind.
    /// </summary>
    public static async Task AssertEveryWorkspaceIsExactlyAsBeforeAsync(Sandbox sandbox)
    {
        var status = await sandbox.StatusAsync();
        foreach (var workspace in sandbox.Template.Workspaces)
        {
            AssertHot(status, workspace);
            var sums = await sandbox.ChecksumAsync(workspace.Id);
            // Counts first: a lost row or a duplicate reads better as a count than as a checksum mismatch.
            Assert.True(sums.EventRows == workspace.Rows, $"{workspace.Name}: {sums.EventRows} events, expected {workspace.Rows}.");
            Assert.True(sums.InternalEventRows == workspace.Checksums.InternalEventRows,
                $"{workspace.Name}: {sums.InternalEventRows} internal events, expected {workspace.Checksums.InternalEventRows}.");
            Assert.Equal(workspace.Checksums, sums);
        }

        Assert.Empty(await sandbox.ArchiveObjectsAsync());
    }
}

/// <summary>
/// The long-running worker killed (SIGKILL) at random instants (fixed seeds) while it archives three workspaces
/// (two paused, one tombstoned; a fourth stays Active), restarted each time; then, once the statuses are turned back to
/// Active, killed while it restores them. Each time a final <c>worker --once</c> must finish the work, and in the end
/// every workspace must hold exactly its original rows: none lost, none doubled.
/// </summary>
public abstract class WorkerKilledAtRandomInstantsTests(EngineSet engines, int seed, ITestOutputHelper output)
{
    private const int ArchiveKills = 3;
    private const int RestoreKills = 2;

    [Fact]
    public async Task A_worker_killed_at_random_instants_finishes_when_restarted_and_every_workspace_ends_where_its_status_says_with_every_row_exactly_once()
    {
        var clock = Stopwatch.StartNew();
        var random = new Random(seed);
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Worker, "worker-random-kill", output);
        var workspaces = sandbox.Template.Workspaces;
        var (a, b, c, d) = (workspaces[0], workspaces[1], workspaces[2], workspaces[3]);

        // Three workspaces to archive (90,000 rows), one (D) that must stay where it is.
        await WorkerRuns.ChangeStatusAsync(sandbox, "pause", a.Id, "Paused");
        await WorkerRuns.ChangeStatusAsync(sandbox, "tombstone", b.Id, "Tombstoned");
        await WorkerRuns.ChangeStatusAsync(sandbox, "pause", c.Id, "Paused");

        await WorkerRuns.KillRepeatedlyAsync(sandbox, random, ArchiveKills, maxDelaySeconds: 3.0, "archiving", output);
        await WorkerRuns.RunOnceUntilConvergedAsync(sandbox, output);
        var cold = await sandbox.StatusAsync();
        WorkerRuns.AssertCold(cold, a, "Paused");
        WorkerRuns.AssertCold(cold, b, "Tombstoned");
        WorkerRuns.AssertCold(cold, c, "Paused");
        Assert.True(cold[d.Id] is { Status: "Active", Storage: "hot", Archives: 0 } && cold[d.Id].HotRows == d.Rows, $"D should be untouched: {cold[d.Id]}");
        output.WriteLine($"archived after {clock.Elapsed.TotalSeconds:F1} s");

        await WorkerRuns.ChangeStatusAsync(sandbox, "resume", a.Id, "Active");
        await WorkerRuns.ChangeStatusAsync(sandbox, "activate", b.Id, "Active");
        await WorkerRuns.ChangeStatusAsync(sandbox, "resume", c.Id, "Active");

        // The three restores go in one batch, which takes about a second here: the kills land within it.
        await WorkerRuns.KillRepeatedlyAsync(sandbox, random, RestoreKills, maxDelaySeconds: 1.0, "restoring", output);
        await WorkerRuns.RunOnceUntilConvergedAsync(sandbox, output);
        await WorkerRuns.AssertEveryWorkspaceIsExactlyAsBeforeAsync(sandbox);
        output.WriteLine($"restored; the test took {clock.Elapsed.TotalSeconds:F1} s");
    }
}

public sealed class WorkerKilledAtRandomInstantsTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : WorkerKilledAtRandomInstantsTests(EngineSet.SqliteAndLocalDirectory, 5_113, output);

public sealed class WorkerKilledAtRandomInstantsTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : WorkerKilledAtRandomInstantsTests(EngineSet.HttpPostgresAndS3, 6_229, output);

/// <summary>
/// SIGTERM to the long-running worker in the middle of a move: it must stop within a bound, exit 0, release its leases
/// (so the next run need not wait for them to lapse), and the next pass must finish the move it cut short.
/// </summary>
public abstract class WorkerStoppedBySigtermTests(EngineSet engines, ITestOutputHelper output)
{
    private const double ShutdownSeconds = 10;

    /// <summary>From SIGTERM to exit: the worker's drain bound plus ample time to close the engines and exit.</summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(ShutdownSeconds + 20);

    [Fact]
    public async Task A_worker_stopped_by_SIGTERM_mid_move_exits_0_promptly_releases_its_leases_and_the_next_pass_finishes_the_move()
    {
        var clock = Stopwatch.StartNew();
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Large, "worker-sigterm", output);
        var template = sandbox.Template;
        await WorkerRuns.ChangeStatusAsync(sandbox, "pause", template.A, "Paused");
        await WorkerRuns.ChangeStatusAsync(sandbox, "pause", template.B, "Paused");

        // A's 100,000 rows take the worker seconds to copy: stop it half a second after A's archive began (the state
        // store says "archiving" once its ledger row is written), so the stop lands inside the copy.
        await using var running = await sandbox.StartAsync(
            [.. WorkerRuns.LongRunning, "--shutdown-seconds", ShutdownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var underway = await sandbox.WaitUntilItHoldsTheEngineAsync(running, TimeSpan.FromSeconds(60))
            && await Sandbox.WaitWhileRunningAsync(running, async () => await sandbox.StorageAsync(template.A) == "archiving", TimeSpan.FromSeconds(60));
        if (underway)
        {
            await Task.Delay(TimeSpan.FromSeconds(0.5));
        }

        var held = underway ? await sandbox.HeldLeasesAsync() : 0;
        var stopping = Stopwatch.StartNew();
        var signalled = held > 0 && await running.TerminateNowAsync();
        var result = await running.WaitAsync(held > 0 ? StopBound : ColdstoreCli.DefaultTimeout);
        var stopTime = stopping.Elapsed;
        sandbox.Log(result);
        WorkerRuns.WriteLog(output, result);
        Assert.True(held > 0, $"The worker never had a move in progress to interrupt (held {held} leases).\n{result}");
        Assert.True(signalled, $"SIGTERM could not be sent.\n{result}");
        output.WriteLine($"SIGTERM with {held} move(s) in progress; the worker exited {result.ExitCode} after {stopTime.TotalSeconds:F2} s");

        result.ShouldSucceed();
        Assert.True(stopTime < StopBound, $"The worker took {stopTime.TotalSeconds:F1} s to stop.\n{result}");
        Assert.Contains("Worker stopped", result.Stderr, StringComparison.Ordinal);
        Assert.Contains($"Workspace {template.A}: stopped mid-move", result.Stderr, StringComparison.Ordinal);

        // A graceful stop releases its leases: no lapse here. The next pass must get every workspace at once.
        Assert.Equal(0, await sandbox.HeldLeasesAsync());
        var next = await sandbox.RunAsync("worker", "--once");
        output.WriteLine($"worker --once: {WorkerRuns.AttemptsText(next)}");
        Assert.True(next.ExitCode == 0, $"Expected exit code 0 (not 3: the stopped worker must have released its leases).\n{next}");
        Assert.True(next.Json().GetProperty("converged").GetBoolean(), $"Expected the pass to converge.\n{next}");
        var finished = Assert.Single(WorkerRuns.AttemptsOn(next, template.A));
        Assert.Equal("archiving", finished.GetProperty("storageBefore").GetString());
        Assert.Equal("archive", finished.GetProperty("action").GetString());
        Assert.Equal("done", finished.GetProperty("outcome").GetString());

        var cold = await sandbox.StatusAsync();
        WorkerRuns.AssertCold(cold, template.Workspaces[0], "Paused");
        WorkerRuns.AssertCold(cold, template.Workspaces[1], "Paused");

        await WorkerRuns.ChangeStatusAsync(sandbox, "resume", template.A, "Active");
        await WorkerRuns.ChangeStatusAsync(sandbox, "resume", template.B, "Active");
        (await sandbox.RunAsync("worker", "--once")).ShouldSucceed();
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
        output.WriteLine($"the test took {clock.Elapsed.TotalSeconds:F1} s");
    }
}

public sealed class WorkerStoppedBySigtermTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : WorkerStoppedBySigtermTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class WorkerStoppedBySigtermTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : WorkerStoppedBySigtermTests(EngineSet.HttpPostgresAndS3, output);

/// <summary>
/// One <c>coldstore worker --once</c> over paused, tombstoned and active workspaces: the paused and tombstoned are
/// archived, the active ones are left hot and untouched, and a second pass has nothing to do.
/// </summary>
public abstract class WorkerOnePassTests(EngineSet engines, ITestOutputHelper output)
{
    [Fact]
    public async Task One_worker_pass_archives_the_paused_and_tombstoned_workspaces_and_leaves_the_active_ones_hot()
    {
        var clock = Stopwatch.StartNew();
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Worker, "worker-once", output);
        var workspaces = sandbox.Template.Workspaces;
        var (a, b, c, d) = (workspaces[0], workspaces[1], workspaces[2], workspaces[3]);
        await WorkerRuns.ChangeStatusAsync(sandbox, "pause", a.Id, "Paused");
        await WorkerRuns.ChangeStatusAsync(sandbox, "tombstone", b.Id, "Tombstoned");

        var pass = (await sandbox.RunAsync("worker", "--once")).ShouldSucceed();
        output.WriteLine($"worker --once: {WorkerRuns.AttemptsText(pass)}");
        var json = pass.Json();
        Assert.Equal(4, json.GetProperty("workspaces").GetInt32());
        Assert.True(json.GetProperty("converged").GetBoolean());
        Assert.Empty(json.GetProperty("remaining").EnumerateArray());
        foreach (var (archived, expectedStatus) in new[] { (a, "Paused"), (b, "Tombstoned") })
        {
            var attempt = Assert.Single(WorkerRuns.AttemptsOn(pass, archived.Id));
            Assert.Equal(expectedStatus, attempt.GetProperty("status").GetString());
            Assert.Equal("archive", attempt.GetProperty("action").GetString());
            Assert.Equal("done", attempt.GetProperty("outcome").GetString());
            Assert.Equal("hot", attempt.GetProperty("storageBefore").GetString());
            Assert.Equal("cold", attempt.GetProperty("storageAfter").GetString());
            Assert.Equal(archived.Rows, attempt.GetProperty("rows").GetInt64());
        }

        foreach (var active in new[] { c, d })
        {
            Assert.All(WorkerRuns.AttemptsOn(pass, active.Id), attempt => Assert.Equal("none", attempt.GetProperty("action").GetString()));
        }

        var status = await sandbox.StatusAsync();
        WorkerRuns.AssertCold(status, a, "Paused");
        WorkerRuns.AssertCold(status, b, "Tombstoned");
        Assert.Equal(WorkspaceLifecycle.TombstonePrefix + b.Name, status[b.Id].Name);
        WorkerRuns.AssertHot(status, c);
        WorkerRuns.AssertHot(status, d);

        // Everything is where it belongs: a second pass moves nothing.
        var again = (await sandbox.RunAsync("worker", "--once")).ShouldSucceed();
        Assert.True(again.Json().GetProperty("converged").GetBoolean(), again.ToString());
        Assert.Empty(again.Json().GetProperty("attempts").EnumerateArray());
        output.WriteLine($"the test took {clock.Elapsed.TotalSeconds:F1} s");
    }
}

public sealed class WorkerOnePassTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : WorkerOnePassTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class WorkerOnePassTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : WorkerOnePassTests(EngineSet.HttpPostgresAndS3, output);
