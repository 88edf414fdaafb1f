using Coldstore.Domain;

namespace Coldstore.Ports;

/// <summary>
/// The state-store port: the host application's <c>Workspace</c> table (plus Coldstore's storage column),
/// Coldstore's archive ledger, and per-workspace leases. Adapters exist for Postgres and SQLite.
/// Every method is a single transaction; times come from the database's clock.
/// </summary>
public interface IStateStore : IAsyncDisposable
{
    /// <summary>A human description of the store, free of passwords.</summary>
    string Description { get; }

    /// <summary>
    /// Applies Coldstore's versioned migrations. Idempotent and safe to run from several processes at once;
    /// creates Dittofeed's tables only when absent and never alters their existing columns.
    /// </summary>
    Task MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>The migration versions applied, ascending.</summary>
    Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates a workspace (status Active, storage hot). Throws <see cref="Errors.WorkspaceOperationException"/> with kind Conflict when the id or name is taken.</summary>
    Task<Workspace> CreateWorkspaceAsync(NewWorkspace workspace, CancellationToken cancellationToken = default);

    /// <summary>Reads one workspace, or null when it does not exist.</summary>
    Task<Workspace?> GetWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default);

    /// <summary>Lists all workspaces ordered by creation time, then id.</summary>
    Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets the storage column from <paramref name="expected"/> to <paramref name="desired"/> atomically.
    /// Returns false (and changes nothing) when the current value is not <paramref name="expected"/>.
    /// </summary>
    Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken cancellationToken = default);

    /// <summary>
    /// The same compare-and-set made under <paramref name="lease"/>: in the same statement, it also requires that the
    /// lease's token is still the workspace's and has not expired on the store's clock. Returns false (changing
    /// nothing) when the current value is not <paramref name="expected"/> while the lease is held.
    /// </summary>
    /// <exception cref="Errors.LeaseLostException">The lease is no longer held; nothing was written.</exception>
    Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, WorkspaceLease lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies a lifecycle transition in one transaction: locks the row, computes the new status, name and external
    /// id with <see cref="WorkspaceLifecycle.Apply"/>, and writes them (stamping <c>updatedAt</c>). When the workspace
    /// already has the target status nothing is written and <see cref="WorkspaceStatusChange.Changed"/> is false.
    /// </summary>
    /// <exception cref="Errors.WorkspaceOperationException">
    /// Kind NotFound when the workspace does not exist; kind Conflict when the transition does not apply to its
    /// status or a sibling already uses the new name or external id (see <see cref="WorkspaceLifecycle.NameTaken"/>).
    /// </exception>
    Task<WorkspaceStatusChange> ChangeWorkspaceStatusAsync(Guid workspaceId, WorkspaceTransition transition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Inserts a new ledger row, unconditionally: for writes outside any lease. An operation holding a lease uses the
    /// overload that takes it. Throws when the archive id exists.
    /// </summary>
    Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the mutable fields of a ledger row (state, counts, checksum, bytes, last error) and stamps <c>UpdatedAt</c>,
    /// unconditionally: for writes outside any lease. An operation holding a lease uses the overload that takes it.
    /// </summary>
    Task UpdateArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default);

    /// <summary>
    /// Inserts a new ledger row under <paramref name="lease"/>: in the same statement, only while the lease's token is
    /// still the workspace's and has not expired on the store's clock.
    /// </summary>
    /// <exception cref="Errors.LeaseLostException">The lease is no longer held; nothing was written.</exception>
    Task InsertArchiveAsync(ArchiveRecord archive, WorkspaceLease lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces a ledger row's mutable fields under <paramref name="lease"/>, only while the row is in state
    /// <paramref name="expected"/> and the lease is still held, both checked in the same statement as the write.
    /// </summary>
    /// <exception cref="Errors.LeaseLostException">The lease is no longer held; nothing was written.</exception>
    /// <exception cref="Errors.WorkspaceOperationException">
    /// Kind Conflict when the row is not in state <paramref name="expected"/> (nothing was written); kind NotFound
    /// when it is not in the ledger.
    /// </exception>
    Task UpdateArchiveAsync(ArchiveRecord archive, ArchiveState expected, WorkspaceLease lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes many fenced writes (several workspaces, several writes each) in one transaction: each is checked and made
    /// exactly as its single counterpart would be, but a write that is refused does not undo or stop the others. Once a
    /// write of a workspace is refused, that workspace's later writes in the list are <see cref="FencedWriteOutcome.Skipped"/>.
    /// Writes are made in list order. Throws only when the store itself fails (then nothing was written).
    /// </summary>
    /// <param name="writes">The writes, in order.</param>
    /// <param name="cancellationToken">Cancels.</param>
    /// <returns>One result per write, in the same order.</returns>
    Task<IReadOnlyList<FencedWriteResult>> ApplyFencedAsync(IReadOnlyList<FencedWrite> writes, CancellationToken cancellationToken = default);

    /// <summary>Reads one ledger row, or null.</summary>
    Task<ArchiveRecord?> GetArchiveAsync(Guid archiveId, CancellationToken cancellationToken = default);

    /// <summary>Lists a workspace's ledger rows, oldest first.</summary>
    Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every ledger row of every workspace in one read, ordered by workspace, then oldest first: what a fleet-wide
    /// report needs, at one query however many workspaces there are.
    /// </summary>
    Task<IReadOnlyList<ArchiveRecord>> ListAllArchivesAsync(CancellationToken cancellationToken = default);

    /// <summary>Places a legal hold on a workspace's archives, or replaces the reason of the one it has; returns it.</summary>
    Task<WorkspaceHold> PlaceHoldAsync(Guid workspaceId, string reason, CancellationToken cancellationToken = default);

    /// <summary>Lifts a workspace's legal hold; false when it had none.</summary>
    Task<bool> ReleaseHoldAsync(Guid workspaceId, CancellationToken cancellationToken = default);

    /// <summary>Every legal hold, by workspace id.</summary>
    Task<IReadOnlyList<WorkspaceHold>> ListHoldsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a new erasure, unconditionally: a request is recorded even while another operation holds the
    /// workspace's lease (that operation applies it before it finishes). Throws when the erasure id exists, and for a
    /// record that is not pending. Like holds, it is not tied to the workspace's row: the caller checks the workspace.
    /// </summary>
    Task InsertErasureAsync(ErasureRecord erasure, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces an erasure's state, progress, applied time and last error under <paramref name="lease"/>: only while it
    /// is still pending and the lease is held, both checked in the same statement as the write.
    /// </summary>
    /// <exception cref="Errors.LeaseLostException">The lease is no longer held; nothing was written.</exception>
    /// <exception cref="Errors.WorkspaceOperationException">Kind Conflict when the erasure is no longer pending; NotFound when it does not exist.</exception>
    Task UpdateErasureAsync(ErasureRecord erasure, WorkspaceLease lease, CancellationToken cancellationToken = default);

    /// <summary>A workspace's erasures, oldest first.</summary>
    Task<IReadOnlyList<ErasureRecord>> ListErasuresAsync(Guid workspaceId, CancellationToken cancellationToken = default);

    /// <summary>Every pending erasure of every workspace, oldest first: what the worker's sweep applies.</summary>
    Task<IReadOnlyList<ErasureRecord>> ListPendingErasuresAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes the workspace's lease for <paramref name="duration"/> when nobody holds it or the holder's lease expired.
    /// Reports the lease, or who holds it when it is taken.
    /// </summary>
    Task<LeaseAttempt> TryAcquireLeaseAsync(Guid workspaceId, string owner, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="TryAcquireLeaseAsync"/> for many workspaces in one transaction: one attempt per id, in order. A workspace
    /// that does not exist gets an attempt with neither lease nor holder; it stops none of the others.
    /// </summary>
    Task<IReadOnlyList<LeaseAttempt>> TryAcquireLeasesAsync(IReadOnlyList<Guid> workspaceIds, string owner, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>Extends a lease still held by its token; returns the renewed lease, or null when it was lost.</summary>
    Task<WorkspaceLease?> RenewLeaseAsync(WorkspaceLease lease, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>Gives a lease up if still held by its token. Idempotent.</summary>
    Task ReleaseLeaseAsync(WorkspaceLease lease, CancellationToken cancellationToken = default);
}

/// <summary>
/// A state store that can tell a worker at once when a workspace's status changes (Postgres: LISTEN/NOTIFY from a
/// trigger on <c>Workspace</c>). Stores without it are polled only.
/// </summary>
public interface IWorkspaceChangeFeed
{
    /// <summary>
    /// Yields the id of each workspace whose status changed (or that was inserted), as the store learns of it, until
    /// cancelled. Reconnects by itself after a lost connection and then yields <see cref="Guid.Empty"/>, meaning
    /// "changes may have been missed: re-read every workspace". The first item is always <see cref="Guid.Empty"/>,
    /// yielded once listening has begun, so nothing that changes after it is missed.
    /// </summary>
    IAsyncEnumerable<Guid> WatchWorkspaceChangesAsync(CancellationToken cancellationToken);
}

/// <summary>The outcome of <see cref="IStateStore.TryAcquireLeaseAsync"/>: either a lease or who holds it.</summary>
/// <param name="Lease">The acquired lease, or null.</param>
/// <param name="Holder">The current holder when not acquired (null if the lease vanished meanwhile).</param>
public sealed record LeaseAttempt(WorkspaceLease? Lease, LeaseHolder? Holder)
{
    /// <summary>
    /// When the lease was acquired by replacing one that had lapsed without being released (its holder crashed, or
    /// was cut off and never came back): that holder's owner name. Null for a fresh acquire.
    /// </summary>
    public string? TakenOverFrom { get; init; }

    /// <summary>True when the lease was acquired.</summary>
    public bool Acquired => Lease is not null;
}
