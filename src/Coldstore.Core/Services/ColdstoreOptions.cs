namespace Coldstore.Services;

/// <summary>How archive and restore behave. The defaults suit production; tests shorten the waits.</summary>
public sealed record ColdstoreOptions
{
    /// <summary>
    /// A fixed wait after taking the cutoff, before copying, for writers the server cannot show as running (a Buffer
    /// table, a Distributed table's queue, a client whose insert reaches the server late). None by default: the inserts
    /// the server does show are waited for instead (<see cref="InFlightInsertWait"/>). A row whose
    /// <c>processing_time</c> is at or before the cutoff but commits later is never lost either way: the delete is
    /// bounded by the parts whose content equals the archive's, so the row stays hot for the next archive.
    /// </summary>
    public TimeSpan SettleWindow { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// The longest an archive waits, after its cutoff, for inserts into the events table that started at or before
    /// the cutoff (and asynchronous inserts queued by then) to finish, so their rows are in the copy rather than left
    /// hot. Usually nothing is in flight and this costs one query; when the bound is reached the archive goes on.
    /// </summary>
    public TimeSpan InFlightInsertWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most unfinished mutations a table may have, counting everyone's (Dittofeed's own deletes too), for Coldstore
    /// to add one: above it a delete waits (up to <see cref="DeleteWaitTimeout"/>) rather than push the table towards
    /// ClickHouse's <c>number_of_mutations_to_delay</c> (500), which slows every mutation of it.
    /// </summary>
    public int MutationBudget { get; init; } = 100;

