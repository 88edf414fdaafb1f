using Coldstore.Configuration;
using Coldstore.Crash.Tests.Support;
using Coldstore.Services;
using Xunit.Abstractions;

namespace Coldstore.Crash.Tests;

/// <summary>
/// A workspace archived in chunks (<c>COLDSTORE_CHUNK_ROWS</c> below its size) killed with SIGKILL between two chunks
/// and inside the first one, then archived again: the chunks finished before the kill stay as they are, the rest is
/// archived once, and the restore (itself killed between two chunks) gives back exactly the original rows.
/// </summary>
public abstract class ChunkedFailpointTests(EngineSet engines, ITestOutputHelper output)
{
    /// <summary>A: 3,000 rows in one month, so three hash buckets of about 1,000.</summary>
    private static readonly Dictionary<string, string> Chunked = new(StringComparer.Ordinal) { [ColdstoreSettings.ChunkRowsVariable] = "1000" };

    public static TheoryData<string> ArchiveSteps => [Steps.ArchiveChunkArchived, Steps.ArchiveCopied, Steps.ArchiveEventsDeleteSubmitted];

    public static TheoryData<string> RestoreSteps => [Steps.RestoreVerified, Steps.RestoreInserted];

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task A_chunked_archive_killed_after_the_step_resumes_chunk_by_chunk_and_restores_exactly(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, $"chunked-archive-{step}", output);
        var a = sandbox.Template.A;

        var crashed = await sandbox.RunAsync(["archive", a.ToString()], failpoint: step, settings: Chunked);
        crashed.ShouldHaveDiedOfSigKill();
        var killed = (await sandbox.StatusAsync())[a];
        output.WriteLine($"killed after {step}: {killed.Archives} archives, {killed.ArchivedRows} rows archived, {killed.HotRows} hot");
        if (step == Steps.ArchiveChunkArchived)
        {
            // Killed between two chunks: the first is archived to its end, the others have not begun.
            Assert.Equal(1, killed.Archives);
            Assert.InRange(killed.ArchivedRows, 1, sandbox.Template.ARows - 1);
            Assert.Equal(sandbox.Template.ARows - killed.ArchivedRows, killed.HotRows);
        }

        await sandbox.LapseTheKilledProcessLeaseAsync();
        var rerun = (await sandbox.RunAsync(["archive", a.ToString()], failpoint: null, settings: Chunked)).ShouldSucceed();
        Assert.Equal("cold", rerun.JsonString("storage"));
        var cold = (await sandbox.StatusAsync())[a];
        Assert.Equal(0, cold.HotRows);
        Assert.Equal(sandbox.Template.ARows, cold.ArchivedRows);
        Assert.True(cold.Archives >= 3, $"the archive is in chunks ({cold.Archives} archives)");

        var restoreKilled = await sandbox.RunAsync(["restore", a.ToString()], failpoint: Steps.RestoreVerified, settings: Chunked);
        restoreKilled.ShouldHaveDiedOfSigKill();
        await sandbox.LapseTheKilledProcessLeaseAsync();
        (await sandbox.RunAsync(["restore", a.ToString()], failpoint: null, settings: Chunked)).ShouldSucceed();
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }

    [Theory]
    [MemberData(nameof(RestoreSteps))]
    public async Task A_chunked_restore_killed_after_the_step_gives_back_every_row_exactly_once(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Small, $"chunked-restore-{step}", output);
        var a = sandbox.Template.A.ToString();
        (await sandbox.RunAsync(["archive", a], failpoint: null, settings: Chunked)).ShouldSucceed();

        var crashed = await sandbox.RunAsync(["restore", a], failpoint: step, settings: Chunked);
        crashed.ShouldHaveDiedOfSigKill();
        await sandbox.LapseTheKilledProcessLeaseAsync();

        var rerun = (await sandbox.RunAsync(["restore", a], failpoint: null, settings: Chunked)).ShouldSucceed();
        Assert.Equal("hot", rerun.JsonString("storage"));
        await RoundTrip.AssertWorkspaceIsExactlyAsBeforeAsync(sandbox);
    }
}

public sealed class ChunkedFailpointTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : ChunkedFailpointTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class ChunkedFailpointTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : ChunkedFailpointTests(EngineSet.HttpPostgresAndS3, output);
