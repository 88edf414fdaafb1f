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
    public async Task<IReadOnlyList<WorkspaceOutcome>> ArchiveBatchAsync(
        IReadOnlyList<Guid> workspaceIds, IProgress<OperationProgress>? progress, Func<Guid, Task<OperationResult>> single, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspaceIds);
        var ids = workspaceIds.Distinct().ToList();
        var outcomes = new Dictionary<Guid, WorkspaceOutcome>();
        foreach (var chunk in ids.Chunk(options.BatchSize))
        {
            var handedBack = await ArchiveOneBatchAsync(chunk, progress, outcomes, cancellationToken).ConfigureAwait(false);
            foreach (var id in handedBack)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    outcomes[id] = new WorkspaceOutcome(id, await single(id).ConfigureAwait(false), null);
                }
                catch (Exception e) when (e is ColdstoreException && !cancellationToken.IsCancellationRequested)
                {
                    outcomes[id] = new WorkspaceOutcome(id, null, e);
                }
            }
        }

        return [.. ids.Select(id => outcomes[id])];
    }

    /// <summary>One workspace of a batch: its lease, its steps, and what the batch learned of it so far.</summary>
    private sealed class BatchMember(Guid workspaceId, OperationRun run)
    {
        public Guid WorkspaceId { get; } = workspaceId;

        public OperationRun Run { get; } = run;

        public LeaseScope? Lease { get; set; }

        public Workspace? Workspace { get; set; }

        public ArchiveRecord? Record { get; set; }

        public Summary Hot { get; set; }

        public IReadOnlyList<PartSummary> EventParts { get; set; } = [];

        public IReadOnlyList<PartSummary> InternalParts { get; set; } = [];

        /// <summary>Done, failed or handed back: the batch does nothing more with it.</summary>
        public bool Settled { get; set; }
    }

    /// <summary>Runs one batch; records the outcome of every workspace it settles and returns the ones it hands back.</summary>
    private async Task<List<Guid>> ArchiveOneBatchAsync(Guid[] chunk, IProgress<OperationProgress>? progress, Dictionary<Guid, WorkspaceOutcome> outcomes, CancellationToken ct)
    {
        const string Operation = "archive";
        var handedBack = new List<Guid>();
        var members = chunk.Select(id => new BatchMember(id, new OperationRun(id, progress, options.StepCompleted))).ToList();
        using var tagged = StatementTagger.Begin(StatementTagger.BatchPrefixFor(tables, Guid.NewGuid()));
        var attempts = await state.TryAcquireLeasesAsync(chunk, options.Owner, options.LeaseDuration, ct).ConfigureAwait(false);
        for (var i = 0; i < members.Count; i++)
        {
            var member = members[i];
            if (attempts[i].Lease is { } lease)
            {
                member.Lease = LeaseScope.Hold(state, lease, options, logger);
                continue;
            }

            member.Settled = true;
            outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, null, attempts[i].Holder is { } holder
                ? LeaseScope.Busy(member.WorkspaceId, Operation, holder)
                : new WorkspaceOperationException(member.WorkspaceId, Operation, $"Workspace {member.WorkspaceId} does not exist.", WorkspaceErrorKind.NotFound));
        }

        var held = members.Where(m => m.Lease is not null).ToList();
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource([ct, .. held.Select(m => m.Lease!.Lost)]);
            try
            {
                await RunBatchAsync(held, handedBack, outcomes, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // A lease was lost: the statement in flight was cancelled (and killed by its query id). The workspace
                // whose lease went stops as a single operation would; the others go on alone, from the ledger.
                foreach (var member in held.Where(m => !m.Settled))
                {
                    Settle(member, member.Lease!.Lost.IsCancellationRequested ? LeaseLost(member.WorkspaceId) : null);
                }
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested && (e is EngineUnavailableException || ArchiveStoreOutage.IsOutage(e, store)))
            {
                // An engine or store that does not answer would fail each of them alone as well, each after its own wait:
                // they stop here, recorded where they are, and a rerun resumes them.
                foreach (var member in held.Where(m => !m.Settled))
                {
                    Settle(member, new WorkspaceOperationException(member.WorkspaceId, Operation, string.Create(CultureInfo.InvariantCulture,
                        $"The batch archiving workspace {member.WorkspaceId} stopped: {e.Message} Nothing was lost: what was done is recorded; rerun the archive to resume."), WorkspaceErrorKind.Failed, e));
                }
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested && e is not LeaseLostException)
            {
                // A statement of the batch failed for a reason one workspace's data may cause: each goes on alone, so
                // that one fails by itself and the others finish.
                LogBatchStatementFailed(logger, held.Count(m => !m.Settled), e.Message);
                foreach (var member in held.Where(m => !m.Settled))
                {
                    Settle(member, null);
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

        return handedBack;

        void Settle(BatchMember member, Exception? error)
        {
            member.Settled = true;
            if (error is null)
            {
                handedBack.Add(member.WorkspaceId);
            }
            else
            {
                outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, null, error);
            }
        }

        LeaseLostException LeaseLost(Guid workspaceId) => new(workspaceId, Operation, string.Create(CultureInfo.InvariantCulture,
            $"Workspace {workspaceId}: this archive lost its lease (it could not renew it within {options.LeaseDuration.TotalSeconds:0} s: a stall, or the state store failing over), so it stopped before its next write and wrote nothing more. Rerun it; it resumes where the ledger says."));
    }

    /// <summary>The batch's steps, in order; each leaves every workspace it touches in a ledger state a single archive resumes from.</summary>
    private async Task RunBatchAsync(List<BatchMember> members, List<Guid> handedBack, Dictionary<Guid, WorkspaceOutcome> outcomes, CancellationToken ct)
    {
        void HandBack(BatchMember member)
        {
            member.Settled = true;
            handedBack.Add(member.WorkspaceId);
        }

        void Done(BatchMember member, StorageState storage)
        {
            member.Settled = true;
            member.Run.Completed(Steps.ArchiveDone, member.Record is null ? "no hot rows up to the cutoff; nothing to archive" : null);
            var archives = member.Record is { } record ? new[] { Outcome(record) } : [];
            outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, new OperationResult(member.WorkspaceId, "archive", storage,
                archives.Sum(a => a.Rows), archives.Sum(a => a.Bytes), archives.Aggregate(0UL, (sum, a) => unchecked(sum + a.Checksum)), archives, member.Run.Steps, member.Run.Elapsed), null);
            if (member.Record is { } archived)
            {
                LogArchived(logger, member.WorkspaceId, archived.ArchiveId, archived.RowCount ?? 0, archived.Bytes ?? 0);
            }
        }

        void Fail(BatchMember member, Exception error)
        {
            member.Settled = true;
            outcomes[member.WorkspaceId] = new WorkspaceOutcome(member.WorkspaceId, null, error);
        }

        List<BatchMember> Open() => [.. members.Where(m => !m.Settled)];

        // Under the leases: anything but a fresh archive of an existing workspace goes on alone.
        foreach (var member in members)
        {
            member.Workspace = await state.GetWorkspaceAsync(member.WorkspaceId, ct).ConfigureAwait(false);
            var open = member.Workspace is null ? null : await ledger.OpenArchiveAsync(member.WorkspaceId, ct).ConfigureAwait(false);
            if (member.Workspace is null || open is not null || member.Workspace.Storage is not (StorageState.Hot or StorageState.Cold))
            {
                HandBack(member);
            }
        }

        if (Open().Count > 0)
        {
            // Statements an earlier run of a workspace left running, and deletes not yet applied, are the single path's to handle.
            var prefixes = Open().ToDictionary(m => StatementTagger.PrefixFor(tables, m.WorkspaceId), m => m);
            foreach (var row in await engine.QueryAsync(BatchSql.RunningStatements(tables, prefixes.Keys), ct).ConfigureAwait(false))
            {
                var queryId = row.GetString("query_id");
                foreach (var (prefix, member) in prefixes.Where(p => queryId.StartsWith(p.Key, StringComparison.Ordinal) && !p.Value.Settled))
                {
                    HandBack(member);
                }
            }

            var pending = (await clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(tables), ct).ConfigureAwait(false))
                .Select(r => r.GetString("workspace_id")).ToHashSet(StringComparer.Ordinal);
            foreach (var member in Open().Where(m => pending.Contains(EventSql.WorkspaceIdText(m.WorkspaceId))))
            {
                HandBack(member);
            }
        }

        if (Open().Count == 0)
        {
            return;
        }

        // One cutoff and one wait for the inserts in flight, for all of them.
        var cutoff = await ServerNowAsync(ct).ConfigureAwait(false);
        await SettleAsync(cutoff, Open()[0].Run, ct).ConfigureAwait(false);
        var hot = await HotSummariesAsync(Open(), cutoff, ct).ConfigureAwait(false);
        var empty = new List<BatchMember>();
        var taken = 0L;
        foreach (var member in Open())
        {
            member.Hot = hot.GetValueOrDefault(member.WorkspaceId);
            if (member.Hot.Rows == 0)
            {
                empty.Add(member);
            }
            else if (member.Hot.Rows > options.BatchRows || taken + member.Hot.Rows > options.BatchRows)
            {
                HandBack(member);
            }
            else
            {
                taken += member.Hot.Rows;
            }
        }

        // Nothing to archive: the storage follows the request (as a single archive does), and no ledger row is written.
        await ApplyAsync([.. empty.Where(m => m.Workspace!.Storage != StorageState.Cold)
            .Select(m => (m, (FencedWrite)new SetStorageWrite(m.Workspace!.Storage, StorageState.Cold, m.Lease!.Lease)))], HandBack, Fail, ct).ConfigureAwait(false);
        foreach (var member in empty.Where(m => !m.Settled))
        {
            Done(member, StorageState.Cold);
        }

        // archive:started, for all of them in one transaction.
        var starting = Open();
        var writes = new List<(BatchMember, FencedWrite)>();
        foreach (var member in starting)
        {
            var archiveId = Guid.NewGuid();
            member.Record = new ArchiveRecord(archiveId, member.WorkspaceId, ArchiveState.Copying, cutoff, ArchivePrefix(member.WorkspaceId, archiveId),
                null, null, null, null, DateTime.UtcNow, DateTime.UtcNow, null);
            writes.Add((member, new SetStorageWrite(member.Workspace!.Storage, StorageState.Archiving, member.Lease!.Lease)));
            writes.Add((member, new InsertArchiveWrite(member.Record, member.Lease!.Lease)));
        }

        await ApplyAsync(writes, HandBack, Fail, ct).ConfigureAwait(false);
        Completed(Open(), Steps.ArchiveStarted, m => string.Create(CultureInfo.InvariantCulture,
            $"archive {m.Record!.ArchiveId} (batch of {starting.Count}), cutoff {cutoff:O}, {m.Hot.Rows} hot rows"));
        if (Open().Count == 0)
        {
            return;
        }

        // Copy, read back, verify: one statement each.
        var copying = Open();
        await clickHouse.ExecuteAsync(BatchSql.CopyToArchives(tables, [.. copying.Select(m => (m.WorkspaceId, m.Record!.ArchiveId))], cutoff,
            store.TableFunction("{_partition_id}.parquet", DataFormat, "archive"), options.BatchStatementTimeout), ct).ConfigureAwait(false);
        Completed(copying, Steps.ArchiveCopied, m => m.Record!.ObjectPrefix);
        var sources = copying.Select((m, i) => (m.WorkspaceId, store.TableFunction(m.Record!.ObjectPrefix + DataObjectGlob, DataFormat, $"archive{i}", SchemaSql.StoredColumnsStructure))).ToList();
        var readBack = (await clickHouse.QueryAsync(BatchSql.ArchiveSummaries(sources, options.BatchStatementTimeout), ct).ConfigureAwait(false))
            .ToDictionary(r => Guid.Parse(r.GetString("member")), r => (Content: ArchiveContent(r), Foreign: r.GetInt64("foreign_rows")));
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
                HandBack(member);
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

        await ApplyAsync(writes, HandBack, Fail, ct).ConfigureAwait(false);
        Completed(Open(), Steps.ArchiveVerified, m => string.Create(CultureInfo.InvariantCulture,
            $"{m.Hot.Rows} rows, checksum {m.Hot.Checksum}, {manifests[m].Bytes} bytes in {manifests[m].Objects.Count} objects"));
        if (Open().Count == 0)
        {
            return;
        }

        // The delete bound: one listing per table for all of them, each workspace's parts checked against its archive.
        var bounding = Open();
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
                HandBack(member);
                continue;
            }

            member.Record = record with { State = ArchiveState.Deleting, LastError = null };
            writes.Add((member, new UpdateArchiveWrite(member.Record, ArchiveState.Verified, member.Lease!.Lease)));
        }

        await ApplyAsync(writes, HandBack, Fail, ct).ConfigureAwait(false);
        Completed(Open(), Steps.ArchiveDeleteBounded, m => string.Create(CultureInfo.InvariantCulture,
            $"{m.EventParts.Count} parts of events, {m.InternalParts.Count} of internal events"));
        if (Open().Count == 0)
        {
            return;
        }

        // One delete per table for all of them, within the mutation budget.
        var deleting = Open();
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

        await ApplyAsync(writes, HandBack, Fail, ct).ConfigureAwait(false);
        Completed(Open(), Steps.ArchiveDeletesApplied, m => "no archived row or internal event is hot" + repairs.GetValueOrDefault(m));
        foreach (var member in Open())
        {
            Done(member, StorageState.Cold);
        }
    }

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
    private async Task ApplyAsync(List<(BatchMember Member, FencedWrite Write)> writes, Action<BatchMember> handBack, Action<BatchMember, Exception> fail, CancellationToken ct)
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
                fail(member, new LeaseLostException(member.WorkspaceId, "archive", results[i].Message ?? "The lease was lost."));
            }
            else
            {
                handBack(member);
            }
        }
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
        (await clickHouse.QueryAsync(BatchSql.HotSummaries(tables, [.. members.Select(m => m.WorkspaceId)], cutoff), ct).ConfigureAwait(false))
            .ToDictionary(r => Guid.Parse(r.GetString("workspace_id")),
                r => new Summary(r.GetInt64("rows"), r.GetUInt64("checksum"), r.GetInt64("derived_rows"), r.GetUInt64("derived_checksum")));

    private async Task<Dictionary<Guid, IReadOnlyList<PartSummary>>> BatchPartSummariesAsync(HotTable table, IEnumerable<BatchMember> members, DateTime cutoff, CancellationToken ct) =>
        (await clickHouse.QueryAsync(BatchSql.PartSummaries(tables, table, [.. members.Select(m => m.WorkspaceId)], cutoff), ct).ConfigureAwait(false))
            .GroupBy(r => Guid.Parse(r.GetString("workspace_id")))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<PartSummary>)[.. g.Select(r => table == HotTable.Events
                ? new PartSummary(r.GetString("part"), r.GetInt64("rows"), r.GetUInt64("checksum"), r.GetInt64("derived_rows"), r.GetUInt64("derived_checksum"))
                : new PartSummary(r.GetString("part"), r.GetInt64("rows"), r.GetUInt64("checksum"), 0, 0))]);

    /// <summary>One bounded delete for the workspaces that have parts in this table, within the mutation budget.</summary>
    private async Task SubmitBatchDeleteAsync(HotTable table, List<BatchMember> members, Func<BatchMember, IReadOnlyList<PartSummary>> parts, DateTime cutoff, string subject, CancellationToken ct)
    {
        var withParts = members.Where(m => parts(m).Count > 0).ToList();
        if (withParts.Count == 0)
        {
            return;
        }

        var delete = BatchSql.DeleteInParts(tables, table, [.. withParts.Select(m => m.WorkspaceId)], cutoff, [.. withParts.SelectMany(m => parts(m).Select(p => p.Part))]);
        await SubmitWithinBudgetAsync(table, delete, synchronous: false, null, subject, Steps.ArchiveEventsDeleteSubmitted, null, ct).ConfigureAwait(false);
    }

    /// <summary>Waits until no unfinished delete names any of the workspaces (one statement per poll for all of them).</summary>
    private async Task WaitForBatchDeletesAsync(List<BatchMember> members, CancellationToken ct)
    {
        var ids = members.Select(m => EventSql.WorkspaceIdText(m.WorkspaceId)).ToHashSet(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + options.DeleteWaitTimeout;
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            var pending = (await clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(tables), ct).ConfigureAwait(false))
                .Count(r => ids.Contains(r.GetString("workspace_id")));
            if (pending == 0)
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw Failed(members[0].WorkspaceId, Steps.ArchiveDeletesApplied, string.Create(CultureInfo.InvariantCulture,
                    $"The batch's background deletes of {pending} workspaces have not finished within {options.DeleteWaitTimeout}. Nothing was lost (their rows are archived); check system.mutations and rerun."));
            }

            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1_000));
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
    public bool Ok => Error is null;
}
