using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>The restore batch's steps (see <see cref="WorkspaceArchiver"/>'s batch runner in WorkspaceArchiver.Batch.cs).</summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    /// <summary>
    /// The restore batch's steps. A workspace is restored in the batch when it has exactly one archive and nothing hot
    /// up to that archive's cutoff (so its baseline is empty and no archive needs reading to tell replays apart); every
    /// other one goes on alone. Each step leaves every workspace in a ledger state a single restore resumes from.
    /// </summary>
    private async Task RestoreBatchStepsAsync(BatchRun batch, CancellationToken ct)
    {
        // Objects that restored or abandoned archives may have left after a crash (as a single restore removes them).
        await ForEachAsync(batch.Open, async m =>
        {
            await CleanUpFinishedArchivesAsync(m.Archives, ct).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);

        var none = new List<BatchMember>();
        foreach (var member in batch.Open)
        {
            var pending = member.Archives.Where(a => a.State == ArchiveState.Archived).ToList();
            if (pending.Count == 0 && member.Workspace!.Storage is StorageState.Hot or StorageState.Cold)
            {
                none.Add(member);
            }
            else if (pending.Count != 1 || member.Workspace!.Storage != StorageState.Cold || pending[0].RowCount > options.BatchRows || pending[0].Chunk is not null)
            {
                batch.HandBack(member);
            }
            else
            {
                member.Record = pending[0];
            }
        }

        await ApplyAsync(batch, [.. none.Where(m => m.Workspace!.Storage != StorageState.Hot)
            .Select(m => (m, (FencedWrite)new SetStorageWrite(m.Workspace!.Storage, StorageState.Hot, m.Lease!.Lease)))], ct).ConfigureAwait(false);
        foreach (var member in none.Where(m => !m.Settled))
        {
            batch.Done(member, StorageState.Hot, Steps.RestoreDone, "no archive to restore", []);
        }

        var taken = 0L;
        foreach (var member in batch.Open)
        {
            taken += member.Record!.RowCount ?? 0;
            if (taken > options.BatchRows)
            {
                batch.HandBack(member);
            }
        }

        if (batch.Open.Count == 0)
        {
            return;
        }

        // Check every archive before trusting it: manifests and listings per workspace, content in one read.
        var checking = batch.Open;
        var manifests = await ForEachAsync(checking, async m =>
        {
            try
            {
                return await CheckManifestAsync(m.Record!, ct).ConfigureAwait(false);
            }
            catch (WorkspaceOperationException)
            {
                return null;
            }
        }, ct).ConfigureAwait(false);
        foreach (var member in checking.Where(m => manifests[m] is null))
        {
            // Refused: alone, the same check fails again and records why, leaving the archive as it is.
            batch.HandBack(member);
        }

        var readBack = batch.Open.Count == 0 ? [] : await ReadBackBatchAsync(batch.Open, ct).ConfigureAwait(false);
        foreach (var member in batch.Open)
        {
            var (content, foreign) = readBack.GetValueOrDefault(member.WorkspaceId);
            try
            {
                member.Hot = CheckContent(member.Record!, manifests[member]!, content, foreign);
                member.Manifest = manifests[member];
            }
            catch (WorkspaceOperationException)
            {
                batch.HandBack(member);
            }
        }

        Completed(batch.Open, Steps.RestoreArchiveVerified, m => string.Create(CultureInfo.InvariantCulture, $"{m.Manifest!.RowCount} rows in {m.Manifest.Objects.Count} objects"));
        if (batch.Open.Count == 0)
        {
            return;
        }

        // The baseline: with nothing hot up to the cutoff, the restore's check is simply "exactly the archive".
        var before = await RowsUpToCutoffsAsync(batch.Open, ct).ConfigureAwait(false);
        var writes = new List<(BatchMember, FencedWrite)>();
        var empty = new RestoreBaseline(0, 0, 0, 0, 0, 0);
        foreach (var member in batch.Open)
        {
            if (before.TryGetValue(member.WorkspaceId, out var hot) && (hot.Rows > 0 || hot.InternalRows > 0))
            {
                // Rows up to the cutoff are hot (a replay, or a late insert): telling them from archived ones takes a
                // read of the archive, which the single path does.
                batch.HandBack(member);
                continue;
            }

            writes.Add((member, new SetStorageWrite(StorageState.Cold, StorageState.Restoring, member.Lease!.Lease)));
            var next = member.Record! with { State = ArchiveState.Restoring, Baseline = empty, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(next, ArchiveState.Archived, member.Lease!.Lease)));
            member.Record = next;
        }

        var restoring = writes.Count / 2;
        if (!await RecordStepAsync(batch, writes, Steps.RestoreStarted, m => string.Create(CultureInfo.InvariantCulture,
            $"archive {m.Record!.ArchiveId} (batch of {restoring}); 0 identical rows were already hot"), ct).ConfigureAwait(false))
        {
            return;
        }

        Completed(batch.Open, Steps.RestoreLeftoversRemoved, _ => "0 rows of an interrupted restore removed");

        // One insert for all of them, each workspace's rows from its own objects up to its own cutoff.
        var inserting = batch.Open;
        await _clickHouse.ExecuteAsync(BatchSql.RestoreInsert(tables,
            [.. inserting.Select((m, i) => (m.WorkspaceId, m.Record!.Cutoff, ReadSource(m.Record, $"archive{i}")))],
            options.BatchStatementTimeout), ct).ConfigureAwait(false);
        Completed(inserting, Steps.RestoreInserted, _ => null);

        // Exactly the archive is hot now, for each; one that differs goes on alone, which removes what it inserted first.
        var after = await RowsUpToCutoffsAsync(inserting, ct).ConfigureAwait(false);
        writes.Clear();
        foreach (var member in inserting)
        {
            var hot = after.GetValueOrDefault(member.WorkspaceId);
            if (hot.Rows != member.Hot.Rows || hot.Checksum != member.Hot.Checksum || hot.InternalRows != member.Hot.DerivedRows || hot.InternalChecksum != member.Hot.DerivedChecksum)
            {
                batch.HandBack(member);
                continue;
            }

            var next = member.Record! with { State = ArchiveState.Restored, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(next, ArchiveState.Restoring, member.Lease!.Lease)));
            member.Record = next;
        }

        // Restored before the objects go: a crash in between leaves only garbage, which the next run removes.
        await RecordStepAsync(batch, writes, Steps.RestoreVerified, m => string.Create(CultureInfo.InvariantCulture, $"{m.Manifest!.RowCount} rows, checksum {m.Manifest.ChecksumValue}"), ct).ConfigureAwait(false);
        await ForEachAsync(batch.Open, m => store.DeletePrefixAsync(m.Record!.ObjectPrefix, ct), ct).ConfigureAwait(false);
        Completed(batch.Open, Steps.RestoreObjectsDeleted, m => m.Record!.ObjectPrefix);
        await ApplyAsync(batch, [.. batch.Open.Select(m => (m, (FencedWrite)new SetStorageWrite(StorageState.Restoring, StorageState.Hot, m.Lease!.Lease)))], ct).ConfigureAwait(false);
        foreach (var member in batch.Open)
        {
            LogRestored(logger, member.WorkspaceId, 1, member.Record!.RowCount ?? 0);
            batch.Done(member, StorageState.Hot, Steps.RestoreDone, null, [Outcome(member.Record)]);
        }
    }
}
