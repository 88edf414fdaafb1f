using System.Globalization;
using Coldstore.Diagnostics;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// Erasing users from a workspace's data, hot and cold. An erasure is recorded first (pending, ids hashed), then
/// applied under the workspace's lease, by the erase itself or, when another operation holds the lease, by that
/// operation before it finishes. Applying one, in order, each step recorded before the next:
/// <list type="number">
/// <item>the users' rows and internal events are deleted from the hot tables (asynchronous deletes, waited for);</item>
/// <item>per archive that holds any of their rows: each object holding some is written again without them under a new
/// key, and read back against its expected count and checksum (<see cref="ErasedArchiveStep.Writing"/> →
/// <see cref="ErasedArchiveStep.Written"/>, the new values recorded);</item>
/// <item>the new manifest is written, then the ledger row takes its values (<see cref="ErasedArchiveStep.Swapped"/>);</item>
/// <item>the replaced objects are deleted (<see cref="ErasedArchiveStep.Done"/>); the erasure is applied.</item>
/// </list>
/// The old objects stay whole until the new manifest names their replacements, and every read of a verified archive
/// names its manifest's objects exactly, so an archive is restorable at every instant: before the swap as it was,
/// after it without the users. A rerun resumes from the recorded step.
/// </summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    private const string EraseOperation = "erase";

    /// <summary>At most this many ids in one erasure: each is a hash in every statement that matches rows.</summary>
    public const int MaxErasedIds = 10_000;

    public async Task<ErasureResult> EraseAsync(Guid workspaceId, ErasureRequest? request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        var run = new OperationRun(workspaceId, progress, options.StepCompleted, options.Time);
        using var tagged = StatementTagger.Begin(StatementTagger.PrefixFor(tables, workspaceId));
        await RequireWorkspaceAsync(workspaceId, EraseOperation, cancellationToken).ConfigureAwait(false);
        ErasureRecord? erasure = null;
        if (request is not null)
        {
            erasure = NewErasure(workspaceId, request);
            await state.InsertErasureAsync(erasure, cancellationToken).ConfigureAwait(false);
            run.Completed(Steps.EraseRecorded, string.Create(CultureInfo.InvariantCulture,
                $"erasure {erasure.ErasureId}: {erasure.Identities.UserIdHashes.Count} user ids, {erasure.Identities.AnonymousIdHashes.Count} anonymous ids (hashed)"));
        }

        try
        {
            return await ColdstoreTelemetry.TraceAsync(EraseOperation, workspaceId, () => HoldingLeaseAsync(workspaceId, EraseOperation, options.LeaseWait, async session =>
            {
                var (applied, pendingBecause) = await ApplyPendingErasuresAsync(workspaceId, run, session.Token).ConfigureAwait(false);
                var current = erasure is null ? null : await ErasureAsync(erasure, session.Token).ConfigureAwait(false);
                return new ErasureResult(workspaceId, current, pendingBecause, [.. applied.Where(a => a.ErasureId != erasure?.ErasureId)], run.Steps, run.Elapsed);
            }, cancellationToken), r => (r.AlsoApplied.Concat(r.Erasure is { State: ErasureState.Applied } e ? [e] : []).Sum(a => a.Progress.ArchivedRowsErased), 0)).ConfigureAwait(false);
        }
        catch (WorkspaceOperationException e) when (e.Kind == WorkspaceErrorKind.Busy && erasure is not null)
        {
            // Recorded: whoever holds the lease now applies it before finishing (archive and restore look for pending
            // erasures at their end), or the next erase, archive or restore of the workspace does.
            var current = await ErasureAsync(erasure, cancellationToken).ConfigureAwait(false);
            return new ErasureResult(workspaceId, current, current?.State == ErasureState.Applied ? null : e.Message, [], run.Steps, run.Elapsed);
        }
    }

    private static ErasureRecord NewErasure(Guid workspaceId, ErasureRequest request)
    {
        string Invalid(string problem) => throw new WorkspaceOperationException(workspaceId, EraseOperation,
            $"The erase of workspace {workspaceId} was refused: {problem}. Nothing was recorded or changed.", WorkspaceErrorKind.InvalidInput);

        var users = request.UserIds ?? [];
        var anonymous = request.AnonymousIds ?? [];
        if (users.Count + anonymous.Count == 0)
        {
            Invalid("it names no user (give --user USER_ID or --anonymous-id ID, each as often as needed)");
        }

        if (users.Concat(anonymous).Any(string.IsNullOrEmpty))
        {
            Invalid("an id is empty (an empty id would match every event that has none)");
        }

        if (users.Count + anonymous.Count > MaxErasedIds)
        {
            Invalid(string.Create(CultureInfo.InvariantCulture, $"it names {users.Count + anonymous.Count} ids, more than {MaxErasedIds} in one erasure; split it"));
        }

        if (string.IsNullOrWhiteSpace(request.RequestedBy))
        {
            Invalid("it does not say who asks for it (--requested-by)");
        }

        var now = DateTime.UtcNow;
        return new ErasureRecord(Guid.NewGuid(), workspaceId, request.RequestedBy.Trim(), now, ErasureIdentities.Create(users, anonymous),
            ErasureState.Pending, ErasureProgress.None, now, null, null);
    }

    private async Task<ErasureRecord?> ErasureAsync(ErasureRecord erasure, CancellationToken ct) =>
        (await state.ListErasuresAsync(erasure.WorkspaceId, ct).ConfigureAwait(false)).FirstOrDefault(e => e.ErasureId == erasure.ErasureId);

    /// <summary>
    /// Applies the workspace's pending erasures, oldest first, holding its lease. Not while an archive of it is between
    /// two states (an archive's copy or a restore's insert may be under way): the operation that finishes that archive
    /// applies them. Returns the erasures applied, and why any are left pending.
    /// </summary>
    private async Task<(IReadOnlyList<ErasureRecord> Applied, string? PendingBecause)> ApplyPendingErasuresAsync(Guid workspaceId, OperationRun run, CancellationToken ct)
    {
        var pending = (await state.ListErasuresAsync(workspaceId, ct).ConfigureAwait(false)).Where(e => e.State == ErasureState.Pending).ToList();
        if (pending.Count == 0)
        {
            return ([], null);
        }

        if (await _ledger.OpenArchiveAsync(workspaceId, ct).ConfigureAwait(false) is { } open)
        {
            var verb = open.State == ArchiveState.Restoring ? "restore" : "archive";
            return ([], $"Workspace {workspaceId} has an unfinished {(verb == "restore" ? "restore of archive" : "archive")} {open.ArchiveId} ({open.State.ToText()}); {pending.Count} erasures stay recorded and are applied when it finishes: run `coldstore {verb} {workspaceId}` (or let the worker).");
        }

        var applied = new List<ErasureRecord>();
        foreach (var erasure in pending)
        {
            applied.Add(await ApplyErasureAsync(erasure, run, ct).ConfigureAwait(false));
        }

        return (applied, null);
    }

    private async Task<ErasureRecord> ApplyErasureAsync(ErasureRecord erasure, OperationRun run, CancellationToken ct)
    {
        try
        {
            if (!erasure.Progress.HotRowsDeleted)
            {
                erasure = await DeleteErasedHotRowsAsync(erasure, run, ct).ConfigureAwait(false);
            }

            ErasureSources? sources = null;
            foreach (var archive in await _ledger.ListAsync(erasure.WorkspaceId, ct).ConfigureAwait(false))
            {
                var done = erasure.Progress.Of(archive.ArchiveId);
                if (done is { Step: ErasedArchiveStep.Done } || (done is null && archive.State != ArchiveState.Archived))
                {
                    continue;
                }

                var current = archive;
                if (done is null or { Step: ErasedArchiveStep.Writing })
                {
                    sources ??= await ErasureSourcesAsync(erasure.WorkspaceId, ct).ConfigureAwait(false);
                    (erasure, done) = await RewriteArchiveAsync(erasure, current, done, sources, run, ct).ConfigureAwait(false);
                    if (done is null)
                    {
                        continue;
                    }
                }

                if (done.Step == ErasedArchiveStep.Written)
                {
                    (erasure, done) = await SwapArchiveAsync(erasure, current, done, run, ct).ConfigureAwait(false);
                }

                if (done.Step == ErasedArchiveStep.Swapped)
                {
                    erasure = await DeleteReplacedObjectsAsync(erasure, current, done, run, ct).ConfigureAwait(false);
                }
            }

            erasure = await _ledger.UpdateErasureAsync(erasure with { State = ErasureState.Applied, LastError = null }, ct).ConfigureAwait(false);
            run.Completed(Steps.EraseApplied, string.Create(CultureInfo.InvariantCulture,
                $"erasure {erasure.ErasureId}: {erasure.Progress.ArchivedRowsErased} archived rows erased from {erasure.Progress.Archives.Count} archives"));
            return erasure;
        }
        catch (ColdstoreException e) when (!ct.IsCancellationRequested && e is not LeaseLostException)
        {
            try
            {
                await _ledger.UpdateErasureAsync(erasure with { LastError = e.Message }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ColdstoreException)
            {
                // The failure being reported is rethrown; its record on the erasure is a courtesy.
            }

            throw;
        }
    }

    /// <summary>Deletes the users' rows and internal events from the hot tables, as Dittofeed deletes users, and waits until they applied.</summary>
    private async Task<ErasureRecord> DeleteErasedHotRowsAsync(ErasureRecord erasure, OperationRun run, CancellationToken ct)
    {
        run.Starting("deleting the users' hot rows and internal events");
        var deleted = new List<string>();
        foreach (var table in new[] { HotTable.Events, HotTable.InternalEvents })
        {
            // A delete is a mutation of every part of the workspace's table (about a second with 200,000 rows in the
            // bench), and a paused workspace's users usually have no hot row left: only a table that holds some is
            // mutated. A row of theirs arriving after this count is an event after the erasure, and stays.
            var rows = Convert.ToInt64(await _clickHouse.ScalarAsync(EraseSql.CountHotRows(tables, table, erasure.WorkspaceId, erasure.Identities), ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            if (rows > 0)
            {
                await _clickHouse.ExecuteAsync(EraseSql.DeleteHotRows(tables, table, erasure.WorkspaceId, erasure.Identities), ct).ConfigureAwait(false);
                deleted.Add(string.Create(CultureInfo.InvariantCulture, $"{rows} {(table == HotTable.Events ? "rows" : "internal events")}"));
            }
        }

        if (deleted.Count > 0)
        {
            await WaitForDeletesAsync(erasure.WorkspaceId, Steps.EraseHotDeleted, ct).ConfigureAwait(false);
        }

        erasure = await _ledger.UpdateErasureAsync(erasure with { Progress = erasure.Progress with { HotRowsDeleted = true } }, ct).ConfigureAwait(false);
        run.Completed(Steps.EraseHotDeleted, deleted.Count == 0 ? "none of the users' rows was hot" : $"{string.Join(" and ", deleted)} deleted from the hot tables");
        return erasure;
    }

    /// <summary>How an archive's rows name their user: the events table's own expressions for <c>user_id</c> and <c>anonymous_id</c>.</summary>
    private sealed record ErasureSources(string Match);

    private async Task<ErasureSources> ErasureSourcesAsync(Guid workspaceId, CancellationToken ct)
    {
        var columns = (await _clickHouse.QueryAsync(ArchiveQuerySql.EventColumns(tables), ct).ConfigureAwait(false))
            .ToDictionary(r => r.GetString("name"), r => r.GetString("default_expression"), StringComparer.Ordinal);
        string Expression(string column) =>
            columns.TryGetValue(column, out var expression) && expression.Length > 0
                ? expression
                : throw Failed(workspaceId, EraseOperation, $"The events table {tables.QualifiedEvents} computes no {column} from message_raw (no default expression), so its archived rows cannot be matched to a user. Nothing was changed; erase needs Dittofeed's schema, where {column} is derived from message_raw.");
        return new ErasureSources(EraseSql.Match(Expression("user_id"), Expression("anonymous_id")));
    }

    /// <summary>
    /// Writes the archive's objects that hold the users' rows again without them, and checks each replacement against
    /// its expected count and checksum. Returns the erasure with the archive's new values recorded, or the archive's
    /// record null when it holds none of the users' rows.
    /// </summary>
    private async Task<(ErasureRecord Erasure, ErasedArchive? Archive)> RewriteArchiveAsync(
        ErasureRecord erasure, ArchiveRecord archive, ErasedArchive? interrupted, ErasureSources sources, OperationRun run, CancellationToken ct)
    {
        const string Step = Steps.EraseObjectsWritten;
        if (interrupted is not null)
        {
            // A rewrite that stopped half-way: what it wrote is not trusted; the archive's own objects are untouched.
            await DeleteKeysAsync(archive, interrupted.NewObjects.Select(o => o.Key), ct).ConfigureAwait(false);
        }

        run.Starting($"finding the users' rows in archive {archive.ArchiveId}");
        var manifest = await CheckManifestAsync(archive, ct, Step).ConfigureAwait(false);
        var objects = (await _clickHouse.QueryAsync(EraseSql.MatchesPerObject(ExactSource(archive, manifest), archive.WorkspaceId, sources.Match, erasure.Identities, options.StatementTimeout), ct).ConfigureAwait(false))
            .Select(r => new ObjectMatch(r.GetString("key"), r.GetInt64("rows"), r.GetUInt64("checksum"), r.GetInt64("foreign_rows"),
                r.GetInt64("matched_rows"), r.IsNull("matched_checksum") ? 0 : r.GetUInt64("matched_checksum"), r.GetInt64("matched_derived_rows")))
            .ToList();
        var rows = objects.Sum(o => o.Rows);
        var checksum = objects.Aggregate(0UL, (sum, o) => unchecked(sum + o.Checksum));
        if (objects.Sum(o => o.ForeignRows) > 0 || rows != manifest.RowCount || checksum != manifest.ChecksumValue)
        {
            throw Failed(archive.WorkspaceId, Step, string.Create(CultureInfo.InvariantCulture,
                $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} does not hold what its manifest says ({rows} rows, checksum {checksum}, {objects.Sum(o => o.ForeignRows)} rows of other workspaces; manifest: {manifest.RowCount} rows, checksum {manifest.ChecksumValue}), so it cannot be erased from. Nothing was changed; restore its objects from a backup or versioning, then rerun the erase."));
        }

        var touched = objects.Where(o => o.MatchedRows > 0).ToList();
        if (touched.Count == 0)
        {
            return (erasure, null);
        }

        var matched = touched.Sum(o => o.MatchedRows);
        var rewritten = touched.Where(o => o.Rows > o.MatchedRows).ToList();
        var planned = new ErasedArchive(archive.ArchiveId, ErasedArchiveStep.Writing, matched, [.. touched.Select(o => o.Key)],
            [.. rewritten.Select(o => new ManifestObject(EraseSql.ReplacementKey(o.Key, erasure.ErasureId), 0))],
            manifest.RowCount - matched,
            unchecked(manifest.ChecksumValue - touched.Aggregate(0UL, (sum, o) => unchecked(sum + o.MatchedChecksum))).ToString(CultureInfo.InvariantCulture),
            manifest.InternalEventRows - touched.Sum(o => o.MatchedDerivedRows));
        // Recorded before anything is written, so a crash leaves the keys it may have written known.
        erasure = await _ledger.UpdateErasureAsync(erasure with { Progress = erasure.Progress.With(planned) }, ct).ConfigureAwait(false);

        run.Starting(string.Create(CultureInfo.InvariantCulture, $"rewriting {rewritten.Count} objects of archive {archive.ArchiveId} without {matched} rows"));
        foreach (var (source, index) in rewritten.Select((o, i) => (o, i)))
        {
            var from = store.TableFunction(archive.ObjectPrefix + source.Key, DataFormat, "archive", SchemaSql.StoredColumnsStructure);
            var to = store.TableFunction(archive.ObjectPrefix + planned.NewObjects[index].Key, DataFormat, "target");
            await _clickHouse.ExecuteAsync(EraseSql.RewriteObject(from, to, archive.WorkspaceId, sources.Match, erasure.Identities, options.StatementTimeout), ct).ConfigureAwait(false);
        }

        var written = await CheckReplacementsAsync(archive, rewritten, planned, ct).ConfigureAwait(false);
        erasure = await _ledger.UpdateErasureAsync(erasure with { Progress = erasure.Progress.With(written) }, ct).ConfigureAwait(false);
        run.Completed(Step, string.Create(CultureInfo.InvariantCulture,
            $"archive {archive.ArchiveId}: {matched} rows erased; {rewritten.Count} objects rewritten, {touched.Count - rewritten.Count} dropped; {written.Rows} rows left"));
        return (erasure, written);
    }

    /// <summary>Reads the replacements back: each must hold its source's rows less the erased ones, exactly. Returns the record with their sizes, written.</summary>
    private async Task<ErasedArchive> CheckReplacementsAsync(ArchiveRecord archive, IReadOnlyList<ObjectMatch> rewritten, ErasedArchive planned, CancellationToken ct)
    {
        if (rewritten.Count == 0)
        {
            return planned with { Step = ErasedArchiveStep.Written };
        }

        var keys = planned.NewObjects.Select(o => o.Key).ToList();
        var source = store.TableFunction(EraseSql.ExactKeys(archive.ObjectPrefix, keys), DataFormat, "archive", SchemaSql.StoredColumnsStructure);
        var read = (await _clickHouse.QueryAsync(EraseSql.ObjectSummaries(source, options.StatementTimeout), ct).ConfigureAwait(false))
            .ToDictionary(r => r.GetString("key"), r => (Rows: r.GetInt64("rows"), Checksum: r.GetUInt64("checksum")), StringComparer.Ordinal);
        for (var i = 0; i < rewritten.Count; i++)
        {
            var expected = (Rows: rewritten[i].Rows - rewritten[i].MatchedRows, Checksum: unchecked(rewritten[i].Checksum - rewritten[i].MatchedChecksum));
            if (!read.TryGetValue(keys[i], out var actual) || actual != expected)
            {
                throw Failed(archive.WorkspaceId, Steps.EraseObjectsWritten, string.Create(CultureInfo.InvariantCulture,
                    $"The rewrite of {archive.ObjectPrefix}{rewritten[i].Key} without the erased users does not read back as expected ({expected.Rows} rows, checksum {expected.Checksum}; read {(read.TryGetValue(keys[i], out var r) ? $"{r.Rows} rows, checksum {r.Checksum}" : "nothing")}). The archive is unchanged; rerun the erase."));
            }
        }

        var sizes = (await store.ListAsync(archive.ObjectPrefix, ct).ConfigureAwait(false)).ToDictionary(o => o.Key[archive.ObjectPrefix.Length..], o => o.Size, StringComparer.Ordinal);
        return planned with
        {
            Step = ErasedArchiveStep.Written,
            NewObjects = [.. keys.Select(k => new ManifestObject(k, sizes.TryGetValue(k, out var size) ? size : throw Failed(archive.WorkspaceId, Steps.EraseObjectsWritten,
                $"The rewritten object {archive.ObjectPrefix}{k} is not listed by the archive store after it was read back. The archive is unchanged; rerun the erase.")))],
        };
    }

    /// <summary>
    /// Writes the archive's new manifest, then gives its ledger row the same values (or, when every row was erased,
    /// marks it purged): from here a restore reads the replacements. Each write is skipped when a rerun finds it made.
    /// </summary>
    private async Task<(ErasureRecord Erasure, ErasedArchive Archive)> SwapArchiveAsync(ErasureRecord erasure, ArchiveRecord archive, ErasedArchive written, OperationRun run, CancellationToken ct)
    {
        if (written.Rows == 0)
        {
            archive = await _ledger.AllErasedAsync(archive, erasure.ErasureId, ct).ConfigureAwait(false);
        }
        else
        {
            var (current, problem) = await ReadManifestAsync(archive, ct).ConfigureAwait(false);
            var manifest = current ?? throw Failed(archive.WorkspaceId, Steps.EraseSwapped, $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId}: {problem}, after its replacement objects were written. Nothing was deleted; restore the manifest from versioning, then rerun the erase.");
            var replaced = written.ReplacedKeys.ToHashSet(StringComparer.Ordinal);
            var swapped = manifest with
            {
                Objects = [.. manifest.Objects.Where(o => !replaced.Contains(o.Key)).Concat(written.NewObjects).DistinctBy(o => o.Key).OrderBy(o => o.Key, StringComparer.Ordinal)],
                RowCount = written.Rows,
                Checksum = written.Checksum,
                InternalEventRows = written.InternalEventRows,
                Erasures = manifest.Erasures?.Contains(erasure.ErasureId) == true ? manifest.Erasures : [.. manifest.Erasures ?? [], erasure.ErasureId],
            };
            if (manifest.RowCount != swapped.RowCount || manifest.ChecksumValue != written.ChecksumValue || !manifest.Objects.SequenceEqual(swapped.Objects))
            {
                await store.WriteAsync(archive.ObjectPrefix + ArchiveManifest.FileName, swapped.ToJson(), ct).ConfigureAwait(false);
                run.Completed(Steps.EraseManifestWritten, $"archive {archive.ArchiveId}: manifest names {swapped.Objects.Count} objects");
            }

            if (archive.RowCount != written.Rows || archive.Checksum != written.ChecksumValue)
            {
                archive = await _ledger.ErasedFromAsync(archive, written, swapped.Bytes, ct).ConfigureAwait(false);
            }
        }

        var swappedRecord = written with { Step = ErasedArchiveStep.Swapped };
        erasure = await _ledger.UpdateErasureAsync(erasure with { Progress = erasure.Progress.With(swappedRecord) }, ct).ConfigureAwait(false);
        run.Completed(Steps.EraseSwapped, string.Create(CultureInfo.InvariantCulture, $"archive {archive.ArchiveId}: {written.Rows} rows, checksum {written.Checksum}"));
        return (erasure, swappedRecord);
    }

    /// <summary>Deletes the objects the erasure replaced (every object of an archive whose rows were all erased).</summary>
    private async Task<ErasureRecord> DeleteReplacedObjectsAsync(ErasureRecord erasure, ArchiveRecord archive, ErasedArchive swapped, OperationRun run, CancellationToken ct)
    {
        if (swapped.Rows == 0)
        {
            await store.DeletePrefixAsync(archive.ObjectPrefix, ct).ConfigureAwait(false);
        }
        else
        {
            await DeleteKeysAsync(archive, swapped.ReplacedKeys, ct).ConfigureAwait(false);
        }

        erasure = await _ledger.UpdateErasureAsync(erasure with { Progress = erasure.Progress.With(swapped with { Step = ErasedArchiveStep.Done }) }, ct).ConfigureAwait(false);
        run.Completed(Steps.EraseOldObjectsDeleted, string.Create(CultureInfo.InvariantCulture, $"archive {archive.ArchiveId}: {swapped.ReplacedKeys.Count} objects deleted"));
        return erasure;
    }

    private async Task DeleteKeysAsync(ArchiveRecord archive, IEnumerable<string> keys, CancellationToken ct)
    {
        foreach (var key in keys)
        {
            // A key is a prefix of no other data key (month=202401.parquet vs month=202401.e-….parquet), so this deletes it alone.
            await store.DeletePrefixAsync(archive.ObjectPrefix + key, ct).ConfigureAwait(false);
        }
    }

    /// <summary>What the workspace's pending erasures record of each archive: what a check outside the lease must allow for.</summary>
    private async Task<IReadOnlyDictionary<Guid, IReadOnlyList<ErasedArchive>>> PendingErasuresByArchiveAsync(Guid workspaceId, CancellationToken ct) =>
        (await state.ListErasuresAsync(workspaceId, ct).ConfigureAwait(false))
            .Where(e => e.State == ErasureState.Pending)
            .SelectMany(e => e.Progress.Archives)
            .GroupBy(a => a.ArchiveId)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<ErasedArchive>)[.. g]);

    /// <summary>One archive object's rows and the erased users' share of them.</summary>
    private sealed record ObjectMatch(string Key, long Rows, ulong Checksum, long ForeignRows, long MatchedRows, ulong MatchedChecksum, long MatchedDerivedRows);
}
