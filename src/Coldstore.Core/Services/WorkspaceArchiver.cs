using System.Globalization;
using Coldstore.Diagnostics;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;
using Microsoft.Extensions.Logging;

namespace Coldstore.Services;

/// <summary>
/// Archive and restore of one workspace's events. Every step is recorded in the ledger before the next begins,
/// so running the same operation again after a crash at any instant resumes where it stopped:
/// <list type="bullet">
/// <item>archive: copying → verified → deleting → archived (storage: archiving → cold);</item>
/// <item>restore: archived → restoring → restored (storage: restoring → hot).</item>
/// </list>
/// Deletes are bounded by the hashes of the rows read back from the archive, so no row that is not in an archive
/// is ever deleted, and a restore first removes any rows an interrupted restore left, so no row is ever doubled.
/// </summary>
#pragma warning disable CA1001 // The tagger it holds wraps the engine client without owning it; its dispose does nothing.
internal sealed partial class WorkspaceArchiver(
    IClickHouseClient engine,
    IStateStore state,
    IArchiveStore store,
    EventTables tables,
    ColdstoreOptions options,
    ILogger logger)
#pragma warning restore CA1001
{
    /// <summary>Every statement of an operation goes through here, tagged with a query id of its workspace.</summary>
    private readonly StatementTagger _clickHouse = new(engine);

    /// <summary>Every ledger and storage write goes through here.</summary>
    private readonly ArchiveLedger _ledger = new(state);

    /// <summary>Looks at <c>system.mutations</c> until the deletes applied (see <see cref="DeletePoll"/>).</summary>
    private readonly Poll<(long Pending, string Reason)> _deletesApplied = new(options.Time, DeletePoll);

    /// <summary>Looks at a batch's deletes until none is left, on the same schedule as one workspace's.</summary>
    private readonly Poll<int> _batchDeletesApplied = new(options.Time, DeletePoll);

    /// <summary>Looks for inserts in flight at the cutoff: 20 ms doubling to half a second, within <see cref="ColdstoreOptions.InFlightInsertWait"/>.</summary>
    private readonly Poll<long> _insertsSettled = new(options.Time, attempt => Backoff.Geometric(TimeSpan.FromMilliseconds(20), 2, TimeSpan.FromMilliseconds(500), attempt));

    /// <summary>KILL QUERY, then a look 100 ms later, until an earlier run's statements are gone.</summary>
    private readonly Poll<(IReadOnlyList<ClickHouseRow> Running, bool Expired)> _orphansStopped = new(options.Time, _ => TimeSpan.FromMilliseconds(100));

    private const string DataFormat = "Parquet";
    private const string DataObjectPattern = "month={_partition_id}.parquet";
    private const string DataObjectGlob = "*.parquet";

    /// <summary>The prefix of one archive's objects: per workspace, then per archive, so no glob can reach another's.</summary>
    public static string ArchivePrefix(Guid workspaceId, Guid archiveId) =>
        $"workspace_id={EventSql.WorkspaceIdText(workspaceId)}/archive={ArchiveSql.ArchiveIdText(archiveId)}/";

    public async Task<OperationResult> ArchiveAsync(Guid workspaceId, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        var run = new OperationRun(workspaceId, progress, options.StepCompleted, options.Time);
        using var tagged = StatementTagger.Begin(StatementTagger.PrefixFor(tables, workspaceId));
        return await ColdstoreTelemetry.TraceAsync("archive", workspaceId,
            () => HoldingLeaseAsync(workspaceId, "archive", options.LeaseWait, session => ArchiveHoldingLeaseAsync(workspaceId, run, session.Token), cancellationToken),
            Moved).ConfigureAwait(false);
    }

    public async Task<OperationResult> RestoreAsync(Guid workspaceId, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        var run = new OperationRun(workspaceId, progress, options.StepCompleted, options.Time);
        using var tagged = StatementTagger.Begin(StatementTagger.PrefixFor(tables, workspaceId));
        return await ColdstoreTelemetry.TraceAsync("restore", workspaceId,
            () => HoldingLeaseAsync(workspaceId, "restore", options.LeaseWait, session => RestoreHoldingLeaseAsync(workspaceId, run, session.Token), cancellationToken),
            Moved).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves the events to where the workspace's status says they belong, deciding only once the lease is held: a
    /// status read before taking the lease may be stale (flipped back meanwhile), and acting on it would archive an
    /// active workspace or restore a paused one.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="leaseWait">How long to wait for another holder of the lease.</param>
    /// <param name="sweepStragglers">
    /// When the workspace is already cold as its status wants, archive the hot events that arrived after its last
    /// archive's cutoff (a new archive); otherwise such a workspace is left alone.
    /// </param>
    /// <param name="progress">Receives each step.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public async Task<ReconcileResult> ReconcileAsync(
        Guid workspaceId, TimeSpan leaseWait, bool sweepStragglers, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        const string Operation = "reconcile";
        var run = new OperationRun(workspaceId, progress, options.StepCompleted, options.Time);
        using var tagged = StatementTagger.Begin(StatementTagger.PrefixFor(tables, workspaceId));
        return await ColdstoreTelemetry.TraceAsync(Operation, workspaceId,
            () => HoldingLeaseAsync(workspaceId, Operation, leaseWait, session => ReconcileHoldingLeaseAsync(workspaceId, sweepStragglers, run, session), cancellationToken),
            r => r.Operation is { } moved ? Moved(moved) : (0, 0)).ConfigureAwait(false);
    }

    private async Task<ReconcileResult> ReconcileHoldingLeaseAsync(Guid workspaceId, bool sweepStragglers, OperationRun run, OperationSession session)
    {
        var workspace = await RequireWorkspaceAsync(workspaceId, "reconcile", session.Token).ConfigureAwait(false);
        var desired = WorkspaceLifecycle.DesiredStorage(workspace.Status);
        if (workspace.Storage == desired)
        {
            if (!(sweepStragglers && desired == StorageState.Cold))
            {
                return new ReconcileResult(workspace, desired, null);
            }

            // Archiving a cold workspace takes exactly the rows that are hot now; with none, it changes nothing.
            var sweep = await ArchiveHoldingLeaseAsync(workspaceId, run, session.Token).ConfigureAwait(false);
            return new ReconcileResult(workspace, desired, sweep.Rows == 0 ? null : sweep);
        }

        var result = desired == StorageState.Cold
            ? await ArchiveHoldingLeaseAsync(workspaceId, run, session.Token).ConfigureAwait(false)
            : await RestoreHoldingLeaseAsync(workspaceId, run, session.Token).ConfigureAwait(false);
        return new ReconcileResult(workspace, desired, result);
    }

    private async Task<OperationResult> ArchiveHoldingLeaseAsync(Guid workspaceId, OperationRun run, CancellationToken ct)
    {
        const string Operation = "archive";
        var open = await _ledger.OpenArchiveAsync(workspaceId, ct).ConfigureAwait(false);
        if (open is { State: ArchiveState.Restoring })
        {
            // A restore died half-way: finish it first, so the new archive starts from an exact hot table.
            run.Starting("finishing an interrupted restore");
            await RestoreArchiveAsync(open, run, ct).ConfigureAwait(false);
            open = null;
        }

        var archived = new List<ArchiveRecord>();
        if (open is not null)
        {
            await _ledger.SetStorageAsync(workspaceId, StorageState.Archiving, ct).ConfigureAwait(false);
            run.Starting($"resuming archive {open.ArchiveId} from {open.State.ToText()}{(open.Chunk is { } chunk ? $" (chunk {chunk})" : "")}");
            archived.Add(await AdvanceRecordingErrorAsync(open, run, ct).ConfigureAwait(false));
        }

        // An interrupted archive of every row is done once it is finished; one of a chunk was part of a larger run, whose
        // other chunks were never started: the rows still hot are planned again, under a new cutoff.
        if (open is null || open.Chunk is not null)
        {
            archived.AddRange(await ArchiveHotRowsAsync(workspaceId, run, ct).ConfigureAwait(false));
        }

        // An erasure recorded while this archive ran is applied before it finishes: its users' rows leave the new archive too.
        await ApplyPendingErasuresAsync(workspaceId, run, ct).ConfigureAwait(false);
        var final = await _ledger.SetStorageAsync(workspaceId, StorageState.Cold, ct).ConfigureAwait(false);
        if (archived.Count == 0)
        {
            // Nothing to archive: no ledger row, no objects. The storage still follows the request, so a paused
            // workspace without events reads as cold and a later restore is a no-op too.
            run.Completed(Steps.ArchiveDone, "no hot rows up to the cutoff; nothing to archive");
            return Result(workspaceId, Operation, final, [], run);
        }

        run.Completed(Steps.ArchiveDone);
        var outcomes = archived.Select(Outcome).ToList();
        foreach (var outcome in outcomes)
        {
            LogArchived(logger, workspaceId, outcome.ArchiveId, outcome.Rows, outcome.Bytes);
        }

        return Result(workspaceId, Operation, final, outcomes, run);
    }

    /// <summary>
    /// Archives the workspace's rows that are hot up to a new cutoff: in one archive when they are at most
    /// <see cref="ColdstoreOptions.ChunkRows"/>, else in chunks (<see cref="ArchiveChunk.Plan"/>), each archived to its
    /// end (deletes applied) before the next begins, so a crash leaves at most one chunk open and memory stays bounded.
    /// Returns the archives made, none when nothing was hot.
    /// </summary>
    private async Task<IReadOnlyList<ArchiveRecord>> ArchiveHotRowsAsync(Guid workspaceId, OperationRun run, CancellationToken ct)
    {
        run.Starting("waiting for earlier deletes");
        await WaitForDeletesAsync(workspaceId, "archive", ct).ConfigureAwait(false);
        var cutoff = await ServerNowAsync(ct).ConfigureAwait(false);
        await SettleAsync(cutoff, run, ct).ConfigureAwait(false);
        var hot = await HotSummaryAsync(workspaceId, cutoff, null, ct).ConfigureAwait(false);
        if (hot.Rows == 0)
        {
            return [];
        }

        IReadOnlyList<ArchiveChunk?> chunks = hot.Rows <= options.ChunkRows ? [null] : await PlanChunksAsync(workspaceId, cutoff, ct).ConfigureAwait(false);
        if (chunks.Count > 1)
        {
            run.Starting(string.Create(CultureInfo.InvariantCulture, $"archiving {hot.Rows} rows in {chunks.Count} chunks of about {options.ChunkRows}"));
        }

        await _ledger.SetStorageAsync(workspaceId, StorageState.Archiving, ct).ConfigureAwait(false);
        var archived = new List<ArchiveRecord>();
        var done = 0L;
        foreach (var (chunk, index) in chunks.Select((c, i) => (c, i)))
        {
            // A hash bucket can be empty (or a late plan's months stale): an archive of no rows would have no objects.
            if (chunk is not null && await ChunkRowsAsync(workspaceId, cutoff, chunk, ct).ConfigureAwait(false) == 0)
            {
                continue;
            }

            var archiveId = Guid.NewGuid();
            var record = await _ledger.StartAsync(workspaceId, archiveId, cutoff, ArchivePrefix(workspaceId, archiveId), chunk, ct).ConfigureAwait(false);
            run.Completed(Steps.ArchiveStarted, chunk is null
                ? string.Create(CultureInfo.InvariantCulture, $"archive {archiveId}, cutoff {cutoff:O}, {hot.Rows} hot rows")
                : string.Create(CultureInfo.InvariantCulture, $"archive {archiveId}, cutoff {cutoff:O}, chunk {index + 1} of {chunks.Count} ({chunk})"));
            record = await AdvanceRecordingErrorAsync(record, run, ct).ConfigureAwait(false);
            archived.Add(record);
            done += record.RowCount ?? 0;
            if (chunk is not null)
            {
                run.Completed(Steps.ArchiveChunkArchived, string.Create(CultureInfo.InvariantCulture,
                    $"chunk {index + 1} of {chunks.Count}: {record.RowCount} rows; {done} of {hot.Rows} rows archived"));
            }
        }

        return archived;
    }

    /// <summary>The chunks of a large workspace's rows up to the cutoff, from one count per month.</summary>
    private async Task<IReadOnlyList<ArchiveChunk?>> PlanChunksAsync(Guid workspaceId, DateTime cutoff, CancellationToken ct)
    {
        var months = (await _clickHouse.QueryAsync(ArchiveSql.RowsPerMonth(tables, workspaceId, cutoff), ct).ConfigureAwait(false))
            .Select(r => ((int)r.GetInt64("month"), r.GetInt64("rows")))
            .ToList();
        return [.. ArchiveChunk.Plan(months, options.ChunkRows)];
    }

    private async Task<long> ChunkRowsAsync(Guid workspaceId, DateTime cutoff, ArchiveChunk chunk, CancellationToken ct) =>
        Convert.ToInt64(await _clickHouse.ScalarAsync(ArchiveSql.CountRows(tables, workspaceId, cutoff, chunk), ct).ConfigureAwait(false), CultureInfo.InvariantCulture);

    /// <summary>Takes an archive through its remaining steps, keeping the reason on its ledger row when it stops.</summary>
    private async Task<ArchiveRecord> AdvanceRecordingErrorAsync(ArchiveRecord record, OperationRun run, CancellationToken ct)
    {
        try
        {
            return await AdvanceArchiveAsync(record, run, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ColdstoreException && !ct.IsCancellationRequested)
        {
            await _ledger.RecordErrorAsync(record, e.Message).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<OperationResult> RestoreHoldingLeaseAsync(Guid workspaceId, OperationRun run, CancellationToken ct)
    {
        const string Operation = "restore";
        var open = await _ledger.OpenArchiveAsync(workspaceId, ct).ConfigureAwait(false);
        if (open is { State: ArchiveState.Copying or ArchiveState.Verified })
        {
            // An archive that never deleted anything is rolled back: its rows are all still hot.
            await store.DeletePrefixAsync(open.ObjectPrefix, ct).ConfigureAwait(false);
            await _ledger.AbandonedAsync(open, ct).ConfigureAwait(false);
            run.Completed("archive:rolled-back", $"archive {open.ArchiveId} had not deleted anything; its objects were removed");
        }
        else if (open is { State: ArchiveState.Deleting })
        {
            // Deletes may have been submitted already: the only safe direction is forward, then restore it.
            await FinishDeletesAsync(open, null, run, ct).ConfigureAwait(false);
        }

        // Pending erasures first, so their users' rows are never inserted; an interrupted restore of an archive defers them to its end.
        await ApplyPendingErasuresAsync(workspaceId, run, ct).ConfigureAwait(false);
        await CleanUpFinishedArchivesAsync(await _ledger.ListAsync(workspaceId, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        var pending = (await _ledger.ListAsync(workspaceId, ct).ConfigureAwait(false))
            .Where(a => a.State is ArchiveState.Archived or ArchiveState.Restoring)
            .ToList();
        if (pending.Count == 0)
        {
            await ApplyPendingErasuresAsync(workspaceId, run, ct).ConfigureAwait(false);
            var storage = await _ledger.SetStorageAsync(workspaceId, StorageState.Hot, ct).ConfigureAwait(false);
            run.Completed(Steps.RestoreDone, "no archive to restore");
            return Result(workspaceId, Operation, storage, [], run);
        }

        await _ledger.SetStorageAsync(workspaceId, StorageState.Restoring, ct).ConfigureAwait(false);
        var outcomes = new List<ArchiveOutcome>();
        var total = pending.Sum(a => a.RowCount ?? 0);
        foreach (var archive in pending)
        {
            if (pending.Count > 1)
            {
                run.Starting(string.Create(CultureInfo.InvariantCulture,
                    $"restoring archive {outcomes.Count + 1} of {pending.Count}{(archive.Chunk is { } chunk ? $" (chunk {chunk})" : "")}: {outcomes.Sum(o => o.Rows)} of {total} rows restored"));
            }

            try
            {
                outcomes.Add(Outcome(await RestoreArchiveAsync(archive, run, ct).ConfigureAwait(false)));
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested)
            {
                // The archive stays archived and the workspace cold for what was not restored; the ledger keeps
                // the reason, so an operator (or the worker's next attempt) sees why.
                await _ledger.RecordErrorAsync(archive, e.Message).ConfigureAwait(false);
                if (e is WorkspaceOperationException)
                {
                    await _ledger.SetStorageAsync(workspaceId, StorageState.Cold, CancellationToken.None).ConfigureAwait(false);
                }

                throw;
            }
        }

        // An erasure recorded while this restore ran: its users' rows, restored meanwhile, leave the hot tables before it ends.
        await ApplyPendingErasuresAsync(workspaceId, run, ct).ConfigureAwait(false);
        var final = await _ledger.SetStorageAsync(workspaceId, StorageState.Hot, ct).ConfigureAwait(false);
        run.Completed(Steps.RestoreDone);
        var rows = outcomes.Sum(o => o.Rows);
        LogRestored(logger, workspaceId, outcomes.Count, rows);
        return Result(workspaceId, Operation, final, outcomes, run);
    }

    /// <summary>
    /// Runs <paramref name="body"/> holding the workspace's lease, with every ledger write fenced by it. When the lease
    /// is lost on the way (renewal found another holder, or the store's clock passed its expiry), the operation's token
    /// is cancelled; that surfaces as <see cref="LeaseLostException"/>, not as a cancellation nobody asked for.
    /// </summary>
    private async Task<T> HoldingLeaseAsync<T>(Guid workspaceId, string operation, TimeSpan leaseWait, Func<OperationSession, Task<T>> body, CancellationToken cancellationToken)
    {
        await using var session = await BeginAsync(workspaceId, operation, leaseWait, cancellationToken).ConfigureAwait(false);
        using var fenced = FencedLedger.Begin(session.Lease);
        try
        {
            return await body(session).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (session.LeaseLost && !cancellationToken.IsCancellationRequested)
        {
            throw LeaseLost(workspaceId, operation, e);
        }
    }

    /// <summary>How an operation whose lease was lost on the way (renewal failed or found another holder) stops.</summary>
    private LeaseLostException LeaseLost(Guid workspaceId, string operation, Exception? cause = null) =>
        new(workspaceId, operation, string.Create(CultureInfo.InvariantCulture,
            $"Workspace {workspaceId}: this {operation} lost its lease (it could not renew it within {options.LeaseDuration.TotalSeconds:0} s: a stall, or the state store failing over), so it stopped before its next write and wrote nothing more. Rerun it; it resumes where the ledger says."), cause);

    /// <summary>
    /// What every operation starts with: the workspace must exist, its lease is taken (and stops the operation if
    /// lost), and no statement of an earlier holder is still running.
    /// </summary>
    private async Task<OperationSession> BeginAsync(Guid workspaceId, string operation, TimeSpan leaseWait, CancellationToken cancellationToken)
    {
        await RequireWorkspaceAsync(workspaceId, operation, cancellationToken).ConfigureAwait(false);
        var lease = await LeaseScope.AcquireAsync(state, workspaceId, operation, options with { LeaseWait = leaseWait }, logger, cancellationToken).ConfigureAwait(false);
        var session = new OperationSession(lease, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost));
        try
        {
            await StopOrphanedStatementsAsync(workspaceId, operation, session.Token).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Kills the workspace's statements that are still running on the server without a live holder: an earlier run
    /// that crashed, timed out or lost its lease leaves its INSERT … SELECT or mutation running, and repeating a step
    /// beside it would double rows (a restore's insert) or overwrite objects after they were verified (a copy). They
    /// are found by the workspace's query-id prefix, killed, and waited for; only then does any step run again.
    /// </summary>
    private async Task StopOrphanedStatementsAsync(Guid workspaceId, string step, CancellationToken ct)
    {
        // Sent untagged (straight to the engine): a statement carrying the prefix would find and kill itself.
        var prefix = StatementTagger.PrefixFor(tables, workspaceId);
        var running = await engine.QueryAsync(ArchiveSql.RunningStatements(tables, prefix), ct).ConfigureAwait(false);
        if (running.Count == 0)
        {
            return;
        }

        LogKillingOrphans(logger, workspaceId, running.Count, string.Join(", ", running.Select(r => r.GetString("query_id"))));
        var deadline = Backoff.Deadline(options.Time.GetUtcNow(), options.OrphanStatementWait);
        var looks = 0;
        // Each look but the first asks the server again; while statements remain and the wait is not over, it kills them
        // (again) and the pipeline waits 100 ms before the next look. Past the deadline the last look is reported, unkilled.
        var last = await _orphansStopped.UntilAsync(
            async c =>
            {
                var rows = looks++ == 0 ? running : await engine.QueryAsync(ArchiveSql.RunningStatements(tables, prefix), c).ConfigureAwait(false);
                if (rows.Count == 0)
                {
                    return (rows, false);
                }

                if (looks > 1 && options.Time.GetUtcNow() >= deadline)
                {
                    return (rows, true);
                }

                await engine.ExecuteAsync(ArchiveSql.KillStatements(tables, prefix), c).ConfigureAwait(false);
                return (rows, false);
            },
            static look => look.Running.Count > 0 && !look.Expired, null, null, ct).ConfigureAwait(false);
        if (last.Running.Count > 0)
        {
            running = last.Running;
            throw Failed(workspaceId, step, string.Create(CultureInfo.InvariantCulture,
                $"{running.Count} statements of an earlier run on workspace {workspaceId} are still running on ClickHouse {options.OrphanStatementWait.TotalSeconds:0} s after KILL QUERY ({string.Join(", ", running.Select(r => r.GetString("query_id")))}). Nothing was changed; check system.processes and rerun once they are gone."));
        }
    }

    /// <summary>The lease of a running operation and the token that stops it when cancelled or when the lease is lost.</summary>
    private sealed class OperationSession(LeaseScope lease, CancellationTokenSource linked) : IAsyncDisposable
    {
        public CancellationToken Token => linked.Token;

        /// <summary>The lease that fences every ledger and storage write of the operation.</summary>
        public WorkspaceLease Lease => lease.Lease;

        /// <summary>True once the lease was lost (renewal failed or found another holder).</summary>
        public bool LeaseLost => lease.Lost.IsCancellationRequested;

        public async ValueTask DisposeAsync()
        {
            linked.Dispose();
            await lease.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<ArchiveCheck>> VerifyAsync(Guid workspaceId, CancellationToken cancellationToken)
    {
        await RequireWorkspaceAsync(workspaceId, "verify", cancellationToken).ConfigureAwait(false);
        var checks = new List<ArchiveCheck>();
        var erasing = await PendingErasuresByArchiveAsync(workspaceId, cancellationToken).ConfigureAwait(false);
        foreach (var archive in await _ledger.ListAsync(workspaceId, cancellationToken).ConfigureAwait(false))
        {
            if (archive.State is not (ArchiveState.Archived or ArchiveState.Restoring))
            {
                continue;
            }

            try
            {
                var (manifest, _) = await CheckArchiveAsync(archive, cancellationToken, erasing.GetValueOrDefault(archive.ArchiveId)).ConfigureAwait(false);
                checks.Add(new ArchiveCheck(archive.ArchiveId, archive.State, manifest.RowCount, manifest.Bytes, true, null));
            }
            catch (WorkspaceOperationException e)
            {
                checks.Add(new ArchiveCheck(archive.ArchiveId, archive.State, archive.RowCount ?? 0, archive.Bytes ?? 0, false, e.Message));
            }
        }

        return checks;
    }

    /// <summary>
    /// Checks an archive before trusting it: the manifest exists and agrees with the ledger, the objects listed
    /// are exactly the manifest's (same keys, same sizes), and their content reads back to the same count and checksum.
    /// </summary>
    private async Task<(ArchiveManifest Manifest, Summary Content)> CheckArchiveAsync(ArchiveRecord record, CancellationToken ct, IReadOnlyList<ErasedArchive>? erasing = null)
    {
        var manifest = await CheckManifestAsync(record, ct, erasing: erasing).ConfigureAwait(false);
        Summary archived;
        long foreign;
        try
        {
            var source = ExactSource(record, manifest);
            var row = (await _clickHouse.QueryAsync(ArchiveSql.ArchiveSummary(source, record.WorkspaceId, options.StatementTimeout), ct).ConfigureAwait(false)).Single();
            archived = ArchiveContent(row);
            foreign = row.GetInt64("foreign_rows");
        }
        catch (ClickHouseException e) when (!e.IsTransient)
        {
            throw Failed(record.WorkspaceId, Steps.RestoreArchiveVerified, Refusal(record, $"its objects cannot be read ({e.EngineMessage})"));
        }

        return (manifest, CheckContent(record, manifest, archived, foreign));
    }

    /// <summary>
    /// The content read back from an archive's objects must be the manifest's: no row of another workspace (checked
    /// first: a forged object could be made to match the count and checksum), then count, checksum and internal events.
    /// </summary>
    private static Summary CheckContent(ArchiveRecord record, ArchiveManifest manifest, Summary archived, long foreign)
    {
        const string Step = Steps.RestoreArchiveVerified;
        if (foreign > 0)
        {
            throw Failed(record.WorkspaceId, Step, Refusal(record, string.Create(CultureInfo.InvariantCulture,
                $"its objects hold {foreign} rows of other workspaces")));
        }

        if (archived.Rows != manifest.RowCount || archived.Checksum != manifest.ChecksumValue || archived.DerivedRows != manifest.InternalEventRows)
        {
            throw Failed(record.WorkspaceId, Step, Refusal(record, string.Create(CultureInfo.InvariantCulture,
                $"its content does not match the manifest (manifest: {manifest.RowCount} rows, checksum {manifest.ChecksumValue}, {manifest.InternalEventRows} internal events; objects: {archived.Rows} rows, checksum {archived.Checksum}, {archived.DerivedRows} internal events)")));
        }

        return archived;
    }

    /// <summary>The manifest exists and agrees with the ledger, and the objects listed are exactly the manifest's (same keys, same sizes).</summary>
    /// <param name="record">The archive.</param>
    /// <param name="ct">Cancels.</param>
    /// <param name="step">The step a refusal names.</param>
    /// <param name="erasing">
    /// What pending erasures record of this archive, for a check made outside the lease (<c>coldstore verify</c>): an
    /// erasure stopped half-way may have left its objects beside the manifest's (which no read names), or written the new
    /// manifest before the ledger took its values. Null for a check that must find the archive settled.
    /// </param>
    private async Task<ArchiveManifest> CheckManifestAsync(ArchiveRecord record, CancellationToken ct, string step = Steps.RestoreArchiveVerified, IReadOnlyList<ErasedArchive>? erasing = null)
    {
        var (read, problem) = await ReadManifestAsync(record, ct).ConfigureAwait(false);
        var manifest = read ?? throw Failed(record.WorkspaceId, step, Refusal(record, problem!));

        var counts = (manifest.RowCount, manifest.ChecksumValue, manifest.InternalEventRows);
        var ledgerCounts = (record.RowCount ?? -1, record.Checksum ?? 0, record.InternalEventRows ?? -1);
        var erasedCounts = (erasing ?? []).Where(e => e.Step >= ErasedArchiveStep.Written).Select(e => (e.Rows, e.ChecksumValue, e.InternalEventRows));
        if (manifest.WorkspaceId != record.WorkspaceId || manifest.ArchiveId != record.ArchiveId || manifest.Cutoff != record.Cutoff || manifest.Chunk != record.Chunk
            || (counts != ledgerCounts && !erasedCounts.Contains(counts)))
        {
            throw Failed(record.WorkspaceId, step, Refusal(record, "its manifest does not match the ledger (workspace, archive id, cutoff, chunk, row count, checksum or internal events differ)"));
        }

        var listed = (await store.ListAsync(record.ObjectPrefix, ct).ConfigureAwait(false))
            .Where(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal))
            .Select(o => new ManifestObject(o.Key[record.ObjectPrefix.Length..], o.Size))
            .ToHashSet();
        var expected = manifest.Objects.ToHashSet();
        var leftovers = (erasing ?? []).SelectMany(e => e.NewObjects.Select(o => o.Key).Concat(e.ReplacedKeys)).ToHashSet(StringComparer.Ordinal);
        listed.RemoveWhere(o => leftovers.Contains(o.Key) && !manifest.Objects.Any(m => m.Key == o.Key));
        if (!listed.SetEquals(expected))
        {
            var missing = expected.Except(listed).Select(o => o.Key).ToList();
            var extra = listed.Except(expected).Select(o => o.Key).ToList();
            throw Failed(record.WorkspaceId, step, Refusal(record,
                $"its objects differ from the manifest (missing or resized: {Names(missing)}; unexpected or resized: {Names(extra)})"));
        }

        return manifest;

        static string Names(List<string> keys) => keys.Count == 0 ? "none" : string.Join(", ", keys);
    }

    /// <summary>The archive's manifest, or why there is none to trust: missing, or unreadable.</summary>
    private async Task<(ArchiveManifest? Manifest, string? Problem)> ReadManifestAsync(ArchiveRecord record, CancellationToken ct)
    {
        var bytes = await store.ReadAsync(record.ObjectPrefix + ArchiveManifest.FileName, ct).ConfigureAwait(false);
        if (bytes is null)
        {
            return (null, "its manifest is missing");
        }

        try
        {
            return (ArchiveManifest.Parse(bytes), null);
        }
        catch (FormatException e)
        {
            return (null, $"its manifest is unreadable: {e.Message}");
        }
    }

    /// <summary>
    /// The archive's data objects as ClickHouse reads them, with the stored columns named and typed, so no read
    /// depends on the server's schema inference.
    /// </summary>
    /// <param name="record">The archive.</param>
    /// <param name="parameterPrefix">Names its parameters; a statement reading several archives gives each its own.</param>
    private TableFunctionExpression ReadSource(ArchiveRecord record, string parameterPrefix = "archive") =>
        store.TableFunction(record.ObjectPrefix + DataObjectGlob, DataFormat, parameterPrefix, SchemaSql.StoredColumnsStructure);

    /// <summary>
    /// A verified archive's data objects as ClickHouse reads them: exactly the objects its manifest names, so an object
    /// an unfinished erasure wrote beside them, or has still to delete, is never read with them.
    /// </summary>
    private TableFunctionExpression ExactSource(ArchiveRecord record, ArchiveManifest manifest, string parameterPrefix = "archive") =>
        store.TableFunction(EraseSql.ExactKeys(record.ObjectPrefix, [.. manifest.Objects.Select(o => o.Key)]), DataFormat, parameterPrefix, SchemaSql.StoredColumnsStructure);

    private static string Refusal(ArchiveRecord record, string problem) =>
        $"Archive {record.ArchiveId} of workspace {record.WorkspaceId} at {record.ObjectPrefix} cannot be restored: {problem}. Nothing was inserted and the workspace stays cold; restore the archive's objects from a backup or versioning, then rerun.";

    /// <summary>Removes objects that restored or abandoned archives may have left after a crash.</summary>
    private async Task CleanUpFinishedArchivesAsync(IEnumerable<ArchiveRecord> archives, CancellationToken ct)
    {
        foreach (var archive in archives)
        {
            if (archive.State is ArchiveState.Restored or ArchiveState.Abandoned or ArchiveState.Purged)
            {
                await store.DeletePrefixAsync(archive.ObjectPrefix, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The next wait between two looks at <c>system.mutations</c>: an archive returns once its deletes applied, so every
    /// millisecond a poll oversleeps is added to it (doubling to a second overslept 0.4–0.8 s of a 1 s delete); short
    /// polls of one small system table cost less than that.
    /// </summary>
    internal static TimeSpan DeletePoll(int attempt) => Backoff.Geometric(TimeSpan.FromMilliseconds(20), 1.5, TimeSpan.FromMilliseconds(250), attempt);

    private async Task WaitForDeletesAsync(Guid workspaceId, string step, CancellationToken ct)
    {
        var (pending, reason) = await _deletesApplied.UntilAsync(
            async c =>
            {
                var row = (await _clickHouse.QueryAsync(ArchiveSql.PendingDeletes(tables, workspaceId), c).ConfigureAwait(false)).Single();
                return (row.GetInt64("pending"), row.IsNull("fail_reason") ? string.Empty : row.GetString("fail_reason"));
            },
            // A failed mutation never finishes: stop looking at once and say why.
            static look => look.Pending > 0 && look.Reason.Length == 0, options.DeleteWaitTimeout, null, ct).ConfigureAwait(false);
        if (pending > 0)
        {
            throw Failed(workspaceId, step, string.Create(CultureInfo.InvariantCulture,
                $"{pending} background deletes of workspace {workspaceId} have not finished{(reason.Length > 0 ? $" (ClickHouse reports: {reason})" : $" within {options.DeleteWaitTimeout}")}. Nothing was changed; check system.mutations and rerun."));
        }
    }

    /// <summary>
    /// Lets the writes that may still add rows up to the cutoff commit before the copy: the fixed window, if one is
    /// configured, then the inserts the server shows as started by the cutoff (and asynchronous inserts queued by
    /// then), for at most <see cref="ColdstoreOptions.InFlightInsertWait"/>. Nothing is lost when a write is slower:
    /// its rows are not in the parts the delete is bounded by, so they stay hot for the next archive.
    /// </summary>
    private async Task SettleAsync(DateTime cutoff, OperationRun run, CancellationToken ct)
    {
        if (options.SettleWindow > TimeSpan.Zero)
        {
            run.Starting("waiting the settle window");
            await Task.Delay(options.SettleWindow, options.Time, ct).ConfigureAwait(false);
        }

        var query = ArchiveSql.InsertsInFlight(tables, cutoff, StatementTagger.TablePrefixFor(tables));
        var inFlight = await _insertsSettled.UntilAsync(
            async c =>
            {
                var row = (await _clickHouse.QueryAsync(query, c).ConfigureAwait(false)).Single();
                return row.GetInt64("inserts") + row.GetInt64("queued");
            },
            static inFlight => inFlight > 0,
            options.InFlightInsertWait,
            (inFlight, wait) =>
            {
                if (wait == 0)
                {
                    run.Starting(string.Create(CultureInfo.InvariantCulture, $"waiting for {inFlight} inserts that started by the cutoff"));
                }
            },
            ct).ConfigureAwait(false);
        if (inFlight > 0)
        {
            LogInsertsStillInFlight(logger, inFlight, options.InFlightInsertWait.TotalSeconds);
        }
    }

    private Task<Workspace> RequireWorkspaceAsync(Guid workspaceId, string step, CancellationToken ct) =>
        state.RequireWorkspaceAsync(workspaceId, step, ct);

    private async Task<DateTime> ServerNowAsync(CancellationToken ct)
    {
        var milliseconds = Convert.ToInt64(await _clickHouse.ScalarAsync(ArchiveSql.ServerNow(), ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        return DateTime.UnixEpoch.AddMilliseconds(milliseconds);
    }

    /// <summary>Count and checksum of the hot rows up to the cutoff (within a chunk, when one is given) and of what they derive.</summary>
    private async Task<Summary> HotSummaryAsync(Guid workspaceId, DateTime cutoff, ArchiveChunk? chunk, CancellationToken ct)
    {
        var row = (await _clickHouse.QueryAsync(ArchiveSql.HotSummary(tables, workspaceId, cutoff, chunk), ct).ConfigureAwait(false)).Single();
        return HotContent(row);
    }

    /// <summary>The archive's range of hot rows: count and checksum, and of what they derive.</summary>
    private Task<Summary> HotSummaryAsync(ArchiveRecord record, CancellationToken ct) => HotSummaryAsync(record.WorkspaceId, record.Cutoff, record.Chunk, ct);

    /// <summary>A hot summary's row (<see cref="ArchiveSql.HotSummary"/>, <see cref="BatchSql.HotSummaries"/>).</summary>
    private static Summary HotContent(ClickHouseRow row) =>
        new(row.GetInt64("rows"), row.GetUInt64("checksum"), row.GetInt64("derived_rows"), row.GetUInt64("derived_checksum"));

    private async Task<(long Rows, ulong Checksum)> InternalSummaryAsync(ArchiveRecord record, CancellationToken ct)
    {
        var row = (await _clickHouse.QueryAsync(ArchiveSql.InternalSummary(tables, record.WorkspaceId, record.Cutoff, record.Chunk), ct).ConfigureAwait(false)).Single();
        return (row.GetInt64("rows"), row.GetUInt64("checksum"));
    }

    /// <summary>What <see cref="ArchiveSql.ArchiveSummary"/> read from an archive's objects (sums over no rows are 0).</summary>
    private static Summary ArchiveContent(ClickHouseRow row) => new(
        row.GetInt64("rows"), row.IsNull("checksum") ? 0 : row.GetUInt64("checksum"),
        row.GetInt64("derived_rows"), row.IsNull("derived_checksum") ? 0 : row.GetUInt64("derived_checksum"));

    /// <summary>An operation's result: rows, bytes and the (wrapping) sum of checksums of the archives it moved, and its steps.</summary>
    private static OperationResult Result(Guid workspaceId, string operation, StorageState storage, IReadOnlyList<ArchiveOutcome> archives, OperationRun run) =>
        new(workspaceId, operation, storage, archives.Sum(a => a.Rows), archives.Sum(a => a.Bytes),
            archives.Aggregate(0UL, (sum, a) => unchecked(sum + a.Checksum)), archives, run.Steps, run.Elapsed);

    /// <summary>What an operation moved, for <see cref="ColdstoreTelemetry"/>.</summary>
    private static (long Rows, long Bytes) Moved(OperationResult result) => (result.Rows, result.Bytes);

    private static ArchiveOutcome Outcome(ArchiveRecord record) => new(
        record.ArchiveId, record.State, record.Cutoff, record.RowCount ?? 0, record.Bytes ?? 0, record.Checksum ?? 0, record.InternalEventRows ?? 0, record.ObjectPrefix);

    private static WorkspaceOperationException Failed(Guid workspaceId, string step, string message) =>
        new(workspaceId, step, message, WorkspaceErrorKind.Failed);

    /// <summary>Count and checksum of events rows, and of the internal events they derive.</summary>
    private readonly record struct Summary(long Rows, ulong Checksum, long DerivedRows, ulong DerivedChecksum);

    [LoggerMessage(EventId = 1212, Level = LogLevel.Information, Message = "{Count} inserts that started by the cutoff are still running after {Seconds} s; copying without them (their rows stay hot for the next archive)")]
    private static partial void LogInsertsStillInFlight(ILogger logger, long count, double seconds);

    [LoggerMessage(EventId = 1210, Level = LogLevel.Warning, Message = "Workspace {WorkspaceId}: {Count} statements of an earlier run are still running on ClickHouse ({QueryIds}); killing them before going on")]
    private static partial void LogKillingOrphans(ILogger logger, Guid workspaceId, int count, string queryIds);

    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Archived workspace {WorkspaceId} as {ArchiveId}: {Rows} rows, {Bytes} bytes")]
    private static partial void LogArchived(ILogger logger, Guid workspaceId, Guid archiveId, long rows, long bytes);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Restored workspace {WorkspaceId}: {Archives} archives, {Rows} rows")]
    private static partial void LogRestored(ILogger logger, Guid workspaceId, int archives, long rows);

    [LoggerMessage(EventId = 1211, Level = LogLevel.Warning, Message = "Workspace {WorkspaceId}: rows up to the cutoff of archive {ArchiveId} changed after its copy was verified; copying again before deleting anything")]
    private static partial void LogRowsArrivedAfterCopy(ILogger logger, Guid workspaceId, Guid archiveId);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Archive copy of workspace {WorkspaceId} did not match on attempt {Attempt} (hot {HotRows} rows, archive {ArchiveRows}); copying again")]
    private static partial void LogCopyMismatch(ILogger logger, Guid workspaceId, int attempt, long hotRows, long archiveRows);
}
