using Coldstore.Domain;

namespace Coldstore.Ports;

/// <summary>
/// One ledger or storage write made under a workspace's lease, as one of a batch (<see cref="IStateStore.ApplyFencedAsync"/>):
/// the same compare-and-set as the single fenced methods, checked and written in one statement.
/// </summary>
/// <param name="Lease">The lease the write is made under; it names the workspace.</param>
public abstract record FencedWrite(WorkspaceLease Lease)
{
    /// <summary>The workspace the write belongs to.</summary>
    public Guid WorkspaceId => Lease.WorkspaceId;
}

/// <summary>Inserts a new ledger row (<see cref="IStateStore.InsertArchiveAsync(ArchiveRecord, WorkspaceLease, CancellationToken)"/>).</summary>
/// <param name="Archive">The row; its workspace must be the lease's.</param>
/// <param name="Lease">The lease.</param>
public sealed record InsertArchiveWrite(ArchiveRecord Archive, WorkspaceLease Lease) : FencedWrite(Lease);

/// <summary>Replaces a ledger row's mutable fields while it is in <paramref name="Expected"/> (<see cref="IStateStore.UpdateArchiveAsync(ArchiveRecord, ArchiveState, WorkspaceLease, CancellationToken)"/>).</summary>
/// <param name="Archive">The row as it is to be; its workspace must be the lease's.</param>
/// <param name="Expected">The state the row must be in.</param>
/// <param name="Lease">The lease.</param>
public sealed record UpdateArchiveWrite(ArchiveRecord Archive, ArchiveState Expected, WorkspaceLease Lease) : FencedWrite(Lease);

/// <summary>Compare-and-set of the storage column (<see cref="IStateStore.TrySetStorageAsync(Guid, StorageState, StorageState, WorkspaceLease, CancellationToken)"/>).</summary>
/// <param name="Expected">The storage the workspace must have.</param>
/// <param name="Desired">The storage to set.</param>
/// <param name="Lease">The lease; it names the workspace.</param>
public sealed record SetStorageWrite(StorageState Expected, StorageState Desired, WorkspaceLease Lease) : FencedWrite(Lease);

/// <summary>What became of one write of a batch.</summary>
public enum FencedWriteOutcome
{
    /// <summary>Written.</summary>
    Applied,

    /// <summary>The lease is no longer held (token replaced or expired on the store's clock); nothing was written.</summary>
    LeaseLost,

    /// <summary>The row is not in the expected state (storage or ledger state), or the archive id exists already; nothing was written.</summary>
    Conflict,

    /// <summary>The workspace or the ledger row does not exist; nothing was written.</summary>
    NotFound,

    /// <summary>Not tried: an earlier write of the same workspace in the batch was not applied.</summary>
    Skipped,
}

/// <summary>One write's outcome, with the reason when it was not applied.</summary>
/// <param name="Write">The write.</param>
/// <param name="Outcome">What became of it.</param>
/// <param name="Message">Why it was not applied (one line naming the workspace), or null when applied.</param>
public sealed record FencedWriteResult(FencedWrite Write, FencedWriteOutcome Outcome, string? Message)
{
    /// <summary>True when the write was made.</summary>
    public bool Applied => Outcome == FencedWriteOutcome.Applied;
}
