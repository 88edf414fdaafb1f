using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Services;

/// <summary>
/// Every ledger and storage-state write of archive and restore, in one place: each transition an archive can make is
/// one named method here, so the state machine reads in one file and every write can be fenced the same way.
/// <code>
/// archive:  copying → verified → deleting → archived        (a verified copy that went stale: verified → copying)
/// restore:  archived → restoring → restored                  (a failed check or insert: restoring → archived)
/// rollback: copying | verified → abandoned
/// retention: archived → purged      (activated or held right after the mark: purged → archived)
/// </code>
/// Every write is fenced (<see cref="FencedLedger"/>): made only while the operation's lease is held and the row is in
/// the state the transition starts from, in the same statement.
/// </summary>
internal sealed class ArchiveLedger(IStateStore state)
{
    private readonly FencedLedger _fenced = new(state);

    /// <summary>Records a new archive (of the rows up to the cutoff, or of one chunk of them), copying.</summary>
    public async Task<ArchiveRecord> StartAsync(Guid workspaceId, Guid archiveId, DateTime cutoff, string prefix, ArchiveChunk? chunk, CancellationToken ct)
    {
        var record = new ArchiveRecord(archiveId, workspaceId, ArchiveState.Copying, cutoff, prefix,
            null, null, null, null, DateTime.UtcNow, DateTime.UtcNow, null) { Chunk = chunk };
        await _fenced.InsertArchiveAsync(record, ct).ConfigureAwait(false);
        return record;
    }

