using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;
using Microsoft.Extensions.Logging;

namespace Coldstore.Services;

/// <summary>
/// Archives of many workspaces in a few statements (<see cref="BatchSql"/>): one lease call, one cutoff and one wait for
/// inserts in flight, one copy writing each workspace's own objects, one read-back grouped by workspace, one listing of
/// parts, one delete per table, one wait, each ledger step for all of them in one state-store transaction.
/// </summary>
/// <remarks>
/// <para>
/// A batch only ever starts fresh archives, and it takes each workspace through exactly the ledger states a single
/// archive does (copying → verified → deleting → archived), recording each before the next statement. So every
/// workspace of a batch is always in a state the single-workspace path resumes from, and that path is the batch's
/// answer to everything out of the ordinary: a workspace with an archive already open, with deletes still pending or a
/// statement of an earlier run still running, too large for a batch, whose copy does not match its hot rows, whose
/// parts do not hold exactly its rows, or whose rows a merge moved before the delete reached them, leaves the batch and
/// is archived on its own afterwards. One workspace never holds up, fails or rolls back another.
/// </para>
/// <para>
/// Every statement of a batch ends within <see cref="ColdstoreOptions.BatchStatementTimeout"/> (a third of the lease)
/// and is killed by its query id when any of the batch's leases is lost, so none outlives the leases it ran under.
/// </para>
/// </remarks>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    /// <summary>
    /// Archives the workspaces, <see cref="ColdstoreOptions.BatchSize"/> at a time, each batch in a few statements;
    /// those a batch hands back are archived one by one after it. One outcome per distinct id, in the order given.
    /// </summary>
    /// <param name="workspaceIds">The workspaces.</param>
    /// <param name="progress">Receives each workspace's steps.</param>
    /// <param name="single">Runs a workspace a batch hands back on its own; null leaves those out (their outcome is <see cref="WorkspaceOutcome.Deferred"/>).</param>
    /// <param name="eligible">Read under the lease: whether the workspace is to be moved this way at all (the worker's status check); one that is not is handed back.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <param name="aloneAtOnce">How many of the workspaces a batch hands back run at the same time.</param>
    public Task<IReadOnlyList<WorkspaceOutcome>> ArchiveBatchAsync(
        IReadOnlyList<Guid> workspaceIds, IProgress<OperationProgress>? progress, Func<Guid, Task<OperationResult>>? single, Func<Workspace, bool>? eligible, int aloneAtOnce, CancellationToken cancellationToken) =>
        RunBatchesAsync(workspaceIds, "archive", ArchiveBatchStepsAsync, progress, single, eligible, aloneAtOnce, cancellationToken);

    /// <summary>
    /// Restores the workspaces, <see cref="ColdstoreOptions.BatchSize"/> at a time: those with exactly one archive and
    /// nothing hot up to its cutoff, the common case, in a few statements per batch; every other one alone after it.
    /// </summary>
    /// <inheritdoc cref="ArchiveBatchAsync" path="/param"/>
    public Task<IReadOnlyList<WorkspaceOutcome>> RestoreBatchAsync(
        IReadOnlyList<Guid> workspaceIds, IProgress<OperationProgress>? progress, Func<Guid, Task<OperationResult>>? single, Func<Workspace, bool>? eligible, int aloneAtOnce, CancellationToken cancellationToken) =>
        RunBatchesAsync(workspaceIds, "restore", RestoreBatchStepsAsync, progress, single, eligible, aloneAtOnce, cancellationToken);

    private async Task<IReadOnlyList<WorkspaceOutcome>> RunBatchesAsync(
        IReadOnlyList<Guid> workspaceIds, string operation, Func<BatchRun, CancellationToken, Task> steps, IProgress<OperationProgress>? progress,
        Func<Guid, Task<OperationResult>>? single, Func<Workspace, bool>? eligible, int aloneAtOnce, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspaceIds);
        var ids = workspaceIds.Distinct().ToList();
        var outcomes = new Dictionary<Guid, WorkspaceOutcome>();
        foreach (var chunk in ids.Chunk(options.BatchSize))
        {
            var batch = new BatchRun(operation, [.. chunk.Select(id => new BatchMember(id, new OperationRun(id, progress, options.StepCompleted, options.Time)))], outcomes);
            await RunOneBatchAsync(batch, steps, eligible, cancellationToken).ConfigureAwait(false);
            var alone = new WorkspaceOutcome[batch.HandedBack.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, alone.Length), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, aloneAtOnce), CancellationToken = cancellationToken },
                async (i, _) =>
                {
                    var id = batch.HandedBack[i];
                    try
                    {
                        alone[i] = new WorkspaceOutcome(id, single is null ? null : await single(id).ConfigureAwait(false), null);
                    }
                    catch (Exception e) when (e is ColdstoreException && !cancellationToken.IsCancellationRequested)
                    {
                        alone[i] = new WorkspaceOutcome(id, null, e);
                    }
                }).ConfigureAwait(false);
            foreach (var outcome in alone)
            {
                outcomes[outcome.WorkspaceId] = outcome;
            }

            await ApplyErasuresRecordedDuringAsync(batch, outcomes, progress, cancellationToken).ConfigureAwait(false);
        }

        return [.. ids.Select(id => outcomes[id])];
    }

    /// <summary>
    /// An erase that came while the batch held one of its workspaces was recorded and left to the holder (its caller was
    /// told so): each such workspace the batch moved has its pending erasures applied now, under a lease of its own, the
    /// batch's being released (from the archive just written, or from the rows a restore put back). One state read per
    /// batch. A failure (the workspace busy again, an outage) leaves the erasure recorded for the next operation or the
    /// worker's sweep, and the workspace's outcome stays the batch's.
    /// </summary>
    private async Task ApplyErasuresRecordedDuringAsync(
        BatchRun batch, Dictionary<Guid, WorkspaceOutcome> outcomes, IProgress<OperationProgress>? progress, CancellationToken ct)
    {
        var moved = batch.Members
            .Where(m => !batch.HandedBack.Contains(m.WorkspaceId) && outcomes.TryGetValue(m.WorkspaceId, out var o) && o is { Error: null, Result: not null })
            .Select(m => m.WorkspaceId)
            .ToHashSet();
        if (moved.Count == 0)
        {
            return;
        }

        var erasing = (await state.ListPendingErasuresAsync(ct).ConfigureAwait(false)).Select(e => e.WorkspaceId).Where(moved.Contains).Distinct();
        foreach (var workspaceId in erasing)
        {
            try
            {
                await EraseAsync(workspaceId, null, progress, ct).ConfigureAwait(false);
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested)
            {
                LogErasuresLeftPending(logger, workspaceId, e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 1216, Level = LogLevel.Warning,
        Message = "Workspace {WorkspaceId}: erasures recorded during its batch stay pending (the next operation or the worker's sweep applies them): {Reason}")]
    private static partial void LogErasuresLeftPending(ILogger logger, Guid workspaceId, string reason);

    /// <summary>One workspace of a batch: its lease, its steps, and what the batch learned of it so far.</summary>
    private sealed class BatchMember(Guid workspaceId, OperationRun run)
    {
        public Guid WorkspaceId { get; } = workspaceId;

        public OperationRun Run { get; } = run;

        public LeaseScope? Lease { get; set; }

        public Workspace? Workspace { get; set; }

        public IReadOnlyList<ArchiveRecord> Archives { get; set; } = [];

        public ArchiveRecord? Record { get; set; }

        public Summary Hot { get; set; }

        public ArchiveManifest? Manifest { get; set; }

        public IReadOnlyList<PartSummary> EventParts { get; set; } = [];

        public IReadOnlyList<PartSummary> InternalParts { get; set; } = [];

        /// <summary>Done, failed or handed back: the batch does nothing more with it.</summary>
        public bool Settled { get; set; }
    }

    /// <summary>A batch in progress: its workspaces, and what became of each.</summary>
    private sealed class BatchRun(string operation, List<BatchMember> members, Dictionary<Guid, WorkspaceOutcome> outcomes)
    {
        public string Operation { get; } = operation;

        public List<BatchMember> Members { get; } = members;

        /// <summary>The workspaces to run alone after the batch, from where the ledger says.</summary>
        public List<Guid> HandedBack { get; } = [];

        /// <summary>The workspaces the batch still works on.</summary>
        public List<BatchMember> Open => [.. Members.Where(m => !m.Settled)];

        public void HandBack(BatchMember member)
        {
            member.Settled = true;
            HandedBack.Add(member.WorkspaceId);
        }

        public void Fail(BatchMember member, Exception error)
        {
            member.Settled = true;
            Diagnostics.ColdstoreTelemetry.BatchMemberSettled(Operation, error, 0, 0);
            outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, null, error);
        }

        /// <summary>Finishes a workspace: its last step, and its result with the archives it moved.</summary>
        public void Done(BatchMember member, StorageState storage, string lastStep, string? detail, IReadOnlyList<ArchiveOutcome> archives)
        {
            member.Settled = true;
            member.Run.Completed(lastStep, detail);
            Diagnostics.ColdstoreTelemetry.BatchMemberSettled(Operation, null, archives.Sum(a => a.Rows), archives.Sum(a => a.Bytes));
            outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, Result(member.WorkspaceId, Operation, storage, archives, member.Run), null);
        }
    }

    /// <summary>Takes the batch's leases, runs its steps, and settles every workspace whatever stops them.</summary>
    private async Task RunOneBatchAsync(BatchRun batch, Func<BatchRun, CancellationToken, Task> steps, Func<Workspace, bool>? eligible, CancellationToken ct)
    {
        using var tagged = StatementTagger.Begin(StatementTagger.BatchPrefixFor(tables, Guid.NewGuid()));
        var attempts = await state.TryAcquireLeasesAsync([.. batch.Members.Select(m => m.WorkspaceId)], options.Owner, options.LeaseDuration, ct).ConfigureAwait(false);
        for (var i = 0; i < batch.Members.Count; i++)
        {
            var member = batch.Members[i];
            if (attempts[i].Lease is { } lease)
            {
                LeaseScope.NoteTakeover(attempts[i], batch.Operation, logger);
                member.Lease = LeaseScope.Hold(state, lease, options, logger);
                continue;
            }

            batch.Fail(member, attempts[i].Holder is { } holder
                ? LeaseScope.Busy(member.WorkspaceId, batch.Operation, holder)
                : new WorkspaceOperationException(member.WorkspaceId, batch.Operation, $"Workspace {member.WorkspaceId} does not exist.", WorkspaceErrorKind.NotFound));
        }

        var held = batch.Members.Where(m => m.Lease is not null).ToList();
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource([ct, .. held.Select(m => m.Lease!.Lost)]);
            try
            {
                await ScreenAsync(batch, eligible, linked.Token).ConfigureAwait(false);
                if (batch.Open.Count > 0)
                {
                    await steps(batch, linked.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // A lease was lost: the statement in flight was cancelled (and killed by its query id). The workspace
                // whose lease went stops as a single operation would; the others go on alone, from the ledger.
                foreach (var member in batch.Open)
                {
                    if (member.Lease!.Lost.IsCancellationRequested)
                    {
                        batch.Fail(member, LeaseLost(member.WorkspaceId, batch.Operation));
                    }
                    else
                    {
                        batch.HandBack(member);
                    }
                }
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested && (e is EngineUnavailableException || ArchiveStoreOutage.IsOutage(e, store)))
            {
                // An engine or store that does not answer would fail each of them alone as well, each after its own wait:
                // they stop here, recorded where they are, and a rerun resumes them.
                foreach (var member in batch.Open)
                {
                    batch.Fail(member, new WorkspaceOperationException(member.WorkspaceId, batch.Operation, string.Create(CultureInfo.InvariantCulture,
                        $"The batch {batch.Operation} of workspace {member.WorkspaceId} stopped: {e.Message} Nothing was lost: what was done is recorded; rerun the {batch.Operation} to resume."), WorkspaceErrorKind.Failed, e));
                }
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested && e is not LeaseLostException)
            {
                // A statement of the batch failed for a reason one workspace's data may cause: each goes on alone, so
                // that one fails by itself and the others finish.
                LogBatchStatementFailed(logger, batch.Open.Count, e.Message);
                foreach (var member in batch.Open)
                {
                    batch.HandBack(member);
                }
            }
        }
        finally
        {
            foreach (var member in held)
            {
                await member.Lease!.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// What every batch checks under its leases: the workspace and its ledger are read, and a workspace with a statement
    /// of an earlier run still running, or deletes not yet applied, goes on alone (the single path waits for those).
    /// </summary>
    private async Task ScreenAsync(BatchRun batch, Func<Workspace, bool>? eligible, CancellationToken ct)
    {
        // A pending erasure is applied by the single path (before a restore inserts anything, at an archive's end). One
        // read of every pending erasure serves the whole batch: there are few, and a read per member would be as many.
        var erasing = (await state.ListPendingErasuresAsync(ct).ConfigureAwait(false)).Select(e => e.WorkspaceId).ToHashSet();
        foreach (var member in batch.Open)
        {
            member.Workspace = await state.GetWorkspaceAsync(member.WorkspaceId, ct).ConfigureAwait(false);
            member.Archives = member.Workspace is null ? [] : await _ledger.ListAsync(member.WorkspaceId, ct).ConfigureAwait(false);
            if (member.Workspace is null || (eligible is not null && !eligible(member.Workspace)) || member.Archives.Any(ArchiveLedger.IsOpen)
                || erasing.Contains(member.WorkspaceId))
            {
                batch.HandBack(member);
            }
        }

        if (batch.Open.Count == 0)
        {
            return;
        }

        var prefixes = batch.Open.ToDictionary(m => StatementTagger.PrefixFor(tables, m.WorkspaceId), m => m);
        foreach (var row in await engine.QueryAsync(BatchSql.RunningStatements(tables, prefixes.Keys), ct).ConfigureAwait(false))
        {
            var queryId = row.GetString("query_id");
            foreach (var (_, member) in prefixes.Where(p => queryId.StartsWith(p.Key, StringComparison.Ordinal) && !p.Value.Settled))
            {
                batch.HandBack(member);
            }
        }

        var pending = (await _clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(tables), ct).ConfigureAwait(false))
            .Select(r => r.GetString("workspace_id")).ToHashSet(StringComparer.Ordinal);
        foreach (var member in batch.Open.Where(m => pending.Contains(EventSql.WorkspaceIdText(m.WorkspaceId))))
        {
            batch.HandBack(member);
        }
    }

    /// <summary>Reads back every member's archive objects in one statement: count, checksum, derived rows and foreign rows, by workspace.</summary>
    private async Task<Dictionary<Guid, (Summary Content, long Foreign)>> ReadBackBatchAsync(List<BatchMember> members, CancellationToken ct)
    {
        var sources = members.Select((m, i) => (m.WorkspaceId, ReadSource(m.Record!, $"archive{i}"))).ToList();
        return (await _clickHouse.QueryAsync(BatchSql.ArchiveSummaries(sources, options.BatchStatementTimeout), ct).ConfigureAwait(false))
            .ToDictionary(r => Guid.Parse(r.GetString("member")), r => (ArchiveContent(r), r.GetInt64("foreign_rows")));
    }

    /// <summary>Each member's rows and internal events up to its archive's cutoff, in one statement.</summary>
    private async Task<Dictionary<Guid, (long Rows, ulong Checksum, long InternalRows, ulong InternalChecksum)>> RowsUpToCutoffsAsync(List<BatchMember> members, CancellationToken ct) =>
        (await _clickHouse.QueryAsync(BatchSql.HotSummariesUpTo(tables, [.. members.Select(m => (m.WorkspaceId, m.Record!.Cutoff))]), ct).ConfigureAwait(false))
            .ToDictionary(r => Guid.Parse(r.GetString("workspace_id")),
                r => (r.GetInt64("rows"), r.GetUInt64("checksum"), r.GetInt64("internal_rows"), r.GetUInt64("internal_checksum")));

    /// <summary>True when a part descending from one of <paramref name="listed"/> still holds rows of the workspace up to the cutoff.</summary>
    private static bool Heirs(IReadOnlyList<PartSummary>? left, IReadOnlyList<PartSummary> listed)
    {
        if (left is null || left.Count == 0)
        {
            return false;
        }

        var names = listed.Select(p => PartName.Parse(p.Part)).OfType<PartName>().ToList();
        return left.Any(p => p.Rows > 0 && PartName.Parse(p.Part) is { } name && names.Any(name.Covers));
    }

    /// <summary>
    /// Makes the writes in one state-store transaction. A workspace whose write is refused is handed back, except when
    /// its lease is lost: that fails the operation, as it would a single one.
    /// </summary>
    private async Task ApplyAsync(BatchRun batch, List<(BatchMember Member, FencedWrite Write)> writes, CancellationToken ct)
    {
        if (writes.Count == 0)
        {
            return;
        }

        var results = await state.ApplyFencedAsync([.. writes.Select(w => w.Write)], ct).ConfigureAwait(false);
        for (var i = 0; i < results.Count; i++)
        {
            var member = writes[i].Member;
            if (results[i].Applied || member.Settled)
            {
                continue;
            }

            var reason = results[i].Message ?? $"{results[i].Outcome}";
            LogBatchWriteRefused(logger, member.WorkspaceId, reason);
            if (results[i].Outcome == FencedWriteOutcome.LeaseLost)
            {
                // Another holder may have it now: it stops as a single operation would, and the batch goes on without it.
                batch.Fail(member, new LeaseLostException(member.WorkspaceId, batch.Operation, results[i].Message ?? "The lease was lost."));
            }
            else
            {
                batch.HandBack(member);
            }
        }
    }

    /// <summary>
    /// Writes a step's ledger changes for every workspace in one transaction, then marks the step completed for those
    /// still in the batch; false when none is left.
    /// </summary>
    private async Task<bool> RecordStepAsync(BatchRun batch, List<(BatchMember Member, FencedWrite Write)> writes, string step, Func<BatchMember, string?> detail, CancellationToken ct)
    {
        await ApplyAsync(batch, writes, ct).ConfigureAwait(false);
        Completed(batch.Open, step, detail);
        return batch.Open.Count > 0;
    }

    /// <summary>Marks the step completed for each workspace (the failpoint hook fires on the first).</summary>
    private static void Completed(IEnumerable<BatchMember> members, string step, Func<BatchMember, string?> detail)
    {
        foreach (var member in members)
        {
            member.Run.Completed(step, detail(member));
        }
    }

    private async Task<Dictionary<Guid, Summary>> HotSummariesAsync(IEnumerable<BatchMember> members, DateTime cutoff, CancellationToken ct) =>
        (await _clickHouse.QueryAsync(BatchSql.HotSummaries(tables, [.. members.Select(m => m.WorkspaceId)], cutoff), ct).ConfigureAwait(false))
            .ToDictionary(r => Guid.Parse(r.GetString("workspace_id")), HotContent);

    private async Task<Dictionary<Guid, IReadOnlyList<PartSummary>>> BatchPartSummariesAsync(HotTable table, IEnumerable<BatchMember> members, DateTime cutoff, CancellationToken ct) =>
        (await _clickHouse.QueryAsync(BatchSql.PartSummaries(tables, table, [.. members.Select(m => m.WorkspaceId)], cutoff), ct).ConfigureAwait(false))
            .GroupBy(r => Guid.Parse(r.GetString("workspace_id")))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<PartSummary>)[.. g.Select(r => PartSummaryOf(r, table))]);

    /// <summary>One bounded delete for the workspaces that have parts in this table, within the mutation budget.</summary>
    private async Task SubmitBatchDeleteAsync(HotTable table, List<BatchMember> members, Func<BatchMember, IReadOnlyList<PartSummary>> parts, DateTime cutoff, string subject, CancellationToken ct)
    {
        var withParts = members.Where(m => parts(m).Count > 0).ToList();
        if (withParts.Count == 0)
        {
            return;
        }

        var delete = BatchSql.DeleteInParts(tables, table, [.. withParts.Select(m => m.WorkspaceId)], cutoff, [.. withParts.SelectMany(m => parts(m).Select(p => p.Part))]);
        // Named in a failure as a single archive names it: the events' delete, then the internal events'.
        var step = table == HotTable.Events ? Steps.ArchiveEventsDeleteSubmitted : Steps.ArchiveDeletesSubmitted;
        await SubmitWithinBudgetAsync(table, delete, synchronous: false, null, subject, step, null, ct).ConfigureAwait(false);
    }

    /// <summary>Waits until no unfinished delete names any of the workspaces (one statement per poll for all of them).</summary>
    private async Task WaitForBatchDeletesAsync(List<BatchMember> members, CancellationToken ct)
    {
        var ids = members.Select(m => EventSql.WorkspaceIdText(m.WorkspaceId)).ToHashSet(StringComparer.Ordinal);
        var pending = await _batchDeletesApplied.UntilAsync(
            async c => (await _clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(tables), c).ConfigureAwait(false))
                .Count(r => ids.Contains(r.GetString("workspace_id"))),
            static pending => pending > 0, options.DeleteWaitTimeout, null, ct).ConfigureAwait(false);
        if (pending > 0)
        {
            throw Failed(members[0].WorkspaceId, Steps.ArchiveDeletesApplied, string.Create(CultureInfo.InvariantCulture,
                $"The batch's background deletes of {pending} workspaces have not finished within {options.DeleteWaitTimeout}. Nothing was lost (their rows are archived); check system.mutations and rerun."));
        }
    }

    /// <summary>Runs <paramref name="work"/> for each member, a few at a time (object-store calls), and returns the results by member.</summary>
    private static async Task<Dictionary<BatchMember, T>> ForEachAsync<T>(List<BatchMember> members, Func<BatchMember, Task<T>> work, CancellationToken ct)
    {
        var results = new T[members.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, members.Count), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
            async (i, _) => results[i] = await work(members[i]).ConfigureAwait(false)).ConfigureAwait(false);
        return members.Select((m, i) => (m, i)).ToDictionary(p => p.m, p => results[p.i]);
    }

    [LoggerMessage(EventId = 1214, Level = LogLevel.Warning, Message = "A statement of a batch failed ({Reason}); its {Count} unfinished workspaces go on one by one")]
    private static partial void LogBatchStatementFailed(ILogger logger, int count, string reason);

    [LoggerMessage(EventId = 1215, Level = LogLevel.Information, Message = "Workspace {WorkspaceId} leaves its batch: {Reason}")]
    private static partial void LogBatchWriteRefused(ILogger logger, Guid workspaceId, string reason);
}

/// <summary>One workspace's outcome in an operation over several: its result, or the error it stopped with.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Result">What was done, when it succeeded.</param>
/// <param name="Error">Why it stopped, when it failed.</param>
public sealed record WorkspaceOutcome(Guid WorkspaceId, OperationResult? Result, Exception? Error)
{
    /// <summary>True when the operation succeeded.</summary>
    public bool Ok => Error is null && Result is not null;

    /// <summary>True when a batch left the workspace to be moved on its own, and the caller asked to do that itself.</summary>
    public bool Deferred => Error is null && Result is null;
}