    /// <summary>How long an operation waits for another operation on the same workspace; zero fails at once with a conflict.</summary>
    public TimeSpan LeaseWait { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Whether lifecycle changes (pause, tombstone, resume, activate) move the events. When false they only change
    /// the status, and reconciling does nothing.
    /// </summary>
    public bool ColdStorageEnabled { get; init; } = true;

    /// <summary>
    /// How long a lifecycle change waits for the lease when it moves the events itself. A worker that took the
    /// workspace first is doing the same move, so waiting for it (rather than failing) is the expected path.
    /// </summary>
    public TimeSpan LifecycleLeaseWait { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a lease lasts without renewal; a crashed holder's lease lapses after this.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest a single copy, read-back or restore statement may run (ClickHouse's <c>max_execution_time</c>).</summary>
    public TimeSpan StatementTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>
    /// How long an operation waits, after KILL QUERY, for statements an earlier run left running on the server to end
    /// before it gives up (changing nothing).
    /// </summary>
    public TimeSpan OrphanStatementWait { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long to wait for earlier background deletes of the workspace to finish.</summary>
    public TimeSpan DeleteWaitTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>How many times a copy that does not match the hot rows is retried before the archive fails.</summary>
    public int CopyAttempts { get; init; } = 3;

    /// <summary>
    /// How many workspaces one batch archives together (<c>archive ID…</c>, <c>--status</c>, the worker): one cutoff, one
    /// copy statement, one read-back, one delete per table for all of them. Larger batches amortize more but make each
    /// statement longer, and every batch statement must end within <see cref="BatchStatementTimeout"/>.
    /// </summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>
    /// The most hot rows a workspace may have to be archived in a batch, and the most a batch takes in all; a larger
    /// workspace (or the rest of a full batch) is archived on its own. Keeps every batch statement short.
    /// </summary>
    public long BatchRows { get; init; } = 200_000;

    /// <summary>
    /// The most rows one archive statement moves: a workspace with more hot rows is archived in chunks of about this
    /// many (consecutive months together, a larger month split by hash), each copied, verified, deleted and later
    /// restored on its own, so memory stays bounded however large the workspace. Smaller chunks use less memory and
    /// add a few statements per chunk.
    /// </summary>
    public long ChunkRows { get; init; } = 1_000_000;

    /// <summary>
    /// The retention rule: archives of a workspace Tombstoned at least this long (by its row's last change), or whose row
    /// the application deleted this long ago (by its archives' last change), are purged by the worker and
    /// <c>coldstore purge</c>, unless it is under a legal hold. Null (the default): archives are kept forever.
    /// </summary>
    public TimeSpan? PurgeTombstonedAfter { get; init; }

    /// <summary>
    /// The bound on every statement of a batch (<c>max_execution_time</c>): a third of the lease, so the server ends a
    /// batch statement before any of its workspaces' leases could lapse and pass to another holder. A batch's query ids
    /// name the batch, not each workspace, so another holder's search for a workspace's orphaned statements would not
    /// find them; this bound is what keeps a batch statement from outliving its leases instead.
    /// </summary>
    public TimeSpan BatchStatementTimeout => TimeSpan.FromTicks(Math.Min(StatementTimeout.Ticks, Math.Max(LeaseDuration.Ticks / 3, TimeSpan.FromSeconds(1).Ticks)));

    /// <summary>Who this process is, recorded with its leases (host name and process id by default).</summary>
    public string Owner { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// Called after each named step completes (see <see cref="Steps"/>); the fault-injection hook
    /// (<c>COLDSTORE_FAILPOINT</c>) kills the process here.
    /// </summary>
    public Action<string>? StepCompleted { get; init; }

    /// <summary>
    /// The clock of every wait and deadline of an operation: the lease wait and renewals, the polls of ClickHouse's
    /// mutations and inserts, and the worker's backoff. Tests set a fake one to run those waits without sleeping. Times
    /// that are stored (ledger rows, cutoffs) come from the state store's and ClickHouse's clocks, never from here.
    /// </summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Throws when a value is out of range, quoting it.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(null, message);
            }
        }

        Require(SettleWindow >= TimeSpan.Zero, $"SettleWindow must not be negative, not {SettleWindow}.");
        Require(InFlightInsertWait >= TimeSpan.Zero, $"InFlightInsertWait must not be negative, not {InFlightInsertWait}.");
        Require(MutationBudget >= 1, $"MutationBudget must be at least 1, not {MutationBudget}.");
        Require(LeaseWait >= TimeSpan.Zero, $"LeaseWait must not be negative, not {LeaseWait}.");
        Require(LifecycleLeaseWait >= TimeSpan.Zero, $"LifecycleLeaseWait must not be negative, not {LifecycleLeaseWait}.");
        Require(LeaseDuration >= TimeSpan.FromSeconds(1), $"LeaseDuration must be at least one second, not {LeaseDuration}.");
        Require(StatementTimeout >= TimeSpan.FromSeconds(1), $"StatementTimeout must be at least one second, not {StatementTimeout}.");
        Require(BatchSize is >= 1 and <= 1000, $"BatchSize must be between 1 and 1000, not {BatchSize}.");
        Require(BatchRows >= 1, $"BatchRows must be at least 1, not {BatchRows}.");
        Require(ChunkRows >= 1, $"ChunkRows must be at least 1, not {ChunkRows}.");
        Require(PurgeTombstonedAfter is null || PurgeTombstonedAfter >= TimeSpan.Zero, $"PurgeTombstonedAfter must not be negative, not {PurgeTombstonedAfter}.");
        Require(OrphanStatementWait >= TimeSpan.FromSeconds(1), $"OrphanStatementWait must be at least one second, not {OrphanStatementWait}.");
        Require(CopyAttempts >= 1, $"CopyAttempts must be at least 1, not {CopyAttempts}.");
        if (Time is null)
        {
            throw new ArgumentNullException(nameof(Time), "Time must be a clock; leave it unset for TimeProvider.System.");
        }
    }
}

/// <summary>
/// The names of the steps of archive and restore, reported in results and progress, and accepted by
/// <c>COLDSTORE_FAILPOINT</c> to kill the process right after the step.
/// </summary>
public static class Steps
{
    /// <summary>Archive: the ledger row exists and the storage column says archiving; nothing copied yet.</summary>
    public const string ArchiveStarted = "archive:started";

    /// <summary>Archive: the rows are copied to the archive store (not yet verified).</summary>
    public const string ArchiveCopied = "archive:copied";

    /// <summary>Archive: the objects were read back (count and checksum of what they hold).</summary>
    public const string ArchiveReadBack = "archive:read-back";

