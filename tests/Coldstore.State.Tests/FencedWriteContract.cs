using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.State.Tests;

/// <summary>
/// Writes made under a lease: refused, changing nothing, once the lease is no longer the writer's, and refused when the
/// row is not in the state the writer expects. Run on every adapter with the rest of the contract.
/// </summary>
public abstract partial class StateStoreContract
{
    private static readonly TimeSpan ShortLease = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_stale_holder_writes_nothing_once_another_took_the_lease_over()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));

        // A starts an archive under a short lease, then stalls past its expiry.
        var a = (await store.TryAcquireLeaseAsync(workspace.Id, "host-a:1", ShortLease)).Lease!;
        Assert.True(await store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving, a));
        var archive = NewArchive(workspace.Id);
        await store.InsertArchiveAsync(archive, a);
        await Task.Delay(ShortLease * 2);

        // B takes over and rolls the archive back.
        var b = (await store.TryAcquireLeaseAsync(workspace.Id, "host-b:2", TimeSpan.FromMinutes(5))).Lease!;
        await store.UpdateArchiveAsync(archive with { State = ArchiveState.Abandoned }, ArchiveState.Copying, b);
        Assert.True(await store.TrySetStorageAsync(workspace.Id, StorageState.Archiving, StorageState.Hot, b));
        var beforeA = await store.GetArchiveAsync(archive.ArchiveId);

        // A resumes: every write it tries is refused with the lease-lost error, even one whose expected state matches.
        var verified = archive with { State = ArchiveState.Verified, RowCount = 7, Checksum = 42, Bytes = 100, InternalEventRows = 0 };
        var refusals = new List<LeaseLostException>
        {
            await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateArchiveAsync(verified, ArchiveState.Copying, a)),
            await Assert.ThrowsAsync<LeaseLostException>(() => store.UpdateArchiveAsync(verified, ArchiveState.Abandoned, a)),
            await Assert.ThrowsAsync<LeaseLostException>(() => store.InsertArchiveAsync(NewArchive(workspace.Id), a)),
            await Assert.ThrowsAsync<LeaseLostException>(() => store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Cold, a)),
        };

        Assert.All(refusals, e =>
        {
            Assert.Equal(workspace.Id, e.WorkspaceId);
            Assert.Contains(workspace.Id.ToString(), e.Message, StringComparison.Ordinal);
            Assert.Contains("host-a:1", e.Message, StringComparison.Ordinal);
            Assert.Contains("host-b:2", e.Message, StringComparison.Ordinal);
            Assert.Contains("nothing was written", e.Message, StringComparison.Ordinal);
            Assert.Contains("Rerun", e.Message, StringComparison.Ordinal);
        });
        Assert.Equal(["update-archive", "update-archive", "record-archive", "set-storage"], refusals.Select(e => e.Step));

        // The final state is B's.
        Assert.Equal(beforeA, await store.GetArchiveAsync(archive.ArchiveId));
        Assert.Equal(ArchiveState.Abandoned, beforeA!.State);
        Assert.Single(await store.ListArchivesAsync(workspace.Id));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(workspace.Id))!.Storage);

        // And B's lease still works for B.
        await store.UpdateArchiveAsync(beforeA with { LastError = "noted by b" }, ArchiveState.Abandoned, b);
        Assert.Equal("noted by b", (await store.GetArchiveAsync(archive.ArchiveId))!.LastError);
    }

    [Fact]
    public async Task A_lease_that_lapsed_fences_its_holder_even_when_nobody_took_it_over()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "frozen", ShortLease)).Lease!;
        var archive = NewArchive(workspace.Id);
        await store.InsertArchiveAsync(archive, lease);
        await Task.Delay(ShortLease * 2);

        var e = await Assert.ThrowsAsync<LeaseLostException>(() =>
            store.UpdateArchiveAsync(archive with { State = ArchiveState.Verified }, ArchiveState.Copying, lease));
        Assert.Equal("update-archive", e.Step);
        var storage = await Assert.ThrowsAsync<LeaseLostException>(() =>
            store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving, lease));
        Assert.Equal("set-storage", storage.Step);
        Assert.Contains("frozen", storage.Message, StringComparison.Ordinal);

        Assert.Equal(ArchiveState.Copying, (await store.GetArchiveAsync(archive.ArchiveId))!.State);
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(workspace.Id))!.Storage);
    }

    [Fact]
    public async Task A_token_that_was_never_the_leases_fences_as_lost()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var real = (await store.TryAcquireLeaseAsync(workspace.Id, "holder", TimeSpan.FromMinutes(5))).Lease!;
        var forged = real with { Token = Guid.NewGuid() };

        await Assert.ThrowsAsync<LeaseLostException>(() => store.InsertArchiveAsync(NewArchive(workspace.Id), forged));
        await Assert.ThrowsAsync<LeaseLostException>(() => store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving, forged));

        Assert.Empty(await store.ListArchivesAsync(workspace.Id));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(workspace.Id))!.Storage);
    }

    [Fact]
    public async Task A_write_expecting_the_wrong_state_is_refused_even_under_a_live_lease()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "holder", TimeSpan.FromMinutes(5))).Lease!;
        var archive = NewArchive(workspace.Id);
        await store.InsertArchiveAsync(archive, lease);
        var before = await store.GetArchiveAsync(archive.ArchiveId);

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() =>
            store.UpdateArchiveAsync(archive with { State = ArchiveState.Deleting, RowCount = 3 }, ArchiveState.Verified, lease));
        Assert.Equal(WorkspaceErrorKind.Conflict, e.Kind);
        Assert.Equal("update-archive", e.Step);
        Assert.Equal(workspace.Id, e.WorkspaceId);
        Assert.Contains("copying, not verified", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, await store.GetArchiveAsync(archive.ArchiveId));

        // Storage keeps its compare-and-set contract: a wrong expectation is a false, not an error.
        Assert.False(await store.TrySetStorageAsync(workspace.Id, StorageState.Archiving, StorageState.Cold, lease));
        Assert.Equal(StorageState.Hot, (await store.GetWorkspaceAsync(workspace.Id))!.Storage);

        // The right expectation goes through.
        await store.UpdateArchiveAsync(archive with { State = ArchiveState.Verified, RowCount = 3, Checksum = 9, Bytes = 1, InternalEventRows = 0 }, ArchiveState.Copying, lease);
        Assert.Equal(ArchiveState.Verified, (await store.GetArchiveAsync(archive.ArchiveId))!.State);
        Assert.True(await store.TrySetStorageAsync(workspace.Id, StorageState.Hot, StorageState.Archiving, lease));
    }

    [Fact]
    public async Task A_fenced_update_of_an_archive_not_in_the_ledger_is_not_found()
    {
        var store = await MigratedAsync();
        var workspace = await store.CreateWorkspaceAsync(new NewWorkspace("Acme"));
        var lease = (await store.TryAcquireLeaseAsync(workspace.Id, "holder", TimeSpan.FromMinutes(5))).Lease!;

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() =>
            store.UpdateArchiveAsync(NewArchive(workspace.Id, ArchiveState.Verified), ArchiveState.Copying, lease));
        Assert.Equal(WorkspaceErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public async Task A_lease_of_one_workspace_cannot_fence_a_write_to_another()
    {
        var store = await MigratedAsync();
        var one = await store.CreateWorkspaceAsync(new NewWorkspace("One"));
        var two = await store.CreateWorkspaceAsync(new NewWorkspace("Two"));
        var lease = (await store.TryAcquireLeaseAsync(one.Id, "holder", TimeSpan.FromMinutes(5))).Lease!;

        await Assert.ThrowsAsync<ArgumentException>(() => store.InsertArchiveAsync(NewArchive(two.Id), lease));
        await Assert.ThrowsAsync<ArgumentException>(() => store.TrySetStorageAsync(two.Id, StorageState.Hot, StorageState.Archiving, lease));
        Assert.Empty(await store.ListArchivesAsync(two.Id));
    }
}
