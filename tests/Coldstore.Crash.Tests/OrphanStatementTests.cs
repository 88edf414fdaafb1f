using Coldstore.Crash.Tests.Support;
using Coldstore.Testing;
using Xunit.Abstractions;

// What only a server makes possible: the CLI dies (SIGKILL) while its statement runs on, because a ClickHouse server
// finishes an INSERT … SELECT whether or not its client is still connected. The rerun starts at once (the dead
// process's lease made to lapse), so it runs beside the orphan. The end state must still be exact: full-row checksums
// of both tables, physical row counts once every statement and delete has finished, and no archive object left.
//
// What makes them pass: every statement of an operation runs under a query id that names its workspace
// (StatementTagger), and an operation that takes the workspace's lease first kills and waits for any statement with
// that prefix still running (WorkspaceArchiver.StopOrphanedStatementsAsync). Without that, the restore case ended
// with every row twice and the copy case with archive objects written after the restore had removed them.

namespace Coldstore.Crash.Tests;

/// <summary>SIGKILL of the CLI while its statement keeps running on the server, then an immediate rerun.</summary>
public sealed class OrphanStatementTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StatementWait = TimeSpan.FromSeconds(90);

    /// <summary>
    /// The killed run connects as the server's slowed user (S3 and disk transfers at 1 MB/s), so the 100,000-event
    /// archive (about 10 MB) takes it many seconds to copy, read back or insert: the statement its kill orphans is still
    /// running while the rerun, connected as the ordinary user at full speed, repeats the step and goes on past it.
    /// </summary>
    private static readonly IReadOnlyDictionary<string, string> Slowed = new Dictionary<string, string>
    {
        ["COLDSTORE_CLICKHOUSE"] = ClickHouseHttpTestServer.SlowUserUrl,
    };

    [Fact]
    public async Task An_archive_killed_mid_copy_with_the_copy_still_running_reruns_at_once_and_restores_exactly()
    {
        await using var sandbox = await Sandbox.CreateAsync(EngineSet.HttpPostgresAndS3, await EventTemplate.Large, "orphan-copy", output);
        var a = sandbox.Template.A.ToString();

        await KillWhileTheServerRunsAsync(sandbox, ["archive", a], "the copy to the archive",
            query => query.Contains("INSERT INTO FUNCTION", StringComparison.Ordinal));
        AssertKilledTheOrphan((await sandbox.RunAsync("archive", a)).ShouldSucceed());
        (await sandbox.RunAsync("restore", a)).ShouldSucceed();

        await AssertExactOnceQuietAsync(sandbox);
    }

    [Fact]
    public async Task An_archive_killed_mid_read_back_with_the_read_still_running_reruns_at_once_and_restores_exactly()
    {
        await using var sandbox = await Sandbox.CreateAsync(EngineSet.HttpPostgresAndS3, await EventTemplate.Large, "orphan-read-back", output);
        var a = sandbox.Template.A.ToString();

        await KillWhileTheServerRunsAsync(sandbox, ["archive", a], "the read-back of the archive's objects",
            query => query.Contains("foreign_rows", StringComparison.Ordinal));
        AssertKilledTheOrphan((await sandbox.RunAsync("archive", a)).ShouldSucceed());
        (await sandbox.RunAsync("restore", a)).ShouldSucceed();

        await AssertExactOnceQuietAsync(sandbox);
    }

    [Fact]
    public async Task A_restore_killed_mid_insert_with_the_insert_still_running_reruns_at_once_with_every_row_back_exactly_once()
    {
        await using var sandbox = await Sandbox.CreateAsync(EngineSet.HttpPostgresAndS3, await EventTemplate.Large, "orphan-restore", output);
        var a = sandbox.Template.A.ToString();
        (await sandbox.RunAsync("archive", a)).ShouldSucceed();
        Assert.Null(await sandbox.WaitUntilTheServerIsQuietAsync(StatementWait));

        await KillWhileTheServerRunsAsync(sandbox, ["restore", a], "the restore's insert",
            query => query.Contains("user_events_v2", StringComparison.Ordinal) && query.Contains("INSERT INTO", StringComparison.Ordinal)
                && !query.Contains("INSERT INTO FUNCTION", StringComparison.Ordinal));
        AssertKilledTheOrphan((await sandbox.RunAsync("restore", a)).ShouldSucceed());

        await AssertExactOnceQuietAsync(sandbox);
    }

    /// <summary>
    /// Starts the command, waits until the server runs the statement <paramref name="isTarget"/> picks, SIGKILLs the CLI,
    /// asserts the statement is still running without it (an orphan), and lets the dead process's lease lapse.
    /// </summary>
    private async Task KillWhileTheServerRunsAsync(Sandbox sandbox, IReadOnlyList<string> args, string what, Func<string, bool> isTarget)
    {
        await using var running = await sandbox.StartAsync(args, throttled: false, settings: Slowed);
        (string QueryId, string Query)? target = null;
        while (target is null && !running.HasExited && running.Elapsed < StatementWait)
        {
            target = (await sandbox.ServerStatementsAsync()).Cast<(string, string)?>().FirstOrDefault(s => isTarget(s!.Value.Item2));
            if (target is null)
            {
                await Task.Delay(5);
            }
        }

        var killed = target is not null && running.KillNow();
        var result = await running.WaitAsync(ColdstoreCli.DefaultTimeout);
        sandbox.Log(result);
        Assert.True(target is not null, $"The server never ran {what} while the CLI was alive.\n{result}");
        Assert.True(killed && result.DiedOfSigKill, $"The CLI ended before it was killed during {what}.\n{result}");

        var orphaned = (await sandbox.ServerStatementsAsync()).Any(s => s.QueryId == target!.Value.QueryId);

        output.WriteLine($"killed during {what} (query id {target!.Value.QueryId}); still running on the server after the kill: {orphaned}");
        Assert.True(orphaned, $"{what} had finished by the time its client was killed, so nothing ran on without a client.");
        Assert.Equal(1, await sandbox.LapseLeasesAsync());
    }

    /// <summary>The rerun found the dead run's statement still running and killed it before repeating any step.</summary>
    private static void AssertKilledTheOrphan(CliResult rerun) =>
        Assert.True(rerun.Stderr.Contains("still running on ClickHouse", StringComparison.Ordinal)
            && rerun.Stderr.Contains("killing them before going on", StringComparison.Ordinal),
            $"The rerun did not report killing the orphaned statement.\n{rerun}");

    /// <summary>Waits until no statement or delete of the sandbox runs on the server, then asserts the round trip is exact.</summary>
    private static async Task AssertExactOnceQuietAsync(Sandbox sandbox)
    {
        // Null, or what was still running on the server or pending after 90 s.
        Assert.Null(await sandbox.WaitUntilTheServerIsQuietAsync(StatementWait));
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
        var (events, internalEvents) = await sandbox.PhysicalRowsAsync(sandbox.Template.A);
        Assert.Equal(sandbox.Template.ARows, events);
        Assert.Equal(sandbox.Template.AChecksums.InternalEventRows, internalEvents);
    }
}
