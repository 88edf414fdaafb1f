using Coldstore.Domain;
using Coldstore.Ports;

namespace Coldstore.Services;

/// <summary>
/// The ledger and storage writes an operation makes while it holds a workspace's lease. Each goes to the state store
/// with the lease, and the store makes it in the same statement that checks the lease is still this operation's (token
/// current, not expired on the store's clock) and that the row is in the state the operation expects to replace. A
/// holder that lost its lease (stalled past the expiry, a failover) learns it at its next write as
/// <see cref="Errors.LeaseLostException"/>, and nothing of it is written over the new holder's work.
/// </summary>
/// <remarks>
/// Like <see cref="StatementTagger"/>, the lease of the operation in progress is carried in an
/// <see cref="AsyncLocal{T}"/> set by <see cref="Begin"/>, so the archiver's steps need not thread it through each call.
/// A write through here outside such a scope, or for another workspace, is a bug and throws rather than going
/// unfenced.
/// </remarks>
internal sealed class FencedLedger(IStateStore state)
{
    private static readonly AsyncLocal<WorkspaceLease?> Current = new();

    /// <summary>Fences the writes made from this async flow with <paramref name="lease"/> until the scope is disposed.</summary>
    public static IDisposable Begin(WorkspaceLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var previous = Current.Value;
        Current.Value = lease;
        return new Scope(previous);
    }

    /// <summary>Inserts a new ledger row while the lease is held.</summary>
    public Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken ct) =>
        state.InsertArchiveAsync(archive, Lease(archive.WorkspaceId), ct);

    /// <summary>Writes <paramref name="archive"/> over the row while it is in state <paramref name="expected"/> and the lease is held.</summary>
    public Task UpdateArchiveAsync(ArchiveRecord archive, ArchiveState expected, CancellationToken ct) =>
        state.UpdateArchiveAsync(archive, expected, Lease(archive.WorkspaceId), ct);

    /// <summary>Writes a pending erasure's progress while the lease is held.</summary>
    public Task UpdateErasureAsync(ErasureRecord erasure, CancellationToken ct) =>
        state.UpdateErasureAsync(erasure, Lease(erasure.WorkspaceId), ct);

    /// <summary>Compare-and-set of the storage column while the lease is held.</summary>
    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken ct) =>
        state.TrySetStorageAsync(workspaceId, expected, desired, Lease(workspaceId), ct);

    private static WorkspaceLease Lease(Guid workspaceId) =>
        Current.Value is { } lease && lease.WorkspaceId == workspaceId
            ? lease
            : throw new InvalidOperationException($"A ledger write for workspace {workspaceId} was made outside the lease of its operation; this is a bug.");

    private sealed class Scope(WorkspaceLease? previous) : IDisposable
    {
        public void Dispose() => Current.Value = previous;
    }
}