    /// <summary>Archive: count and checksum of the copy equal the hot rows; the manifest is written; ledger says verified.</summary>
    public const string ArchiveVerified = "archive:verified";

    /// <summary>
    /// Archive: the data parts holding the archived rows and their internal events were listed and found to hold exactly
    /// the archive's rows; the ledger says deleting.
    /// </summary>
    public const string ArchiveDeleteBounded = "archive:delete-bounded";

    /// <summary>Archive: the delete of the archived hot rows was submitted.</summary>
    public const string ArchiveEventsDeleteSubmitted = "archive:events-delete-submitted";

    /// <summary>Archive: the delete of the derived internal events was submitted.</summary>
    public const string ArchiveDeletesSubmitted = "archive:deletes-submitted";

    /// <summary>Archive: both deletes applied and no archived row (or internal event) is hot any more; ledger says archived.</summary>
    public const string ArchiveDeletesApplied = "archive:deletes-applied";

    /// <summary>
    /// Archive of a large workspace: one chunk is archived (copied, verified, its deletes applied) and the next has not
    /// begun; never reached by an archive of at most <see cref="ColdstoreOptions.ChunkRows"/> rows.
    /// </summary>
    public const string ArchiveChunkArchived = "archive:chunk-archived";

    /// <summary>Archive: the storage column says cold.</summary>
    public const string ArchiveDone = "archive:done";

    /// <summary>Restore: the manifest and the objects were checked against the ledger and read back.</summary>
    public const string RestoreArchiveVerified = "restore:archive-verified";

    /// <summary>Restore: what was already hot is recorded and the ledger says restoring; nothing inserted yet.</summary>
    public const string RestoreStarted = "restore:started";

    /// <summary>Restore: rows of this archive left hot by an interrupted restore were removed.</summary>
    public const string RestoreLeftoversRemoved = "restore:leftovers-removed";

    /// <summary>Restore: the archive's rows were inserted back.</summary>
    public const string RestoreInserted = "restore:inserted";

    /// <summary>Restore: the hot rows and internal events match the manifest; ledger says restored.</summary>
    public const string RestoreVerified = "restore:verified";

    /// <summary>Restore: the archive's objects were deleted.</summary>
    public const string RestoreObjectsDeleted = "restore:objects-deleted";

    /// <summary>Restore: the storage column says hot.</summary>
    public const string RestoreDone = "restore:done";

    /// <summary>Erase: the request is in the ledger (pending), with the salted hashes of the ids.</summary>
    public const string EraseRecorded = "erase:recorded";

    /// <summary>Erase: the users' rows and internal events are deleted from the hot tables (the deletes applied).</summary>
    public const string EraseHotDeleted = "erase:hot-deleted";

    /// <summary>Erase: one archive's replacement objects are written and verified; the ledger records its new values.</summary>
    public const string EraseObjectsWritten = "erase:objects-written";

    /// <summary>Erase: one archive's new manifest is written; its ledger row still has the old values.</summary>
    public const string EraseManifestWritten = "erase:manifest-written";

    /// <summary>Erase: one archive's manifest and ledger row describe it without the erased rows.</summary>
    public const string EraseSwapped = "erase:swapped";

    /// <summary>Erase: one archive's replaced objects are deleted.</summary>
    public const string EraseOldObjectsDeleted = "erase:old-objects-deleted";

    /// <summary>Erase: the erasure is applied to the hot tables and every archive.</summary>
    public const string EraseApplied = "erase:applied";

    /// <summary>Every step name, in the order they run.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        ArchiveStarted, ArchiveCopied, ArchiveReadBack, ArchiveVerified, ArchiveDeleteBounded, ArchiveEventsDeleteSubmitted, ArchiveDeletesSubmitted,
        ArchiveDeletesApplied, ArchiveChunkArchived, ArchiveDone,
        RestoreArchiveVerified, RestoreStarted, RestoreLeftoversRemoved, RestoreInserted, RestoreVerified, RestoreObjectsDeleted, RestoreDone,
        EraseRecorded, EraseHotDeleted, EraseObjectsWritten, EraseManifestWritten, EraseSwapped, EraseOldObjectsDeleted, EraseApplied,
    ];
}
