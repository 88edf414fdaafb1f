using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// The restore pipeline for one archive, one step per method, in the order they run:
/// <list type="number">
/// <item><see cref="CheckArchiveAsync"/>: manifest, objects and content agree with the ledger;</item>
/// <item><see cref="MeasureBaselineAsync"/>: what is hot in the archive's range before anything is inserted; restoring;</item>
/// <item><see cref="RemoveLeftoversAsync"/>: rows an interrupted restore of this archive left, above that baseline;</item>
/// <item>the insert, then <see cref="CheckRestoredAsync"/>: exactly baseline plus archive is hot; restored;</item>
/// <item>the objects are deleted.</item>
/// </list>
/// </summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    private async Task<ArchiveRecord> RestoreArchiveAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        var resuming = record.State == ArchiveState.Restoring;
        run.Starting("waiting for earlier deletes");
        await WaitForDeletesAsync(record.WorkspaceId, "restore", ct).ConfigureAwait(false);

        ArchiveManifest manifest;
        Summary content;
        RestoreBaseline baseline;
        try
        {
            run.Starting($"checking archive {record.ArchiveId}");
            (manifest, content) = await CheckArchiveAsync(record, ct).ConfigureAwait(false);
            run.Completed(Steps.RestoreArchiveVerified, string.Create(CultureInfo.InvariantCulture, $"{manifest.RowCount} rows in {manifest.Objects.Count} objects"));
            if (resuming)
            {
                baseline = record.Baseline ?? throw Failed(record.WorkspaceId, Steps.RestoreStarted, Refusal(record,
                    "its restore was interrupted and the record of what was hot before it is gone, so leftovers cannot be told from older identical rows"));
            }
            else
            {
                // Nothing of this restore is hot yet: what is hot now was there before and must still be there after.
                baseline = await MeasureBaselineAsync(record, manifest, ct).ConfigureAwait(false);
                record = await _ledger.RestoringAsync(record, baseline, ct).ConfigureAwait(false);
            }
        }
        catch (WorkspaceOperationException e) when (!ct.IsCancellationRequested)
        {
            if (resuming && record.Baseline is { } recorded)
            {
                await RemoveLeftoversAsync(record, recorded, null, ct).ConfigureAwait(false);
            }

            await _ledger.BackToArchivedAsync(record, e.Message).ConfigureAwait(false);
            throw;
        }

        run.Completed(Steps.RestoreStarted, string.Create(CultureInfo.InvariantCulture, $"archive {record.ArchiveId}; {baseline.ArchivedRowsHot} identical rows were already hot"));

        // Only a restore that was interrupted can have left rows; a new one has just measured what is hot.
        var removed = resuming ? await RemoveLeftoversAsync(record, baseline, manifest, ct).ConfigureAwait(false) : 0;
        run.Completed(Steps.RestoreLeftoversRemoved, string.Create(CultureInfo.InvariantCulture, $"{removed} rows of an interrupted restore removed"));

        run.Starting($"inserting {manifest.RowCount} rows");
        await _clickHouse.ExecuteAsync(ArchiveSql.RestoreInsert(tables, record.WorkspaceId, record.Cutoff, ExactSource(record, manifest), options.StatementTimeout, record.Chunk), ct).ConfigureAwait(false);
        run.Completed(Steps.RestoreInserted);

        await CheckRestoredAsync(record, baseline, content, manifest, ct).ConfigureAwait(false);

        // Mark restored before deleting objects: a crash in between leaves only garbage, which the next run removes.
        record = await _ledger.RestoredAsync(record, ct).ConfigureAwait(false);
        run.Completed(Steps.RestoreVerified, string.Create(CultureInfo.InvariantCulture, $"{manifest.RowCount} rows, checksum {manifest.ChecksumValue}"));

        await store.DeletePrefixAsync(record.ObjectPrefix, ct).ConfigureAwait(false);
        run.Completed(Steps.RestoreObjectsDeleted, record.ObjectPrefix);
        return record;
    }

    /// <summary>
    /// The workspace's rows and internal events up to the archive's cutoff as they are before its restore, and how
    /// many of them are identical to archived ones (a replay that arrived after the archive).
    /// </summary>
    private async Task<RestoreBaseline> MeasureBaselineAsync(ArchiveRecord record, ArchiveManifest manifest, CancellationToken ct)
    {
        var hot = await HotSummaryAsync(record, ct).ConfigureAwait(false);
        var (internalRows, internalChecksum) = await InternalSummaryAsync(record, ct).ConfigureAwait(false);
        // Reading the archive again to compare is needed only when something is hot up to the cutoff at all.
        var archivedHot = hot.Rows == 0 ? 0 : await ArchivedRowsHotAsync(record, HotTable.Events, manifest, ct).ConfigureAwait(false);
        var archivedInternalHot = internalRows == 0 ? 0 : await ArchivedRowsHotAsync(record, HotTable.InternalEvents, manifest, ct).ConfigureAwait(false);
        return new RestoreBaseline(hot.Rows, hot.Checksum, internalRows, internalChecksum, archivedHot, archivedInternalHot);
    }

    /// <summary>
    /// Synchronously deletes what an interrupted restore of this archive left hot: the rows (and internal events)
    /// identical to the archive's above the baseline. Returns the events rows removed.
    /// </summary>
    private async Task<long> RemoveLeftoversAsync(ArchiveRecord record, RestoreBaseline baseline, ArchiveManifest? manifest, CancellationToken ct)
    {
        var removed = 0L;
        foreach (var (table, before) in new[] { (HotTable.Events, baseline.ArchivedRowsHot), (HotTable.InternalEvents, baseline.ArchivedInternalRowsHot) })
        {
            // Nothing hot beyond what was there before: no leftovers, and no need to read the archive to find them.
            var rows = table == HotTable.Events
                ? (await HotSummaryAsync(record, ct).ConfigureAwait(false)).Rows
                : (await InternalSummaryAsync(record, ct).ConfigureAwait(false)).Rows;
            var beforeRows = table == HotTable.Events ? baseline.Rows : baseline.InternalRows;
            if (rows <= beforeRows)
            {
                continue;
            }

            var extra = await ArchivedRowsHotAsync(record, table, manifest, ct).ConfigureAwait(false) - before;
            if (extra <= 0)
            {
                continue;
            }

            if (before > 0)
            {
                // A delete by hash removes every identical copy; with older copies present it would remove those too.
                throw Failed(record.WorkspaceId, Steps.RestoreLeftoversRemoved, string.Create(CultureInfo.InvariantCulture,
                    $"An interrupted restore of archive {record.ArchiveId} left {extra} rows in {TableName(table)} that are identical to {before} rows of workspace {record.WorkspaceId} that were hot before it, and identical rows cannot be deleted selectively. Nothing was removed; delete the surplus copies by hand (rows identical in all five stored columns, or internal events with the same message id and processing time), then rerun the restore."));
            }

            var taken = await RemoveArchivedRowsStillHotAsync(record, table, listed: null, Steps.RestoreLeftoversRemoved, ct).ConfigureAwait(false);
            removed += table == HotTable.Events ? taken : 0;
        }

        return removed;
    }

    /// <summary>
    /// Checks the insert: the workspace's rows and internal events up to the cutoff are exactly the baseline plus
    /// the archive. Otherwise the inserted rows are removed again, the archive kept, and the restore stops.
    /// </summary>
    private async Task CheckRestoredAsync(ArchiveRecord record, RestoreBaseline baseline, Summary content, ArchiveManifest manifest, CancellationToken ct)
    {
        var hot = await HotSummaryAsync(record, ct).ConfigureAwait(false);
        var (internalRows, internalChecksum) = await InternalSummaryAsync(record, ct).ConfigureAwait(false);
        var expectedRows = baseline.Rows + content.Rows;
        var expectedChecksum = unchecked(baseline.Checksum + content.Checksum);
        var expectedInternal = baseline.InternalRows + content.DerivedRows;
        var expectedInternalChecksum = unchecked(baseline.InternalChecksum + content.DerivedChecksum);
        if (hot.Rows == expectedRows && hot.Checksum == expectedChecksum && internalRows == expectedInternal && internalChecksum == expectedInternalChecksum)
        {
            return;
        }

        var message = string.Create(CultureInfo.InvariantCulture,
            $"Restoring archive {record.ArchiveId} of workspace {record.WorkspaceId} did not reproduce it (expected {expectedRows} rows, checksum {expectedChecksum}, {expectedInternal} internal events; found {hot.Rows}, {hot.Checksum}, {internalRows}). The inserted rows were removed and the archive kept; rerun the restore.");
        await RemoveLeftoversAsync(record, baseline, manifest, ct).ConfigureAwait(false);
        await _ledger.BackToArchivedAsync(record, message).ConfigureAwait(false);
        throw Failed(record.WorkspaceId, Steps.RestoreVerified, message);
    }

    /// <summary>How many hot rows are the archive's; read through its manifest's objects when the manifest is known.</summary>
    private async Task<long> ArchivedRowsHotAsync(ArchiveRecord record, HotTable table, ArchiveManifest? manifest, CancellationToken ct) =>
        (await _clickHouse.QueryAsync(BoundedDeleteSql.ArchivedRowsHot(tables, table, record.WorkspaceId, record.Cutoff, manifest is null ? ReadSource(record) : ExactSource(record, manifest), options.StatementTimeout, record.Chunk), ct).ConfigureAwait(false))
            .Single().GetInt64("rows");
}
