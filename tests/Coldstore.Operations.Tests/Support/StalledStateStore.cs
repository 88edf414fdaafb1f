using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// A real state store whose lease renewals can be made to fail, as a process frozen (or cut off from the store) would
/// fail to renew: every other call goes to the store unchanged. Lets a test make one holder's lease lapse while the
/// holder itself is paused, so the next holder can take over and the stale one resumes afterwards.
/// </summary>
public sealed class StalledStateStore(IStateStore inner) : IStateStore
{
    private volatile bool _renewalsFail;

    /// <summary>From now on every renewal fails as an unreachable store does; the lease lapses after its duration.</summary>
    public void StopRenewals() => _renewalsFail = true;

    public string Description => inner.Description;

    public Task<WorkspaceLease?> RenewLeaseAsync(WorkspaceLease lease, TimeSpan duration, CancellationToken cancellationToken = default) =>
        _renewalsFail
            ? throw new EngineUnavailableException("COLDSTORE_STATE", "test: this process cannot reach the state store to renew its lease")
            : inner.RenewLeaseAsync(lease, duration, cancellationToken);

    public Task MigrateAsync(CancellationToken cancellationToken = default) => inner.MigrateAsync(cancellationToken);

    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken = default) => inner.AppliedMigrationsAsync(cancellationToken);

    public Task<Workspace> CreateWorkspaceAsync(NewWorkspace workspace, CancellationToken cancellationToken = default) => inner.CreateWorkspaceAsync(workspace, cancellationToken);

    public Task<Workspace?> GetWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default) => inner.GetWorkspaceAsync(workspaceId, cancellationToken);

    public Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default) => inner.ListWorkspacesAsync(cancellationToken);

    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken cancellationToken = default) =>
        inner.TrySetStorageAsync(workspaceId, expected, desired, cancellationToken);

    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, WorkspaceLease lease, CancellationToken cancellationToken = default) =>
        inner.TrySetStorageAsync(workspaceId, expected, desired, lease, cancellationToken);

    public Task<WorkspaceStatusChange> ChangeWorkspaceStatusAsync(Guid workspaceId, WorkspaceTransition transition, CancellationToken cancellationToken = default) =>
        inner.ChangeWorkspaceStatusAsync(workspaceId, transition, cancellationToken);

    public Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default) => inner.InsertArchiveAsync(archive, cancellationToken);

    public Task UpdateArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default) => inner.UpdateArchiveAsync(archive, cancellationToken);

    public Task InsertArchiveAsync(ArchiveRecord archive, WorkspaceLease lease, CancellationToken cancellationToken = default) =>
        inner.InsertArchiveAsync(archive, lease, cancellationToken);

    public Task UpdateArchiveAsync(ArchiveRecord archive, ArchiveState expected, WorkspaceLease lease, CancellationToken cancellationToken = default) =>
        inner.UpdateArchiveAsync(archive, expected, lease, cancellationToken);

    public Task<ArchiveRecord?> GetArchiveAsync(Guid archiveId, CancellationToken cancellationToken = default) => inner.GetArchiveAsync(archiveId, cancellationToken);

    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) => inner.ListArchivesAsync(workspaceId, cancellationToken);

    public Task<IReadOnlyList<ArchiveRecord>> ListAllArchivesAsync(CancellationToken cancellationToken = default) => inner.ListAllArchivesAsync(cancellationToken);

    public Task<WorkspaceHold> PlaceHoldAsync(Guid workspaceId, string reason, CancellationToken cancellationToken = default) => inner.PlaceHoldAsync(workspaceId, reason, cancellationToken);

    public Task<bool> ReleaseHoldAsync(Guid workspaceId, CancellationToken cancellationToken = default) => inner.ReleaseHoldAsync(workspaceId, cancellationToken);

    public Task<IReadOnlyList<WorkspaceHold>> ListHoldsAsync(CancellationToken cancellationToken = default) => inner.ListHoldsAsync(cancellationToken);

    public Task InsertErasureAsync(ErasureRecord erasure, CancellationToken cancellationToken = default) => inner.InsertErasureAsync(erasure, cancellationToken);

    public Task UpdateErasureAsync(ErasureRecord erasure, WorkspaceLease lease, CancellationToken cancellationToken = default) =>
        inner.UpdateErasureAsync(erasure, lease, cancellationToken);

    public Task<IReadOnlyList<ErasureRecord>> ListPendingErasuresAsync(CancellationToken cancellationToken = default) => inner.ListPendingErasuresAsync(cancellationToken);

    public Task<IReadOnlyList<ErasureRecord>> ListErasuresAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        inner.ListErasuresAsync(workspaceId, cancellationToken);

    public Task<LeaseAttempt> TryAcquireLeaseAsync(Guid workspaceId, string owner, TimeSpan duration, CancellationToken cancellationToken = default) =>
        inner.TryAcquireLeaseAsync(workspaceId, owner, duration, cancellationToken);

    public Task ReleaseLeaseAsync(WorkspaceLease lease, CancellationToken cancellationToken = default) => inner.ReleaseLeaseAsync(lease, cancellationToken);

    public Task<IReadOnlyList<FencedWriteResult>> ApplyFencedAsync(IReadOnlyList<FencedWrite> writes, CancellationToken cancellationToken = default) =>
        inner.ApplyFencedAsync(writes, cancellationToken);

    public Task<IReadOnlyList<LeaseAttempt>> TryAcquireLeasesAsync(IReadOnlyList<Guid> workspaceIds, string owner, TimeSpan duration, CancellationToken cancellationToken = default) =>
        inner.TryAcquireLeasesAsync(workspaceIds, owner, duration, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>
/// The test's engines, forwarded; a subclass wraps the state stores it opens (to stall them, count their calls, …).
/// The inner engines belong to the test; disposing this disposes nothing.
/// </summary>
public class ForwardingEngines(IEngines inner) : IEngines
{
    protected IEngines Inner => inner;

    public bool NotifiesChanges => inner.NotifiesChanges;

    public IReadOnlyDictionary<string, string?> Settings => inner.Settings;

    public Task InitializeAsync(string label) => inner.InitializeAsync(label);

    public virtual IStateStore OpenState() => inner.OpenState();

    public IArchiveStore OpenArchive() => inner.OpenArchive();

    public Task SetStatusAsAnApplicationAsync(Guid workspaceId, string status) => inner.SetStatusAsAnApplicationAsync(workspaceId, status);

    public Task<int> DeleteWorkspaceAsAnApplicationAsync(Guid workspaceId) => inner.DeleteWorkspaceAsAnApplicationAsync(workspaceId);

    public Task AgeAsync(Guid workspaceId, TimeSpan age) => inner.AgeAsync(workspaceId, age);

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The test's engines, with every state store opened wrapped in a <see cref="StalledStateStore"/> (the last one kept).</summary>
public sealed class StallableEngines(IEngines inner) : ForwardingEngines(inner)
{
    public StalledStateStore? Last { get; private set; }

    public override IStateStore OpenState() => Last = new StalledStateStore(Inner.OpenState());
}
