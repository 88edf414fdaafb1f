using Coldstore.Domain;
using Coldstore.Ports;

namespace Coldstore.State.Tests;

/// <summary>
/// The batch methods (<see cref="IStateStore.ApplyFencedAsync"/>, <see cref="IStateStore.TryAcquireLeasesAsync"/>):
/// one transaction, each write refused on its own without undoing or stopping the others. Run on every adapter with
/// the rest of the contract; the refusals that come from a constraint (a duplicate id, a second archive in flight, a
/// missing workspace) are the ones that would poison a Postgres transaction without a savepoint.
/// </summary>
public abstract partial class StateStoreContract
{
    /// <summary>The object prefix whose insert <see cref="CreateFailingArchiveTriggerAsync"/> makes fail.</summary>
    protected const string FailingPrefix = "boom/";

    /// <summary>
    /// Creates a trigger that fails any insert into the ledger whose object prefix is <see cref="FailingPrefix"/> with
    /// an error that is no constraint the store maps: a store failure in the middle of a batch, on demand.
    /// </summary>
    protected abstract Task CreateFailingArchiveTriggerAsync();

    private async Task<WorkspaceLease> LeaseAsync(Guid workspaceId, string owner = "batcher") =>
        (await Store.TryAcquireLeaseAsync(workspaceId, owner, TimeSpan.FromMinutes(5))).Lease!;

    /// <summary>Migrates, then creates a workspace per name, each leased to "batcher" for five minutes.</summary>
    private async Task<WorkspaceLease[]> LeasedWorkspacesAsync(params string[] names)
    {
        await MigratedAsync();
        var leases = new WorkspaceLease[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            leases[i] = await LeaseAsync((await Store.CreateWorkspaceAsync(new NewWorkspace(names[i]))).Id);
        }

        return leases;
    }

    [Fact]
    public async Task A_batch_refuses_the_writes_of_a_workspace_whose_lease_was_taken_over_and_applies_the_others()
    {
        var store = await MigratedAsync();
        var stolen = await store.CreateWorkspaceAsync(new NewWorkspace("Stolen"));
        var kept = await store.CreateWorkspaceAsync(new NewWorkspace("Kept"));
        var other = await store.CreateWorkspaceAsync(new NewWorkspace("Other"));
        var stale = (await store.TryAcquireLeaseAsync(stolen.Id, "host-a:1", ShortLease)).Lease!;
        await Task.Delay(ShortLease * 2);
        var successor = await LeaseAsync(stolen.Id, "host-b:2");
        var keptLease = await LeaseAsync(kept.Id, "host-a:1");
        var otherLease = await LeaseAsync(other.Id, "host-a:1");
        var keptArchive = NewArchive(kept.Id);
        var stolenArchive = NewArchive(stolen.Id);
        var otherArchive = NewArchive(other.Id);

        var results = await store.ApplyFencedAsync(
        [
            new InsertArchiveWrite(keptArchive, keptLease),
            new InsertArchiveWrite(stolenArchive, stale),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, stale),
            new InsertArchiveWrite(otherArchive, otherLease),
            new UpdateArchiveWrite(keptArchive with { State = ArchiveState.Verified, RowCount = 5 }, ArchiveState.Copying, keptLease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, keptLease),
        ]);

