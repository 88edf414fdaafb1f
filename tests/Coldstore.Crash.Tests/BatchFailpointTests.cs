using Coldstore.Crash.Tests.Support;
using Coldstore.Services;
using Xunit.Abstractions;

namespace Coldstore.Crash.Tests;

/// <summary>
/// A batch of four workspaces (<c>coldstore archive A B C D</c>, <c>restore A B C D</c>) killed right after each step
/// (the failpoint fires at the first workspace that completes it, with the other three at the same point), then the
/// same command run again: every workspace must end exactly as it was, whatever state the batch left each one in.
/// </summary>
public abstract class BatchFailpointTests(EngineSet engines, ITestOutputHelper output)
{
    public static TheoryData<string> ArchiveSteps => ArchiveFailpointTests.ArchiveSteps;

    public static TheoryData<string> RestoreSteps => RestoreFailpointTests.RestoreSteps;

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task A_batch_archive_killed_after_the_step_finishes_when_rerun_and_every_workspace_comes_back_exactly(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Batch, $"batch-archive-{step}", output);
        var ids = sandbox.Template.Workspaces.Select(w => w.Id.ToString()).ToArray();

        var crashed = await sandbox.RunAsync(["archive", .. ids], failpoint: step);
        crashed.ShouldHaveDiedOfSigKill();
        Assert.True(await sandbox.LapseLeasesAsync() >= 1, "the killed batch should have left its leases");

        var rerun = (await sandbox.RunAsync(["archive", .. ids])).ShouldSucceed();
        output.WriteLine(rerun.Stdout);
        var status = await sandbox.StatusAsync();
        foreach (var workspace in sandbox.Template.Workspaces)
        {
            // status counts physical rows, once the deletes applied (the archive waits for that).
            Assert.Equal("cold", status[workspace.Id].Storage);
            Assert.Equal(0, status[workspace.Id].HotRows);
            Assert.Equal(workspace.Rows, status[workspace.Id].ArchivedRows);
        }

        (await sandbox.RunAsync(["restore", .. ids])).ShouldSucceed();
        await AssertEveryWorkspaceAsBeforeAsync(sandbox);
    }

    [Theory]
    [MemberData(nameof(RestoreSteps))]
    public async Task A_batch_restore_killed_after_the_step_finishes_when_rerun_with_every_row_of_every_workspace_back_exactly_once(string step)
    {
        await using var sandbox = await Sandbox.CreateAsync(engines, await EventTemplate.Batch, $"batch-restore-{step}", output);
        var ids = sandbox.Template.Workspaces.Select(w => w.Id.ToString()).ToArray();
        (await sandbox.RunAsync(["archive", .. ids])).ShouldSucceed();

        var crashed = await sandbox.RunAsync(["restore", .. ids], failpoint: step);
        crashed.ShouldHaveDiedOfSigKill();
        Assert.True(await sandbox.LapseLeasesAsync() >= 1, "the killed batch should have left its leases");

        (await sandbox.RunAsync(["restore", .. ids])).ShouldSucceed();
        await AssertEveryWorkspaceAsBeforeAsync(sandbox);
    }

    private static async Task AssertEveryWorkspaceAsBeforeAsync(Sandbox sandbox)
    {
        var status = await sandbox.StatusAsync();
        foreach (var workspace in sandbox.Template.Workspaces)
        {
            var now = await sandbox.ChecksumAsync(workspace.Id);
            Assert.Equal(workspace.Rows, now.EventRows);
            Assert.Equal(workspace.Checksums, now);
            Assert.Equal("hot", status[workspace.Id].Storage);
            Assert.Equal(0, status[workspace.Id].Archives);
        }

        Assert.Empty(await sandbox.ArchiveObjectsAsync());
    }
}

public sealed class BatchFailpointTestsOnSqliteAndLocalDirectory(ITestOutputHelper output)
    : BatchFailpointTests(EngineSet.SqliteAndLocalDirectory, output);

public sealed class BatchFailpointTestsOnHttpPostgresAndS3(ITestOutputHelper output)
    : BatchFailpointTests(EngineSet.HttpPostgresAndS3, output);
