using System.Globalization;
using Coldstore.Domain;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>The archive batch's steps (see <see cref="WorkspaceArchiver"/>'s batch runner in WorkspaceArchiver.Batch.cs).</summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    /// <summary>The archive batch's steps, in order; each leaves every workspace it touches in a ledger state a single archive resumes from.</summary>
    private async Task ArchiveBatchStepsAsync(BatchRun batch, CancellationToken ct)
    {
        void Done(BatchMember member) =>
            batch.Done(member, StorageState.Cold, Steps.ArchiveDone, member.Record is null ? "no hot rows up to the cutoff; nothing to archive" : null,
                member.Record is { } record ? [Outcome(record)] : []);

        foreach (var member in batch.Open.Where(m => m.Workspace!.Storage is not (StorageState.Hot or StorageState.Cold)))
        {
            batch.HandBack(member);
        }

        if (batch.Open.Count == 0)
        {
            return;
        }

        // One cutoff and one wait for the inserts in flight, for all of them.
        var cutoff = await ServerNowAsync(ct).ConfigureAwait(false);
        await SettleAsync(cutoff, batch.Open[0].Run, ct).ConfigureAwait(false);
        var hot = await HotSummariesAsync(batch.Open, cutoff, ct).ConfigureAwait(false);
        var empty = new List<BatchMember>();
        var taken = 0L;
        foreach (var member in batch.Open)
        {
            member.Hot = hot.GetValueOrDefault(member.WorkspaceId);
            if (member.Hot.Rows == 0)
            {
                empty.Add(member);
            }
            else if (taken + member.Hot.Rows > options.BatchRows || member.Hot.Rows > options.ChunkRows)
            {
                batch.HandBack(member);
            }
            else
            {
                taken += member.Hot.Rows;
            }
        }

        // Nothing to archive: the storage follows the request (as a single archive does), and no ledger row is written.
        await ApplyAsync(batch, [.. empty.Where(m => m.Workspace!.Storage != StorageState.Cold)
            .Select(m => (m, (FencedWrite)new SetStorageWrite(m.Workspace!.Storage, StorageState.Cold, m.Lease!.Lease)))], ct).ConfigureAwait(false);
        foreach (var member in empty.Where(m => !m.Settled))
        {
            Done(member);
        }

        // archive:started, for all of them in one transaction.
        var starting = batch.Open;
        var writes = new List<(BatchMember, FencedWrite)>();
        foreach (var member in starting)
        {
            var archiveId = Guid.NewGuid();
            member.Record = new ArchiveRecord(archiveId, member.WorkspaceId, ArchiveState.Copying, cutoff, ArchivePrefix(member.WorkspaceId, archiveId),
                null, null, null, null, DateTime.UtcNow, DateTime.UtcNow, null);
            writes.Add((member, new SetStorageWrite(member.Workspace!.Storage, StorageState.Archiving, member.Lease!.Lease)));
            writes.Add((member, new InsertArchiveWrite(member.Record, member.Lease!.Lease)));
        }

        if (!await RecordStepAsync(batch, writes, Steps.ArchiveStarted, m => string.Create(CultureInfo.InvariantCulture,
            $"archive {m.Record!.ArchiveId} (batch of {starting.Count}), cutoff {cutoff:O}, {m.Hot.Rows} hot rows"), ct).ConfigureAwait(false))
        {
            return;
        }

        // Copy, read back, verify: one statement each.
        var copying = batch.Open;
        await _clickHouse.ExecuteAsync(BatchSql.CopyToArchives(tables, [.. copying.Select(m => (m.WorkspaceId, m.Record!.ArchiveId))], cutoff,
            store.TableFunction("{_partition_id}.parquet", DataFormat, "archive"), options.BatchStatementTimeout), ct).ConfigureAwait(false);
        Completed(copying, Steps.ArchiveCopied, m => m.Record!.ObjectPrefix);
        var readBack = await ReadBackBatchAsync(copying, ct).ConfigureAwait(false);
        Completed(copying, Steps.ArchiveReadBack, m => string.Create(CultureInfo.InvariantCulture, $"{readBack.GetValueOrDefault(m.WorkspaceId).Content.Rows} rows read back"));
        hot = await HotSummariesAsync(copying, cutoff, ct).ConfigureAwait(false);
        var verified = new List<BatchMember>();
        foreach (var member in copying)
        {
            var now = hot.GetValueOrDefault(member.WorkspaceId);
            var (content, foreign) = readBack.GetValueOrDefault(member.WorkspaceId);
            if (foreign != 0 || content.Rows != now.Rows || content.Checksum != now.Checksum || content.DerivedRows != now.DerivedRows)
            {
                // Rows up to the cutoff committed after the copy (or changed): the single path copies this one again.
                LogCopyMismatch(logger, member.WorkspaceId, 1, now.Rows, content.Rows);
                batch.HandBack(member);
                continue;
            }

            member.Hot = now;
            verified.Add(member);
        }

        var manifests = await ForEachAsync(verified, m => WriteManifestAsync(m.Record!, m.Hot, ct), ct).ConfigureAwait(false);
        writes.Clear();
        foreach (var member in verified)
        {
            var next = member.Record! with { State = ArchiveState.Verified, RowCount = member.Hot.Rows, Checksum = member.Hot.Checksum, Bytes = manifests[member].Bytes, InternalEventRows = member.Hot.DerivedRows, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(next, ArchiveState.Copying, member.Lease!.Lease)));
            member.Record = next;
        }

        if (!await RecordStepAsync(batch, writes, Steps.ArchiveVerified, m => string.Create(CultureInfo.InvariantCulture,
            $"{m.Hot.Rows} rows, checksum {m.Hot.Checksum}, {manifests[m].Bytes} bytes in {manifests[m].Objects.Count} objects"), ct).ConfigureAwait(false))
        {
            return;
        }

        // The delete bound: one listing per table for all of them, each workspace's parts checked against its archive.
        var bounding = batch.Open;
        var eventParts = await BatchPartSummariesAsync(HotTable.Events, bounding, cutoff, ct).ConfigureAwait(false);
        var internalParts = await BatchPartSummariesAsync(HotTable.InternalEvents, bounding, cutoff, ct).ConfigureAwait(false);
        writes.Clear();
        foreach (var member in bounding)
        {
            member.EventParts = eventParts.GetValueOrDefault(member.WorkspaceId) ?? [];
            member.InternalParts = internalParts.GetValueOrDefault(member.WorkspaceId) ?? [];
            var record = member.Record!;
            var derivedChecksum = member.EventParts.Aggregate(0UL, (sum, p) => unchecked(sum + p.DerivedChecksum));
            if (member.EventParts.Sum(p => p.Rows) != record.RowCount || Sum(member.EventParts) != record.Checksum
                || member.InternalParts.Sum(p => p.Rows) != member.EventParts.Sum(p => p.DerivedRows) || Sum(member.InternalParts) != derivedChecksum)
            {
                // Something up to the cutoff changed after the copy: the single path lists again, and copies again.
                LogRowsArrivedAfterCopy(logger, member.WorkspaceId, record.ArchiveId);
                batch.HandBack(member);
                continue;
            }

            member.Record = record with { State = ArchiveState.Deleting, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(member.Record, ArchiveState.Verified, member.Lease!.Lease)));
        }

        if (!await RecordStepAsync(batch, writes, Steps.ArchiveDeleteBounded, m => string.Create(CultureInfo.InvariantCulture,
            $"{m.EventParts.Count} parts of events, {m.InternalParts.Count} of internal events"), ct).ConfigureAwait(false))
        {
            return;
        }

        // One delete per table for all of them, within the mutation budget.
        var deleting = batch.Open;
        var subject = string.Create(CultureInfo.InvariantCulture, $"the batch delete of {deleting.Count} workspaces' archives");
        await SubmitBatchDeleteAsync(HotTable.Events, deleting, m => m.EventParts, cutoff, subject, ct).ConfigureAwait(false);
        Completed(deleting, Steps.ArchiveEventsDeleteSubmitted, m => string.Create(CultureInfo.InvariantCulture, $"{m.EventParts.Count} parts (batch of {deleting.Count})"));
        await SubmitBatchDeleteAsync(HotTable.InternalEvents, deleting, m => m.InternalParts, cutoff, subject, ct).ConfigureAwait(false);
        Completed(deleting, Steps.ArchiveDeletesSubmitted, m => string.Create(CultureInfo.InvariantCulture, $"{m.InternalParts.Count} parts of internal events"));

        // Wait until they applied, then look once, for all of them, for archived rows a merge kept out of their reach.
        await WaitForBatchDeletesAsync(deleting, ct).ConfigureAwait(false);
        var eventsLeft = await BatchPartSummariesAsync(HotTable.Events, deleting, cutoff, ct).ConfigureAwait(false);
        var internalLeft = await BatchPartSummariesAsync(HotTable.InternalEvents, deleting, cutoff, ct).ConfigureAwait(false);
        writes.Clear();
        var repairs = new Dictionary<BatchMember, string>();
        foreach (var member in deleting)
        {
            if (Heirs(eventsLeft.GetValueOrDefault(member.WorkspaceId), member.EventParts) || Heirs(internalLeft.GetValueOrDefault(member.WorkspaceId), member.InternalParts))
            {
                // Rows in parts that descend from listed ones: the repair that finds them by hash, bounded by this listing.
                var events = await RemoveArchivedRowsStillHotAsync(member.Record!, HotTable.Events, member.EventParts, Steps.ArchiveDeletesApplied, ct).ConfigureAwait(false);
                var derived = await RemoveArchivedRowsStillHotAsync(member.Record!, HotTable.InternalEvents, member.InternalParts, Steps.ArchiveDeletesApplied, ct).ConfigureAwait(false);
                repairs[member] = string.Create(CultureInfo.InvariantCulture, $"; a merge kept {events} rows and {derived} internal events out of the delete's reach, removed by hash");
            }
            else if (eventsLeft.GetValueOrDefault(member.WorkspaceId) is { Count: > 0 } later)
            {
                repairs[member] = string.Create(CultureInfo.InvariantCulture, $"; {later.Sum(p => p.Rows)} rows up to the cutoff that arrived in parts of their own stay hot");
            }

            var next = member.Record! with { State = ArchiveState.Archived, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(next, ArchiveState.Deleting, member.Lease!.Lease)));
            writes.Add((member, new SetStorageWrite(StorageState.Archiving, StorageState.Cold, member.Lease!.Lease)));
            member.Record = next;
        }

        await RecordStepAsync(batch, writes, Steps.ArchiveDeletesApplied, m => "no archived row or internal event is hot" + repairs.GetValueOrDefault(m), ct).ConfigureAwait(false);
        foreach (var member in batch.Open)
        {
            LogArchived(logger, member.WorkspaceId, member.Record!.ArchiveId, member.Record.RowCount ?? 0, member.Record.Bytes ?? 0);
            Done(member);
        }
    }
}
