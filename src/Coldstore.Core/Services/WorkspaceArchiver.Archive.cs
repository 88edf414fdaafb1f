using System.Globalization;
using Coldstore.Domain;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// The archive pipeline, one step per method, in the order they run:
/// <list type="number">
/// <item><see cref="CopyAsync"/>: one Parquet object per month, straight from ClickHouse to the store;</item>
/// <item><see cref="ReadBackAsync"/>: count and checksum of what the objects hold, read back by ClickHouse;</item>
/// <item><see cref="VerifyCopyAsync"/>: the same as the hot rows, or copy again; the manifest is written; verified;</item>
/// <item><see cref="ListDeleteBoundAsync"/>: the parts holding exactly the archive's rows; deleting;</item>
/// <item><see cref="SubmitDeletesAsync"/> and <see cref="ConfirmDeletesAsync"/>: bounded deletes, applied and checked; archived.</item>
/// </list>
/// </summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    private async Task<ArchiveRecord> AdvanceArchiveAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        if (record.State == ArchiveState.Copying)
        {
            record = await CopyAndVerifyAsync(record, run, ct).ConfigureAwait(false);
        }

        DeleteBound? bound = null;
        for (var recopies = 0; record.State == ArchiveState.Verified; recopies++)
        {
            // A delete cannot tell identical rows apart, and a row up to the cutoff that became hot after the copy (a
            // late commit, or a writer that sets processing_time itself) is not in the archive: the parts are listed
            // again now, and only when they hold exactly the verified rows is anything deleted. Otherwise copy again.
            bound = await ListDeleteBoundAsync(record, ct).ConfigureAwait(false);
            if (bound is null)
            {
                if (recopies + 1 >= options.CopyAttempts)
                {
                    throw Failed(record.WorkspaceId, Steps.ArchiveDeleteBounded, string.Create(CultureInfo.InvariantCulture,
                        $"Workspace {record.WorkspaceId} keeps receiving rows up to the cutoff of archive {record.ArchiveId} after each copy ({record.RowCount} archived); nothing was deleted. Stop the writer that replays events with old processing_time values, then rerun the archive."));
                }

                LogRowsArrivedAfterCopy(logger, record.WorkspaceId, record.ArchiveId);
                Diagnostics.ColdstoreTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("coldstore.reason", "rows_arrived_after_copy"));
                record = await _ledger.CopyAgainAsync(record, ct).ConfigureAwait(false);
                record = await CopyAndVerifyAsync(record, run, ct).ConfigureAwait(false);
                continue;
            }

            record = await _ledger.DeletingAsync(record, ct).ConfigureAwait(false);
            run.Completed(Steps.ArchiveDeleteBounded, string.Create(CultureInfo.InvariantCulture,
                $"{bound.Events.Count} parts of events, {bound.InternalEvents.Count} of internal events"));
        }

        if (record.State == ArchiveState.Deleting)
        {
            record = await FinishDeletesAsync(record, bound, run, ct).ConfigureAwait(false);
        }

        return record;
    }

    /// <summary>
    /// Submits the bounded deletes (when this run listed the bound) and waits until no archived row is hot. A run
    /// resuming an archive that was deleting has no bound: its deletes may have applied in part, so it goes straight
    /// to removing the archived rows still hot, which finds them by their hash against the archive.
    /// </summary>
    private async Task<ArchiveRecord> FinishDeletesAsync(ArchiveRecord record, DeleteBound? bound, OperationRun run, CancellationToken ct)
    {
        if (bound is not null)
        {
            await SubmitDeletesAsync(record, bound, run, ct).ConfigureAwait(false);
        }

        run.Starting("waiting for the deletes to apply");
        await ConfirmDeletesAsync(record, bound, ct).ConfigureAwait(false);
        record = await _ledger.ArchivedAsync(record, ct).ConfigureAwait(false);
        run.Completed(Steps.ArchiveDeletesApplied, "no archived row or internal event is hot");
        return record;
    }

    private async Task<ArchiveRecord> CopyAndVerifyAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await CopyAsync(record, run, ct).ConfigureAwait(false);
            var archived = await ReadBackAsync(record, run, ct).ConfigureAwait(false);
            var verified = await VerifyCopyAsync(record, archived, attempt, run, ct).ConfigureAwait(false);
            if (verified is not null)
            {
                return verified;
            }
        }
    }

    /// <summary>Copies the rows up to the cutoff into the archive's objects, replacing whatever an earlier attempt left.</summary>
    private async Task CopyAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        // Whatever an interrupted attempt left is discarded: nothing was deleted on its strength.
        await store.DeletePrefixAsync(record.ObjectPrefix, ct).ConfigureAwait(false);
        run.Starting($"copying rows to {record.ObjectPrefix}");
        var target = store.TableFunction(record.ObjectPrefix + DataObjectPattern, DataFormat, "archive");
        await _clickHouse.ExecuteAsync(ArchiveSql.CopyToArchive(tables, record.WorkspaceId, record.Cutoff, target, options.StatementTimeout, record.Chunk), ct).ConfigureAwait(false);
        run.Completed(Steps.ArchiveCopied, record.ObjectPrefix);
    }

    /// <summary>Reads the objects back through ClickHouse: count and checksum of what they hold.</summary>
    private async Task<Summary> ReadBackAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        run.Starting("reading the archive back");
        var row = (await _clickHouse.QueryAsync(ArchiveSql.ArchiveSummary(ReadSource(record), record.WorkspaceId, options.StatementTimeout), ct).ConfigureAwait(false)).Single();
        var archived = ArchiveContent(row);
        run.Completed(Steps.ArchiveReadBack, string.Create(CultureInfo.InvariantCulture, $"{archived.Rows} rows read back"));
        return archived;
    }

    /// <summary>
    /// Compares the read-back with the hot rows; when they match, writes the manifest and records the archive as
    /// verified. Returns null when they differ and another attempt is allowed.
    /// </summary>
    private async Task<ArchiveRecord?> VerifyCopyAsync(ArchiveRecord record, Summary archived, int attempt, OperationRun run, CancellationToken ct)
    {
        var hot = await HotSummaryAsync(record, ct).ConfigureAwait(false);
        if (hot.Rows != archived.Rows || hot.Checksum != archived.Checksum)
        {
            if (attempt >= options.CopyAttempts)
            {
                throw Failed(record.WorkspaceId, Steps.ArchiveVerified, string.Create(CultureInfo.InvariantCulture,
                    $"The archive copy of workspace {record.WorkspaceId} does not match its hot rows after {attempt} attempts (hot: {hot.Rows} rows, checksum {hot.Checksum}; archive: {archived.Rows} rows, checksum {archived.Checksum}). Nothing was deleted; rerun the archive, and if it keeps failing check that nothing rewrites old events."));
            }

            // Rows at or before the cutoff committed after the copy (an insert slower than the settle window): copy again.
            LogCopyMismatch(logger, record.WorkspaceId, attempt, hot.Rows, archived.Rows);
            Diagnostics.ColdstoreTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("coldstore.reason", "copy_mismatch"));
            return null;
        }

        var manifest = await WriteManifestAsync(record, hot, ct).ConfigureAwait(false);
        record = await _ledger.VerifiedAsync(record, hot.Rows, hot.Checksum, manifest.Bytes, hot.DerivedRows, ct).ConfigureAwait(false);
        run.Completed(Steps.ArchiveVerified, string.Create(CultureInfo.InvariantCulture,
            $"{hot.Rows} rows, checksum {hot.Checksum}, {manifest.Bytes} bytes in {manifest.Objects.Count} objects"));
        return record;
    }

    /// <summary>Lists the archive's objects and writes its manifest beside them: what a restore checks the objects against.</summary>
    private async Task<ArchiveManifest> WriteManifestAsync(ArchiveRecord record, Summary hot, CancellationToken ct)
    {
        var objects = (await store.ListAsync(record.ObjectPrefix, ct).ConfigureAwait(false))
            .Where(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal))
            .Select(o => new ManifestObject(o.Key[record.ObjectPrefix.Length..], o.Size))
            .ToArray();
        var manifest = new ArchiveManifest
        {
            FormatVersion = ArchiveManifest.FormatVersionFor(record.Chunk),
            WorkspaceId = record.WorkspaceId,
            ArchiveId = record.ArchiveId,
            Cutoff = record.Cutoff,
            SourceTable = $"{tables.Database}.{tables.Events}",
            Columns = SchemaSql.StoredColumns,
            Format = DataFormat,
            Objects = objects,
            RowCount = hot.Rows,
            Checksum = hot.Checksum.ToString(CultureInfo.InvariantCulture),
            ChecksumExpression = $"sum({ArchiveSql.RowHash})",
            InternalEventRows = hot.DerivedRows,
            CreatedAt = DateTime.UtcNow,
            Chunk = record.Chunk,
        };
        await store.WriteAsync(record.ObjectPrefix + ArchiveManifest.FileName, manifest.ToJson(), ct).ConfigureAwait(false);
        return manifest;
    }
}