    /// <summary>The copy matched the hot rows and its manifest is written.</summary>
    public Task<ArchiveRecord> VerifiedAsync(ArchiveRecord record, long rows, ulong checksum, long bytes, long derivedRows, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Verified, RowCount = rows, Checksum = checksum, Bytes = bytes, InternalEventRows = derivedRows, LastError = null }, ct);

    /// <summary>The hot rows changed after the copy was verified: copy again before deleting anything.</summary>
    public Task<ArchiveRecord> CopyAgainAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Copying }, ct);

    /// <summary>The delete is bounded to exactly the archive's rows; from here the only way is forward.</summary>
    public Task<ArchiveRecord> DeletingAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Deleting, LastError = null }, ct);

    /// <summary>The deletes applied and no archived row is hot.</summary>
    public Task<ArchiveRecord> ArchivedAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Archived, LastError = null }, ct);

    /// <summary>A restore begins, with what was hot before it.</summary>
    public Task<ArchiveRecord> RestoringAsync(ArchiveRecord record, RestoreBaseline baseline, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Restoring, Baseline = baseline, LastError = null }, ct);

    /// <summary>A restore stopped with nothing of it left hot: the archive stays the copy of record.</summary>
    public Task<ArchiveRecord> BackToArchivedAsync(ArchiveRecord record, string error) =>
        MoveAsync(record, record with { State = ArchiveState.Archived, LastError = error }, CancellationToken.None);

    /// <summary>The rows are hot again and verified.</summary>
    public Task<ArchiveRecord> RestoredAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Restored, LastError = null }, ct);

    /// <summary>An archive that deleted nothing is rolled back.</summary>
    public Task<ArchiveRecord> AbandonedAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Abandoned, LastError = null }, ct);

    /// <summary>The retention rule removes an archived archive: its objects go next, its counts and dates stay.</summary>
    public Task<ArchiveRecord> PurgedAsync(ArchiveRecord record, CancellationToken ct) =>
        MoveAsync(record, record with { State = ArchiveState.Purged, LastError = null }, ct);

    /// <summary>A purge found the workspace activated or held right after marking: the archive is archived again, untouched.</summary>
    public Task<ArchiveRecord> UnpurgedAsync(ArchiveRecord purged, CancellationToken ct) =>
        MoveAsync(purged, purged with { State = ArchiveState.Archived }, ct);

    /// <summary>
    /// An erasure removed rows from an archived archive: its ledger row takes the new manifest's count, checksum, bytes
    /// and internal events (the manifest was written first; until this write a restore finishes the erasure first).
    /// </summary>
    public Task<ArchiveRecord> ErasedFromAsync(ArchiveRecord record, ErasedArchive erased, long bytes, CancellationToken ct) =>
        MoveAsync(record, record with { RowCount = erased.Rows, Checksum = erased.ChecksumValue, Bytes = bytes, InternalEventRows = erased.InternalEventRows, LastError = null }, ct);

    /// <summary>An erasure removed every row of an archived archive: nothing is left to restore, its objects go next.</summary>
    public Task<ArchiveRecord> AllErasedAsync(ArchiveRecord record, Guid erasureId, CancellationToken ct) =>
        MoveAsync(record, record with
        {
            State = ArchiveState.Purged, RowCount = 0, Checksum = 0, Bytes = 0, InternalEventRows = 0,
            LastError = $"Every row of this archive was erased (erasure {erasureId}); nothing is left to restore.",
        }, ct);

    /// <summary>Records an erasure's progress (or its end), while it is pending and the lease is held.</summary>
    public async Task<ErasureRecord> UpdateErasureAsync(ErasureRecord erasure, CancellationToken ct)
    {
        await _fenced.UpdateErasureAsync(erasure, ct).ConfigureAwait(false);
        return erasure;
    }

    /// <summary>Keeps the reason an operation stopped on the archive's row, whatever state it is in now.</summary>
    public async Task RecordErrorAsync(ArchiveRecord record, string message)
    {
        var current = await state.GetArchiveAsync(record.ArchiveId, CancellationToken.None).ConfigureAwait(false);
        if (current is not null)
        {
            try
            {
                await _fenced.UpdateArchiveAsync(current with { LastError = message }, current.State, CancellationToken.None).ConfigureAwait(false);
            }
            catch (LeaseLostException)
            {
                // The row is the new holder's now; the failure being recorded is rethrown by the caller.
            }
        }
    }

    /// <summary>The workspace's archive that is between two states, if any (the ledger allows one).</summary>
    public async Task<ArchiveRecord?> OpenArchiveAsync(Guid workspaceId, CancellationToken ct) =>
        (await state.ListArchivesAsync(workspaceId, ct).ConfigureAwait(false)).SingleOrDefault(IsOpen);

    /// <summary>True for an archive between two states: an archive or a restore of it has begun and not ended.</summary>
    public static bool IsOpen(ArchiveRecord archive) =>
        archive.State is ArchiveState.Copying or ArchiveState.Verified or ArchiveState.Deleting or ArchiveState.Restoring;

    /// <summary>Every archive of the workspace, oldest first.</summary>
    public Task<IReadOnlyList<ArchiveRecord>> ListAsync(Guid workspaceId, CancellationToken ct) => state.ListArchivesAsync(workspaceId, ct);

    /// <summary>Moves the workspace's storage column to <paramref name="desired"/>.</summary>
    public async Task<StorageState> SetStorageAsync(Guid workspaceId, StorageState desired, CancellationToken ct)
    {
        // The lease makes this process the only writer; the loop only absorbs a stale read.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var workspace = await state.RequireWorkspaceAsync(workspaceId, "set-storage", ct).ConfigureAwait(false);
            if (workspace.Storage == desired || await _fenced.TrySetStorageAsync(workspaceId, workspace.Storage, desired, ct).ConfigureAwait(false))
            {
                return desired;
            }
        }

        throw new WorkspaceOperationException(workspaceId, "set-storage",
            $"The storage state of workspace {workspaceId} keeps changing under this operation; is something else writing coldstoreStorage?",
            WorkspaceErrorKind.Failed);
    }

    /// <summary>Writes <paramref name="next"/> over <paramref name="current"/>, only while the row is still in <paramref name="current"/>'s state.</summary>
    private async Task<ArchiveRecord> MoveAsync(ArchiveRecord current, ArchiveRecord next, CancellationToken ct)
    {
        await _fenced.UpdateArchiveAsync(next, current.State, ct).ConfigureAwait(false);
        return next;
    }
}