        Assert.Equal(
            [FencedWriteOutcome.Applied, FencedWriteOutcome.LeaseLost, FencedWriteOutcome.Skipped,
             FencedWriteOutcome.Applied, FencedWriteOutcome.Applied, FencedWriteOutcome.Applied],
            results.Select(r => r.Outcome));
        var lost = results[1];
        Assert.Contains(stolen.Id.ToString(), lost.Message, StringComparison.Ordinal);
        Assert.Contains("host-a:1", lost.Message, StringComparison.Ordinal);
        Assert.Contains("host-b:2", lost.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was written", lost.Message, StringComparison.Ordinal);
        Assert.Contains(stolen.Id.ToString(), results[2].Message, StringComparison.Ordinal);
        Assert.All(results.Where(r => r.Applied), r => Assert.Null(r.Message));
        Assert.All(results.Where(r => !r.Applied), r => Assert.DoesNotContain('\n', r.Message!));

        // Read back: the others' writes are really made, the stolen workspace is as its successor left it.
        var keptRead = (await store.GetArchiveAsync(keptArchive.ArchiveId))!;
        Assert.Equal(ArchiveState.Verified, keptRead.State);
        Assert.Equal(5, keptRead.RowCount);
        Assert.Equal(StorageState.Archiving, (await store.GetWorkspaceAsync(kept.Id))!.Storage);
        Assert.NotNull(await store.GetArchiveAsync(otherArchive.ArchiveId));
        Assert.Empty(await store.ListArchivesAsync(stolen.Id));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(stolen.Id))!.Storage);
        Assert.True(await store.TrySetStorageAsync(stolen.Id, StorageState.Hot, StorageState.Archiving, successor));
    }

    [Fact]
    public async Task A_batch_write_expecting_the_wrong_state_is_a_conflict_and_the_others_are_applied()
    {
        var store = Store;
        var leases = await LeasedWorkspacesAsync("Wrong", "Right", "Hot");
        var (wrongLease, rightLease, hotLease) = (leases[0], leases[1], leases[2]);
        var (wrong, right, hot) = (wrongLease.WorkspaceId, rightLease.WorkspaceId, hotLease.WorkspaceId);
        var wrongArchive = NewArchive(wrong);
        var rightArchive = NewArchive(right);
        await store.InsertArchiveAsync(wrongArchive, wrongLease);
        await store.InsertArchiveAsync(rightArchive, rightLease);
        var wrongBefore = await store.GetArchiveAsync(wrongArchive.ArchiveId);

        var results = await store.ApplyFencedAsync(
        [
            new UpdateArchiveWrite(wrongArchive with { State = ArchiveState.Deleting }, ArchiveState.Verified, wrongLease),
            new UpdateArchiveWrite(rightArchive with { State = ArchiveState.Verified, RowCount = 3 }, ArchiveState.Copying, rightLease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, wrongLease),
            new SetStorageWrite(StorageState.Archiving, StorageState.Cold, hotLease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, rightLease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, hotLease),
        ]);

        Assert.Equal(
            [FencedWriteOutcome.Conflict, FencedWriteOutcome.Applied, FencedWriteOutcome.Skipped,
             FencedWriteOutcome.Conflict, FencedWriteOutcome.Applied, FencedWriteOutcome.Skipped],
            results.Select(r => r.Outcome));
        Assert.Contains("copying, not verified", results[0].Message, StringComparison.Ordinal);
        Assert.Contains(wrong.ToString(), results[0].Message, StringComparison.Ordinal);
        Assert.Contains(hot.ToString(), results[3].Message, StringComparison.Ordinal);
        Assert.Contains("archiving", results[3].Message, StringComparison.Ordinal);

        Assert.Equal(wrongBefore, await store.GetArchiveAsync(wrongArchive.ArchiveId));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(wrong))!.Storage);
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(hot))!.Storage);
        Assert.Equal(ArchiveState.Verified, (await store.GetArchiveAsync(rightArchive.ArchiveId))!.State);
        Assert.Equal(StorageState.Archiving, (await store.GetWorkspaceAsync(right))!.Storage);
    }

    [Fact]
    public async Task A_batch_insert_of_an_archive_id_in_the_ledger_or_of_a_second_one_in_flight_is_a_conflict_and_stops_no_other()
    {
        var store = Store;
        var leases = await LeasedWorkspacesAsync("Duplicate", "Busy", "Fine");
        var (duplicateLease, busyLease, fineLease) = (leases[0], leases[1], leases[2]);
        var (duplicate, busy, fine) = (duplicateLease.WorkspaceId, busyLease.WorkspaceId, fineLease.WorkspaceId);
        var existing = NewArchive(duplicate, ArchiveState.Archived);
        await store.InsertArchiveAsync(existing, duplicateLease);
        var inFlight = NewArchive(busy);
        var first = NewArchive(fine);
        var second = NewArchive(fine, ArchiveState.Restored);

        var results = await store.ApplyFencedAsync(
        [
            new InsertArchiveWrite(first, fineLease),
            new InsertArchiveWrite(existing with { State = ArchiveState.Copying, LastError = "again" }, duplicateLease),
            new InsertArchiveWrite(inFlight, busyLease),
            new InsertArchiveWrite(NewArchive(busy), busyLease),
            new UpdateArchiveWrite(inFlight with { State = ArchiveState.Verified }, ArchiveState.Copying, busyLease),
            new InsertArchiveWrite(second, fineLease),
        ]);

        Assert.Equal(
            [FencedWriteOutcome.Applied, FencedWriteOutcome.Conflict, FencedWriteOutcome.Applied,
             FencedWriteOutcome.Conflict, FencedWriteOutcome.Skipped, FencedWriteOutcome.Applied],
            results.Select(r => r.Outcome));
        Assert.Contains(existing.ArchiveId.ToString(), results[1].Message, StringComparison.Ordinal);
        Assert.Contains(duplicate.ToString(), results[1].Message, StringComparison.Ordinal);
        Assert.Contains("already in the ledger", results[1].Message, StringComparison.Ordinal);
        Assert.Contains(busy.ToString(), results[3].Message, StringComparison.Ordinal);
        Assert.Contains("in flight", results[3].Message, StringComparison.Ordinal);

        Assert.Equal(ArchiveState.Archived, (await store.GetArchiveAsync(existing.ArchiveId))!.State);
        Assert.Null((await store.GetArchiveAsync(existing.ArchiveId))!.LastError);
        Assert.Equal([inFlight.ArchiveId], (await store.ListArchivesAsync(busy)).Select(a => a.ArchiveId));
        Assert.Equal(ArchiveState.Copying, (await store.GetArchiveAsync(inFlight.ArchiveId))!.State);
        Assert.Equal([first.ArchiveId, second.ArchiveId], (await store.ListArchivesAsync(fine)).Select(a => a.ArchiveId));
    }

    [Fact]
    public async Task A_batch_update_of_an_archive_not_in_the_ledger_is_not_found_and_the_others_are_applied()
    {
        var store = Store;
        var leases = await LeasedWorkspacesAsync("Acme", "Other");
        var (lease, otherLease) = (leases[0], leases[1]);
        var workspace = lease.WorkspaceId;
        var missing = NewArchive(workspace, ArchiveState.Verified);
        var otherArchive = NewArchive(otherLease.WorkspaceId);

        FencedWrite[] writes =
        [
            new UpdateArchiveWrite(missing, ArchiveState.Copying, lease),
            new InsertArchiveWrite(NewArchive(workspace), lease),
            new InsertArchiveWrite(otherArchive, otherLease),
        ];

        var results = await store.ApplyFencedAsync(writes);

        Assert.Equal([FencedWriteOutcome.NotFound, FencedWriteOutcome.Skipped, FencedWriteOutcome.Applied], results.Select(r => r.Outcome));
        Assert.Equal(writes, results.Select(r => r.Write));
        Assert.Contains(missing.ArchiveId.ToString(), results[0].Message, StringComparison.Ordinal);
        Assert.Contains(workspace.ToString(), results[0].Message, StringComparison.Ordinal);
        Assert.Empty(await store.ListArchivesAsync(workspace));
        Assert.NotNull(await store.GetArchiveAsync(otherArchive.ArchiveId));
    }

    [Fact]
    public async Task A_batch_that_the_store_fails_half_way_writes_nothing()
    {
        var store = Store;
        var leases = await LeasedWorkspacesAsync("Acme", "Other");
        await CreateFailingArchiveTriggerAsync();
        var (lease, otherLease) = (leases[0], leases[1]);
        var written = NewArchive(lease.WorkspaceId);

        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => store.ApplyFencedAsync(
        [
            new InsertArchiveWrite(written, lease),
            new SetStorageWrite(StorageState.Hot, StorageState.Archiving, lease),
            new InsertArchiveWrite(NewArchive(otherLease.WorkspaceId) with { ObjectPrefix = FailingPrefix }, otherLease),
        ]));

        Assert.Null(await store.GetArchiveAsync(written.ArchiveId));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(lease.WorkspaceId))!.Storage);
        Assert.Empty(await store.ListArchivesAsync(otherLease.WorkspaceId));
    }

    [Fact]
    public async Task A_malformed_batch_is_refused_before_anything_is_written()
    {
        var store = Store;
        var leases = await LeasedWorkspacesAsync("Acme", "Other");
        var lease = leases[0];
        var written = NewArchive(lease.WorkspaceId);

        await Assert.ThrowsAsync<ArgumentException>(() => store.ApplyFencedAsync(
        [
            new InsertArchiveWrite(written, lease),
            new InsertArchiveWrite(NewArchive(leases[1].WorkspaceId), lease), // Another workspace's row under this lease.
        ]));

        Assert.Null(await store.GetArchiveAsync(written.ArchiveId));
        Assert.Empty(await store.ApplyFencedAsync([]));
    }

    [Fact]
    public async Task Leasing_many_workspaces_gives_a_missing_one_neither_lease_nor_holder_and_acquires_the_others()
    {
        var store = await MigratedAsync();
        var one = await store.CreateWorkspaceAsync(new NewWorkspace("One"));
        var two = await store.CreateWorkspaceAsync(new NewWorkspace("Two"));
        var missing = Guid.NewGuid();

        var attempts = await store.TryAcquireLeasesAsync([one.Id, missing, two.Id], "batcher", TimeSpan.FromMinutes(5));

        Assert.Equal(3, attempts.Count);
        Assert.Equal(new LeaseAttempt(null, null), attempts[1]);
        Assert.Equal([one.Id, two.Id], new[] { attempts[0], attempts[2] }.Select(a => a.Lease!.WorkspaceId));
        Assert.All(new[] { attempts[0], attempts[2] }, a => Assert.Equal("batcher", a.Lease!.Owner));
        Assert.NotEqual(attempts[0].Lease!.Token, attempts[2].Lease!.Token);

        // Committed and really held: another owner is refused and sees the batch's lease, which fences writes.
        var other = await store.TryAcquireLeaseAsync(two.Id, "other", TimeSpan.FromMinutes(5));
        Assert.Equal(new LeaseHolder(two.Id, "batcher", attempts[2].Lease!.ExpiresAt), other.Holder);
        Assert.True(await store.TrySetStorageAsync(one.Id, StorageState.Hot, StorageState.Archiving, attempts[0].Lease!));
    }

    [Fact]
    public async Task Leasing_many_workspaces_reports_the_holder_of_a_held_lease_and_takes_the_free_ones()
    {
        var store = await MigratedAsync();
        var held = await store.CreateWorkspaceAsync(new NewWorkspace("Held"));
        var free = await store.CreateWorkspaceAsync(new NewWorkspace("Free"));
        var lapsed = await store.CreateWorkspaceAsync(new NewWorkspace("Lapsed"));
        var holder = await LeaseAsync(held.Id, "host-a:1");
        var crashed = (await store.TryAcquireLeaseAsync(lapsed.Id, "crashed", ShortLease)).Lease!;
        await Task.Delay(ShortLease * 2);

        var attempts = await store.TryAcquireLeasesAsync([held.Id, free.Id, lapsed.Id], "host-b:2", TimeSpan.FromMinutes(5));

        Assert.False(attempts[0].Acquired);
        Assert.Equal(new LeaseHolder(held.Id, "host-a:1", holder.ExpiresAt), attempts[0].Holder);
        Assert.True(attempts[1].Acquired);
        Assert.Null(attempts[1].Holder);
        Assert.True(attempts[2].Acquired);
        Assert.NotEqual(crashed.Token, attempts[2].Lease!.Token);
        Assert.Equal("host-b:2", attempts[2].Lease!.Owner);
        Assert.Empty(await store.TryAcquireLeasesAsync([], "host-b:2", TimeSpan.FromMinutes(5)));
    }
}
