using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// The bounded deletes (see <see cref="BoundedDeleteSql"/> for why they are exact): listing the parts that hold an
/// archive's rows, deleting by part, and removing archived rows that are still hot once the deletes applied (a merge
/// moved them out of a listed part, or an interrupted restore left them).
/// </summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    /// <summary>
    /// The most hashes one repair delete lists. A mutation's text lives in ZooKeeper on a replicated table, whose
    /// nodes hold 1 MB by default; 20,000 hashes are about 420 kB.
    /// </summary>
    internal const int MaxLiteralHashes = 20_000;

    /// <summary>How many times removing archived rows that are still hot is tried before giving up with one line.</summary>
    private const int RepairRounds = 5;

    /// <summary>
    /// One data part's share of a workspace's rows up to a cutoff; for events also the internal events those rows
    /// derive (zero for a part of internal events).
    /// </summary>
    internal sealed record PartSummary(string Part, long Rows, ulong Checksum, long DerivedRows, ulong DerivedChecksum);

    /// <summary>The parts an archive's deletes are bounded by, in both tables, listed in the same step.</summary>
    internal sealed record DeleteBound(IReadOnlyList<PartSummary> Events, IReadOnlyList<PartSummary> InternalEvents);

    /// <summary>
    /// Lists the parts that hold the workspace's rows up to the cutoff, in both tables, and returns them only when
    /// they hold exactly the archive's rows and exactly the internal events those derive; null when the events differ
    /// (rows up to the cutoff arrived, or changed, after the copy: copy again).
    /// </summary>
    private async Task<DeleteBound?> ListDeleteBoundAsync(ArchiveRecord record, CancellationToken ct)
    {
        var events = await PartSummariesAsync(HotTable.Events, record, ct).ConfigureAwait(false);
        if (events.Sum(p => p.Rows) != record.RowCount || Sum(events) != record.Checksum)
        {
            return null;
        }

        // The internal events the listed rows derive, from the same listing.
        var derivedRows = events.Sum(p => p.DerivedRows);
        var derivedChecksum = events.Aggregate(0UL, (sum, p) => unchecked(sum + p.DerivedChecksum));
        // The view writes its rows after the events' own part: an insert still in flight catches up, so the internal
        // events are listed again, 200 ms more apart each time, up to CopyAttempts listings.
        var internalEvents = await _internalEventsCaughtUp.UntilAsync(
            c => new ValueTask<IReadOnlyList<PartSummary>>(PartSummariesAsync(HotTable.InternalEvents, record, c)),
            parts => parts.Sum(p => p.Rows) != derivedRows || Sum(parts) != derivedChecksum, null, null, ct).ConfigureAwait(false);
        var rows = internalEvents.Sum(p => p.Rows);
        var checksum = Sum(internalEvents);
        if (rows == derivedRows && checksum == derivedChecksum)
        {
            return new DeleteBound(events, internalEvents);
        }

        throw Failed(record.WorkspaceId, Steps.ArchiveDeleteBounded, string.Create(CultureInfo.InvariantCulture,
            $"The internal events of workspace {record.WorkspaceId} up to the cutoff of archive {record.ArchiveId} are not the ones its rows derive ({rows} rows, checksum {checksum}; the archived rows derive {derivedRows}, checksum {derivedChecksum}). Nothing was deleted; check what writes internal_events besides its materialized view, then rerun the archive."));
    }

    /// <summary>Submits both bounded deletes, in the background.</summary>
    private async Task SubmitDeletesAsync(ArchiveRecord record, DeleteBound bound, OperationRun run, CancellationToken ct)
    {
        if (bound.Events.Count > 0)
        {
            await SubmitMutationAsync(HotTable.Events, record, BoundedDeleteSql.DeleteInParts(tables, HotTable.Events, record.WorkspaceId, record.Cutoff,
                [.. bound.Events.Select(p => p.Part)], synchronous: false, record.Chunk), synchronous: false, Steps.ArchiveEventsDeleteSubmitted, run, ct).ConfigureAwait(false);
        }

        run.Completed(Steps.ArchiveEventsDeleteSubmitted, string.Create(CultureInfo.InvariantCulture, $"{bound.Events.Count} parts"));
        if (bound.InternalEvents.Count > 0)
        {
            await SubmitMutationAsync(HotTable.InternalEvents, record, BoundedDeleteSql.DeleteInParts(tables, HotTable.InternalEvents, record.WorkspaceId, record.Cutoff,
                [.. bound.InternalEvents.Select(p => p.Part)], synchronous: false, record.Chunk), synchronous: false, Steps.ArchiveDeletesSubmitted, run, ct).ConfigureAwait(false);
        }

        run.Completed(Steps.ArchiveDeletesSubmitted, string.Create(CultureInfo.InvariantCulture, $"{bound.InternalEvents.Count} parts of internal events"));
    }

    /// <summary>
    /// Waits until the workspace's deletes applied, then removes whatever archived row (and internal event) is still
    /// hot. With the bound of this run, only parts that descend from a listed part are looked at (a row that arrived
    /// later is in a part of its own and is never taken); after a crash, when the bound is gone, every part is.
    /// </summary>
    private async Task ConfirmDeletesAsync(ArchiveRecord record, DeleteBound? bound, CancellationToken ct)
    {
        await WaitForDeletesAsync(record.WorkspaceId, Steps.ArchiveDeletesApplied, ct).ConfigureAwait(false);
        await RemoveArchivedRowsStillHotAsync(record, HotTable.Events, bound?.Events, Steps.ArchiveDeletesApplied, ct).ConfigureAwait(false);
        await RemoveArchivedRowsStillHotAsync(record, HotTable.InternalEvents, bound?.InternalEvents, Steps.ArchiveDeletesApplied, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes, synchronously, the rows of <paramref name="table"/> up to the cutoff whose hash is among the archive's:
    /// a part that holds nothing else is deleted by part; a part that also holds other rows by part and the literal
    /// hashes of its smaller side. Returns how many rows were removed.
    /// </summary>
    /// <param name="record">The archive.</param>
    /// <param name="table">Which table.</param>
    /// <param name="listed">The parts the archive's delete was bounded by, or null to look at every part.</param>
    /// <param name="step">The step named in a failure.</param>
    /// <param name="ct">Cancels.</param>
    private async Task<long> RemoveArchivedRowsStillHotAsync(ArchiveRecord record, HotTable table, IReadOnlyList<PartSummary>? listed, string step, CancellationToken ct)
    {
        var listedNames = listed?.Select(p => PartName.Parse(p.Part)).OfType<PartName>().ToList();
        bool DescendsFromListed(string part) => listedNames is null || (PartName.Parse(part) is { } name && listedNames.Any(name.Covers));
        var removed = 0L;
        for (var round = 0; ; round++)
        {
            // A cheap look first: most of the time nothing of the workspace up to the cutoff is hot any more.
            var candidates = (await PartSummariesAsync(table, record, ct).ConfigureAwait(false))
                .Where(p => DescendsFromListed(p.Part))
                .Select(p => p.Part)
                .ToHashSet(StringComparer.Ordinal);
            if (candidates.Count == 0)
            {
                return removed;
            }

            // Judged on this read alone, not against the candidates: a merge between the two reads renames the part, and
            // a check against the first read's names would then find nothing to remove and declare the rows gone.
            var parts = (await _clickHouse.QueryAsync(BoundedDeleteSql.ArchivedRowsByPart(tables, table, record.WorkspaceId, record.Cutoff, ReadSource(record), options.StatementTimeout, record.Chunk), ct).ConfigureAwait(false))
                .Select(r => (Part: r.GetString("part"), Rows: r.GetInt64("rows"), Archived: r.GetInt64("archived")))
                .Where(p => p.Archived > 0 && DescendsFromListed(p.Part))
                .ToList();
            if (parts.Count == 0)
            {
                return removed;
            }

            if (round >= RepairRounds)
            {
                throw Failed(record.WorkspaceId, step, string.Create(CultureInfo.InvariantCulture,
                    $"{parts.Sum(p => p.Archived)} rows of archive {record.ArchiveId} are still in {TableName(table)} after {round} deletes (parts {string.Join(", ", parts.Select(p => p.Part))}); they are archived, so nothing is lost, but a restore would double them. Rerun; if it persists, check system.mutations for failed deletes."));
            }

            var whole = new List<string>();
            foreach (var (part, rows, archived) in parts)
            {
                if (archived == rows)
                {
                    whole.Add(part);
                }
                else
                {
                    // List whichever side is smaller: the archived rows to delete, or the other rows to keep.
                    var listArchived = archived <= rows - archived;
                    var hashes = (await _clickHouse.QueryAsync(BoundedDeleteSql.HashesInPart(tables, table, record.WorkspaceId, record.Cutoff, part, ReadSource(record), listArchived, MaxLiteralHashes, options.StatementTimeout, record.Chunk), ct).ConfigureAwait(false))
                        .Select(r => r.GetUInt64("hash"))
                        .ToList();
                    if (hashes.Count > MaxLiteralHashes)
                    {
                        throw Failed(record.WorkspaceId, step, string.Create(CultureInfo.InvariantCulture,
                            $"A merge put {archived} rows of archive {record.ArchiveId} and {rows - archived} other rows of workspace {record.WorkspaceId} into one part of {TableName(table)} ({part}), too many of each to list in one delete. Nothing more was deleted and nothing is lost; rerun once more rows of the workspace have been archived, or delete the archived copies by hand."));
                    }

                    await SubmitMutationAsync(table, record, BoundedDeleteSql.DeleteInPartByHash(tables, table, record.WorkspaceId, record.Cutoff, part, hashes, keep: !listArchived, record.Chunk), synchronous: true, step, null, ct).ConfigureAwait(false);
                }

                removed += archived;
            }

            if (whole.Count > 0)
            {
                await SubmitMutationAsync(table, record, BoundedDeleteSql.DeleteInParts(tables, table, record.WorkspaceId, record.Cutoff, whole, synchronous: true, record.Chunk), synchronous: true, step, null, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Submits a delete once the table has fewer unfinished mutations than <see cref="ColdstoreOptions.MutationBudget"/>,
    /// everyone's counted: ClickHouse slows every new mutation of a table past <c>number_of_mutations_to_delay</c> and
    /// refuses them past <c>number_of_mutations_to_throw</c>, Dittofeed's own deletes included, so Coldstore waits
    /// rather than add to a long queue. Within this process the count and the submit of a background delete are one
    /// critical section per table, so concurrent operations cannot all pass the same count; processes sharing a table
    /// can each overshoot by at most one. A synchronous delete (the rare repair of rows a merge moved) is counted the
    /// same way but runs outside the section, so a slow one never holds up the others.
    /// </summary>
    private Task SubmitMutationAsync(HotTable table, ArchiveRecord record, ClickHouseQuery delete, bool synchronous, string step, OperationRun? run, CancellationToken ct) =>
        SubmitWithinBudgetAsync(table, delete, synchronous, record.WorkspaceId, $"the delete for archive {record.ArchiveId} of workspace {record.WorkspaceId}", step, run, ct);

    /// <summary>The budget's wait and submit (see <see cref="SubmitMutationAsync"/>) for any delete: <paramref name="subject"/> names it in messages.</summary>
    private async Task SubmitWithinBudgetAsync(HotTable table, ClickHouseQuery delete, bool synchronous, Guid? workspaceId, string subject, string step, OperationRun? run, CancellationToken ct)
    {
        var name = TableName(table);
        var gate = MutationGates.GetOrAdd($"{engine.Description}\n{tables.Database}\n{name}", _ => new SemaphoreSlim(1, 1));
        var (submitted, unfinished) = await _budgetDrained.UntilAsync(
            async c =>
            {
                await gate.WaitAsync(c).ConfigureAwait(false);
                long unfinished;
                try
                {
                    unfinished = Convert.ToInt64(await _clickHouse.ScalarAsync(ArchiveSql.UnfinishedMutationsOfTable(tables, name), c).ConfigureAwait(false), CultureInfo.InvariantCulture);
                    if (unfinished < options.MutationBudget && !synchronous)
                    {
                        await _clickHouse.ExecuteAsync(delete, c).ConfigureAwait(false);
                        return (true, unfinished);
                    }
                }
                finally
                {
                    gate.Release();
                }

                if (unfinished < options.MutationBudget)
                {
                    await _clickHouse.ExecuteAsync(delete, c).ConfigureAwait(false);
                    return (true, unfinished);
                }

                return (false, unfinished);
            },
            static look => !look.Submitted,
            options.DeleteWaitTimeout,
            (look, wait) =>
            {
                if (wait == 0)
                {
                    LogMutationBudgetFull(logger, subject, name, look.Unfinished, options.MutationBudget);
                    run?.Starting(string.Create(CultureInfo.InvariantCulture, $"waiting for {tables.Database}.{name} to drain below {options.MutationBudget} unfinished mutations ({look.Unfinished} now)"));
                }
            },
            ct).ConfigureAwait(false);
        if (!submitted)
        {
            throw new WorkspaceOperationException(workspaceId, step, string.Create(CultureInfo.InvariantCulture,
                $"Table {tables.Database}.{name} still has {unfinished} unfinished mutations, at or above Coldstore's budget of {options.MutationBudget}, after {options.DeleteWaitTimeout}; {subject} was not submitted (its rows are archived and still hot, nothing is lost). Check system.mutations for stuck ones, then rerun; COLDSTORE_MUTATION_BUDGET sets the budget."), WorkspaceErrorKind.Failed);
        }
    }

    /// <summary>
    /// Lists the internal events again until they are the ones the archived rows derive: 200 ms, 400 ms, … apart, at
    /// most <see cref="ColdstoreOptions.CopyAttempts"/> listings.
    /// </summary>
    private readonly Poll<IReadOnlyList<PartSummary>> _internalEventsCaughtUp = new(options.Time, attempt => TimeSpan.FromMilliseconds(200 * (attempt + 1)), options.CopyAttempts);

    /// <summary>Counts a table's unfinished mutations until there is room in the budget: 50 ms doubling to 2 s.</summary>
    private readonly Poll<(bool Submitted, long Unfinished)> _budgetDrained = new(options.Time, attempt => Backoff.Geometric(TimeSpan.FromMilliseconds(50), 2, TimeSpan.FromSeconds(2), attempt));

    /// <summary>One gate per server and table, shared by every archiver of the process (see <see cref="SubmitMutationAsync"/>).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> MutationGates = new(StringComparer.Ordinal);

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 1213, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Table {Table} has {Unfinished} unfinished mutations (budget {Budget}); {Subject} waits before it is added")]
    private static partial void LogMutationBudgetFull(Microsoft.Extensions.Logging.ILogger logger, string subject, string table, long unfinished, int budget);

    private async Task<IReadOnlyList<PartSummary>> PartSummariesAsync(HotTable table, ArchiveRecord record, CancellationToken ct) =>
        [.. (await _clickHouse.QueryAsync(BoundedDeleteSql.PartSummaries(tables, table, record.WorkspaceId, record.Cutoff, record.Chunk), ct).ConfigureAwait(false))
            .Select(r => PartSummaryOf(r, table))];

    /// <summary>A part listing's row (<see cref="BoundedDeleteSql.PartSummaries"/>, <see cref="BatchSql.PartSummaries"/>); internal events derive nothing.</summary>
    private static PartSummary PartSummaryOf(ClickHouseRow row, HotTable table) => table == HotTable.Events
        ? new PartSummary(row.GetString("part"), row.GetInt64("rows"), row.GetUInt64("checksum"), row.GetInt64("derived_rows"), row.GetUInt64("derived_checksum"))
        : new PartSummary(row.GetString("part"), row.GetInt64("rows"), row.GetUInt64("checksum"), 0, 0);

    private string TableName(HotTable table) => table == HotTable.Events ? tables.Events : tables.InternalEvents;

    private static ulong Sum(IEnumerable<PartSummary> parts) => parts.Aggregate(0UL, (sum, p) => unchecked(sum + p.Checksum));

    /// <summary>
    /// A data part's name: <c>{partition}_{min block}_{max block}_{level}[_{mutation}]</c>. A merge's result covers the
    /// block range of every part it merged, and a mutated part keeps its range, so a part that holds a listed part's
    /// rows now is one whose range covers the listed one's.
    /// </summary>
    internal readonly record struct PartName(string Partition, long MinBlock, long MaxBlock)
    {
        /// <summary>Parses a part name; null for a name of another form (then it is never taken for a listed part's heir).</summary>
        public static PartName? Parse(string name)
        {
            var fields = name.Split('_');
            return fields.Length is 4 or 5
                && long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var min)
                && long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var max)
                ? new PartName(fields[0], min, max)
                : null;
        }

        /// <summary>True when this part's range holds the whole of <paramref name="other"/>'s.</summary>
        public bool Covers(PartName other) =>
            string.Equals(Partition, other.Partition, StringComparison.Ordinal) && MinBlock <= other.MinBlock && other.MaxBlock <= MaxBlock;
    }
}
