using Coldstore.Domain;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// An operation that stops dead after any step (here: an exception thrown from the step hook, so no later line of
/// the operation runs) is finished by rerunning it, or by running the other operation, and the result is exact.
/// The lease is released by the unwinding; real process kills are covered by the crash tests.
/// </summary>
public abstract class ResumeTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    // A workspace within one chunk never reaches the step between chunks (ChunkedArchiveTests stop there).
    public static TheoryData<string> AllSteps => new(Steps.All.Where(s => s != Steps.ArchiveChunkArchived && !s.StartsWith("erase:", StringComparison.Ordinal)));

    public static TheoryData<string> ArchiveSteps => new(Steps.All.Where(s => s.StartsWith("archive:", StringComparison.Ordinal) && s != Steps.ArchiveChunkArchived));

    public static TheoryData<string> RestoreSteps => new(Steps.All.Where(s => s.StartsWith("restore:", StringComparison.Ordinal)));

    [Theory]
    [MemberData(nameof(AllSteps))]
    public async Task An_operation_stopped_after_a_step_is_finished_exactly_by_running_it_again(string step)
    {
        var h = await OpenAsync();
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 300, seed: 701);
        var original = await h.ChecksumsAsync(workspace);

        if (IsArchiveStep(step))
        {
            await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.ColdStoreWorkspaceEventsAsync(workspace));
            await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
            await AssertArchivedOnceAsync(h, workspace, original);
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
        }
        else
        {
            await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
            await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.RestoreWorkspaceEventsAsync(workspace));
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
        }

        await AssertRestoredExactlyAsync(h, workspace, original);
    }

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task An_archive_stopped_after_a_step_is_undone_or_finished_exactly_by_a_restore(string step)
    {
        var h = await OpenAsync();
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 300, seed: 702);
        var original = await h.ChecksumsAsync(workspace);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.ColdStoreWorkspaceEventsAsync(workspace));
        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Hot, restored.Storage);
        await AssertRestoredExactlyAsync(h, workspace, original);
    }

    [Theory]
    [MemberData(nameof(RestoreSteps))]
    public async Task A_restore_stopped_after_a_step_is_finished_by_the_next_archive_and_nothing_is_doubled(string step)
    {
        var h = await OpenAsync();
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 300, seed: 703);
        var original = await h.ChecksumsAsync(workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.RestoreWorkspaceEventsAsync(workspace));
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        await AssertArchivedOnceAsync(h, workspace, original);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        await AssertRestoredExactlyAsync(h, workspace, original);
    }

    /// <summary>Cold, nothing hot, and the rows in exactly one archived archive, read back from its objects.</summary>
    private static async Task AssertArchivedOnceAsync(Harness h, Guid workspace, WorkspaceChecksums original)
    {
        Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        var ledger = await h.LedgerAsync(workspace);
        var archived = Assert.Single(ledger, a => a.State == ArchiveState.Archived);
        Assert.All(ledger, a => Assert.Contains(a.State, new[] { ArchiveState.Archived, ArchiveState.Restored, ArchiveState.Abandoned }));
        Assert.Equal(original.EventRows, archived.RowCount);
        var ids = await h.ArchivedMessageIdsAsync(archived.ObjectPrefix);
        Assert.Equal(original.EventRows, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    private static async Task AssertRestoredExactlyAsync(Harness h, Guid workspace, WorkspaceChecksums original)
    {
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
        Assert.Equal(original.EventRows, await h.HotRowsAsync(workspace));
        Assert.Equal((original.EventRows, original.InternalEventRows), await h.RowsAfterDeletesAsync(workspace));
        Assert.All(await h.LedgerAsync(workspace), a => Assert.Contains(a.State, new[] { ArchiveState.Restored, ArchiveState.Abandoned }));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    private static bool IsArchiveStep(string step) => step.StartsWith("archive:", StringComparison.Ordinal);

    private static ColdstoreOptions CrashAfter(string step) => StepCrash.After(Fast, step);
}

public sealed class ResumeOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : ResumeTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class ResumeOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : ResumeTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
