using System.Diagnostics;
using System.Globalization;
using Coldstore.Configuration;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Events;
using Coldstore.Ports;
using Coldstore.Sql;
using Microsoft.Extensions.Logging;

namespace Coldstore.Services;

/// <summary>
/// The operations of Coldstore, over the three ports. The CLI, the worker and library users all call this one
/// class, so every surface behaves the same.
/// </summary>
#pragma warning disable CA1001 // The tagger it holds wraps the engine client without owning it; its dispose does nothing.
public sealed partial class ColdstoreService
#pragma warning restore CA1001
{
    /// <summary>Rows sent per INSERT when ingesting: large enough for few parts, small enough to bound memory.</summary>
    public const int IngestBatchRows = 50_000;

    private readonly StatementTagger _clickHouse;
    private readonly IStateStore _state;
    private readonly IArchiveStore _archive;
    private readonly EventTables _tables;
    private readonly ILogger _logger;
    private readonly WorkspaceArchiver _archiver;

    /// <summary>Creates the service over configured adapters.</summary>
    public ColdstoreService(
        IClickHouseClient clickHouse,
        IStateStore state,
        IArchiveStore archive,
        EventTables tables,
        ColdstoreOptions? options = null,
        ILogger<ColdstoreService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(clickHouse);
        // Every statement the service sends is a span with its query id; the archiver tags (and traces) its own.
        _clickHouse = new StatementTagger(clickHouse);
        _state = state ?? throw new ArgumentNullException(nameof(state));
        _archive = archive ?? throw new ArgumentNullException(nameof(archive));
        _tables = tables ?? throw new ArgumentNullException(nameof(tables));
        Options = options ?? new ColdstoreOptions();
        Options.Validate();
        _logger = (ILogger?)logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _archiver = new WorkspaceArchiver(clickHouse, _state, _archive, _tables, Options, _logger);
    }

    /// <summary>How archive and restore behave.</summary>
    public ColdstoreOptions Options { get; }

    /// <summary>
    /// Moves the workspace's hot events up to a cutoff on ClickHouse's clock into a new archive: copy as Parquet,
    /// verify count and checksum against the hot rows, write the manifest, then delete exactly the archived rows
    /// and their internal events in the background. Resumes an interrupted archive (or first finishes an
    /// interrupted restore). A workspace with no hot events is a no-op that leaves it marked cold.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="progress">Receives each step as it completes.</param>
    /// <param name="cancellationToken">Stops between steps; rerunning resumes.</param>
    public Task<OperationResult> ColdStoreWorkspaceEventsAsync(Guid workspaceId, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ArchiveStoreOutage.RunAsync(workspaceId, "archive", _archive, progress, steps => _archiver.ArchiveAsync(workspaceId, steps, cancellationToken));

    /// <summary>
    /// Archives many workspaces in batches of <see cref="ColdstoreOptions.BatchSize"/>: each batch takes one cutoff and
    /// moves all of its workspaces with one copy, one read-back, one listing of parts and one delete per table, recording
    /// each step for all of them in one state-store transaction. Every workspace is still verified on its own and
    /// succeeds or fails on its own; one that a batch cannot take as it is (an archive left open, a copy that does not
    /// match, too many rows for a batch) is archived alone after its batch. Busy workspaces fail at once (conflict).
    /// </summary>
    /// <param name="workspaceIds">The workspaces; repeats are taken once.</param>
    /// <param name="progress">Receives each workspace's steps.</param>
    /// <param name="aloneAtOnce">How many workspaces a batch leaves are archived alone at the same time.</param>
    /// <param name="cancellationToken">Stops between steps; rerunning resumes.</param>
    /// <returns>One outcome per distinct workspace, in the order given.</returns>
    public Task<IReadOnlyList<WorkspaceOutcome>> ColdStoreWorkspacesEventsAsync(
        IReadOnlyList<Guid> workspaceIds, IProgress<OperationProgress>? progress = null, int aloneAtOnce = 2, CancellationToken cancellationToken = default) =>
        _archiver.ArchiveBatchAsync(workspaceIds, progress, id => ColdStoreWorkspaceEventsAsync(id, progress, cancellationToken), null, aloneAtOnce, cancellationToken);

    /// <summary>
    /// Restores many workspaces in batches of <see cref="ColdstoreOptions.BatchSize"/>: those with one archive and
    /// nothing hot up to its cutoff (the usual case) have their archives checked (manifests and listings each, content
    /// in one read), inserted back in one statement and verified in one; every other one is restored alone after its
    /// batch, exactly as <see cref="RestoreWorkspaceEventsAsync"/> does. Each succeeds or fails on its own.
    /// </summary>
    /// <param name="workspaceIds">The workspaces; repeats are taken once.</param>
    /// <param name="progress">Receives each workspace's steps.</param>
    /// <param name="aloneAtOnce">How many workspaces a batch leaves are restored alone at the same time.</param>
    /// <param name="cancellationToken">Stops between steps; rerunning resumes.</param>
    /// <returns>One outcome per distinct workspace, in the order given.</returns>
    public Task<IReadOnlyList<WorkspaceOutcome>> RestoreWorkspacesEventsAsync(
        IReadOnlyList<Guid> workspaceIds, IProgress<OperationProgress>? progress = null, int aloneAtOnce = 2, CancellationToken cancellationToken = default) =>
        _archiver.RestoreBatchAsync(workspaceIds, progress, id => RestoreWorkspaceEventsAsync(id, progress, cancellationToken), null, aloneAtOnce, cancellationToken);

    /// <summary>
    /// Brings every archive of the workspace back into the hot table: waits for earlier deletes, checks the
    /// archive against its manifest and the ledger, removes rows an interrupted restore left, inserts the stored
    /// columns (every other column and <c>internal_events</c> are recomputed), verifies, and only then deletes the
    /// archive's objects. A half-finished archive is first rolled back (if it deleted nothing) or finished.
    /// A workspace with no archive is a no-op that leaves it marked hot.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="progress">Receives each step as it completes.</param>
    /// <param name="cancellationToken">Stops between steps; rerunning resumes.</param>
    public Task<OperationResult> RestoreWorkspaceEventsAsync(Guid workspaceId, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ArchiveStoreOutage.RunAsync(workspaceId, "restore", _archive, progress, steps => _archiver.RestoreAsync(workspaceId, steps, cancellationToken));

    /// <summary>
    /// Tombstones a workspace as Dittofeed does (status Tombstoned; name and external id prefixed with
    /// <c>DfTombstoned-</c>) in one transaction, then, when <paramref name="moveEvents"/> is true and cold storage is
    /// on, moves its events to cold storage. With <paramref name="moveEvents"/> false the worker moves them.
    /// Repeating the call is safe: the status is left alone and the move resumes or finishes.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="moveEvents">Move the events now (true) or leave it to the worker (false).</param>
    /// <param name="progress">Receives each step of the move.</param>
    /// <param name="cancellationToken">Stops between steps; the status change stays and the worker (or a rerun) finishes the move.</param>
    public Task<LifecycleResult> TombstoneWorkspaceAsync(Guid workspaceId, bool moveEvents = true, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ChangeWorkspaceLifecycleAsync(workspaceId, WorkspaceTransition.Tombstone, moveEvents, progress, cancellationToken);

    /// <summary>
    /// Activates a tombstoned workspace (status Active; the <c>DfTombstoned-</c> prefix stripped), failing with a
    /// conflict that changes nothing when another workspace took the name or external id meanwhile; then restores its
    /// events unless <paramref name="moveEvents"/> is false.
    /// </summary>
    /// <inheritdoc cref="TombstoneWorkspaceAsync" path="/param"/>
    public Task<LifecycleResult> ActivateTombstonedWorkspaceAsync(Guid workspaceId, bool moveEvents = true, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ChangeWorkspaceLifecycleAsync(workspaceId, WorkspaceTransition.Activate, moveEvents, progress, cancellationToken);

    /// <summary>Pauses an active workspace, then archives its events unless <paramref name="moveEvents"/> is false.</summary>
    /// <inheritdoc cref="TombstoneWorkspaceAsync" path="/param"/>
    public Task<LifecycleResult> PauseWorkspaceAsync(Guid workspaceId, bool moveEvents = true, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ChangeWorkspaceLifecycleAsync(workspaceId, WorkspaceTransition.Pause, moveEvents, progress, cancellationToken);

    /// <summary>Resumes a paused workspace, then restores its events unless <paramref name="moveEvents"/> is false.</summary>
    /// <inheritdoc cref="TombstoneWorkspaceAsync" path="/param"/>
    public Task<LifecycleResult> ResumeWorkspaceAsync(Guid workspaceId, bool moveEvents = true, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ChangeWorkspaceLifecycleAsync(workspaceId, WorkspaceTransition.Resume, moveEvents, progress, cancellationToken);

    /// <summary>
    /// Moves the workspace's events to where its status says they belong (Active → hot; Paused, Tombstoned → cold),
    /// finishing or resuming any half-done archive or restore. The decision is made holding the workspace's lease,
    /// from the status as it is then. Does nothing when cold storage is off.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="leaseWait">How long to wait for another operation on the workspace; null uses <see cref="ColdstoreOptions.LeaseWait"/>.</param>
    /// <param name="progress">Receives each step.</param>
    /// <param name="cancellationToken">Stops between steps; rerunning resumes.</param>
    /// <exception cref="WorkspaceOperationException">Kind Busy when another operation holds the workspace past the wait.</exception>
    public Task<ReconcileResult> ReconcileWorkspaceAsync(Guid workspaceId, TimeSpan? leaseWait = null, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ReconcileAsync(workspaceId, leaseWait ?? Options.LeaseWait, sweepStragglers: false, progress, cancellationToken);

    /// <summary>
    /// The worker's batches: moves the workspaces whose status wants them cold (or hot) in batches, deciding under each
    /// workspace's lease from its status as it is then; a workspace whose status changed meanwhile, or that a batch
    /// cannot take as it is, comes back <see cref="WorkspaceOutcome.Deferred"/> for the caller to reconcile on its own.
    /// </summary>
    /// <param name="workspaceIds">The workspaces, all needing the same move.</param>
    /// <param name="toCold">True to archive them (their status wants them cold), false to restore them.</param>
    /// <param name="progress">Receives each workspace's steps.</param>
    /// <param name="cancellationToken">Stops between steps; a later run resumes.</param>
    public Task<IReadOnlyList<WorkspaceOutcome>> ReconcileWorkspacesAsync(
        IReadOnlyList<Guid> workspaceIds, bool toCold, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var desired = toCold ? StorageState.Cold : StorageState.Hot;
        bool Wanted(Workspace workspace) => WorkspaceLifecycle.DesiredStorage(workspace.Status) == desired;
        return toCold
            ? _archiver.ArchiveBatchAsync(workspaceIds, progress, null, Wanted, 1, cancellationToken)
            : _archiver.RestoreBatchAsync(workspaceIds, progress, null, Wanted, 1, cancellationToken);
    }

    /// <summary>
    /// For a workspace that is cold as its status wants, archives the events that became hot after its last
    /// archive's cutoff (late inserts that raced the archive, or a writer that kept sending), as a further archive.
    /// Does nothing for any other workspace, or when cold storage is off.
    /// </summary>
    /// <inheritdoc cref="ReconcileWorkspaceAsync" path="/param"/>
    public Task<ReconcileResult> ArchiveStragglersAsync(Guid workspaceId, TimeSpan? leaseWait = null, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ReconcileAsync(workspaceId, leaseWait ?? Options.LeaseWait, sweepStragglers: true, progress, cancellationToken);

    /// <summary>The one way events move to match a status: nothing when cold storage is off, else under the lease.</summary>
    private async Task<ReconcileResult> ReconcileAsync(
        Guid workspaceId, TimeSpan leaseWait, bool sweepStragglers, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        if (!Options.ColdStorageEnabled)
        {
            var workspace = await GetWorkspaceAsync(workspaceId, "reconcile", cancellationToken).ConfigureAwait(false);
            return new ReconcileResult(workspace, workspace.Storage, null);
        }

        return await ArchiveStoreOutage.RunAsync(workspaceId, "reconcile", _archive, progress,
            steps => _archiver.ReconcileAsync(workspaceId, leaseWait, sweepStragglers, steps, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Of the given workspaces, those that are cold as their status wants yet have hot events: rows that arrived
    /// after their last archive's cutoff. A workspace whose deletes are still pending is not reported (its hot rows
    /// cannot be told from the archived ones being deleted); a later look finds it.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> FindStragglersAsync(IEnumerable<Workspace> workspaces, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspaces);
        var candidates = workspaces.Where(w => w.Storage == StorageState.Cold && WorkspaceLifecycle.DesiredStorage(w.Status) == StorageState.Cold).ToList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var fleet = await ReadFleetAsync(candidates.Count == 1 ? candidates[0].Id : null, cancellationToken).ConfigureAwait(false);
        var settled = candidates.Where(w => IsSettled(fleet.PendingDeletes(w.Id), fleet.Archives(w.Id))).Select(w => w.Id).ToList();
        if (settled.Count == 0)
        {
            return [];
        }

        // A list of ids is a parameter that grows with the fleet; past a thousand, one count over the table serves.
        var countHotRows = settled.Count <= 1_000 ? EventSql.CountHotRows(_tables, settled) : EventSql.CountAllHotRows(_tables);
        var rows = await _clickHouse.QueryAsync(countHotRows, cancellationToken).ConfigureAwait(false);
        var withRows = rows.Where(r => r.GetInt64("hot_rows") > 0).Select(r => r.GetString("workspace_id")).ToHashSet(StringComparer.Ordinal);
        return settled.Where(id => withRows.Contains(EventSql.WorkspaceIdText(id))).ToList();
    }

    /// <summary>
    /// Applies any lifecycle transition (what <see cref="PauseWorkspaceAsync"/> and its siblings each do for one),
    /// for callers that hold the transition as a value.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="transition">Which lifecycle change.</param>
    /// <param name="moveEvents">Move the events now (true) or leave it to the worker (false).</param>
    /// <param name="progress">Receives each step of the move.</param>
    /// <param name="cancellationToken">Stops between steps; the status change stays and the worker (or a rerun) finishes the move.</param>
    public async Task<LifecycleResult> ChangeWorkspaceLifecycleAsync(
        Guid workspaceId, WorkspaceTransition transition, bool moveEvents = true, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var change = await _state.ChangeWorkspaceStatusAsync(workspaceId, transition, cancellationToken).ConfigureAwait(false);
        LogStatusChanged(_logger, workspaceId, transition, change.Before.Status, change.After.Status, change.Changed);
        if (!moveEvents || !Options.ColdStorageEnabled)
        {
            return new LifecycleResult(transition, change, null, Options.ColdStorageEnabled);
        }

        var reconcile = await ReconcileAsync(workspaceId, Options.LifecycleLeaseWait, sweepStragglers: false, progress, cancellationToken).ConfigureAwait(false);
        return new LifecycleResult(transition, change, reconcile, Options.ColdStorageEnabled);
    }

    /// <summary>Re-reads every archive of the workspace and compares it with its manifest and ledger row. Changes nothing.</summary>
    public Task<IReadOnlyList<ArchiveCheck>> VerifyWorkspaceArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _archiver.VerifyAsync(workspaceId, cancellationToken);

    /// <summary>
    /// Runs a read-only query over the workspace's archived rows, in place: in <paramref name="sql"/>,
    /// <c>user_events_v2</c> names those rows, with every column of the hot table (the derived ones computed as the table
    /// computes them). Only one SELECT reading nothing but that name is accepted; anything else is refused
    /// (<see cref="WorkspaceErrorKind.InvalidInput"/>) before it runs. The rows come back to .NET: this is for answers,
    /// not for moving data.
    /// </summary>
    public Task<ArchiveQueryResult> QueryArchivesAsync(Guid workspaceId, string sql, CancellationToken cancellationToken = default) =>
        _archiver.QueryAsync(workspaceId, sql, cancellationToken);

    /// <summary>
    /// Erases users from the workspace's data: their events leave the hot tables (with the internal events derived from
    /// them) and every archive of the workspace, whose objects that hold them are rewritten through ClickHouse without
    /// them, verified, and swapped in by a new manifest. The erasure is recorded first (who asks, when, and salted
    /// hashes of the ids, never the ids); when another operation holds the workspace, that operation applies it before
    /// it finishes and the result says it is pending. An interrupted erase is finished by the next erase, archive or
    /// restore of the workspace; no archive is unrestorable at any instant.
    /// </summary>
    /// <param name="workspaceId">The workspace.</param>
    /// <param name="request">Whom to erase and who asks.</param>
    /// <param name="progress">Receives each step.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="WorkspaceOperationException">Kind InvalidInput for a request naming no id or an empty one; NotFound for an unknown workspace.</exception>
    public Task<ErasureResult> EraseUsersAsync(Guid workspaceId, ErasureRequest request, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _archiver.EraseAsync(workspaceId, request, progress, cancellationToken);
    }

    /// <summary>
    /// Applies the workspace's pending erasures (recorded while another operation held it, or interrupted), holding its
    /// lease. The result's erasure is null; <see cref="ErasureResult.AlsoApplied"/> lists what was applied.
    /// </summary>
    public Task<ErasureResult> ApplyPendingErasuresAsync(Guid workspaceId, IProgress<OperationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        _archiver.EraseAsync(workspaceId, null, progress, cancellationToken);

    /// <summary>
    /// Applies every workspace's pending erasures (the worker's sweep): each workspace under its lease, one failing or
    /// busy stopping none of the others (a busy one's holder applies its erasures before it ends). Returns one result or
    /// error per workspace that had any.
    /// </summary>
    public async Task<IReadOnlyList<(Guid WorkspaceId, ErasureResult? Result, ColdstoreException? Error)>> ApplyAllPendingErasuresAsync(CancellationToken cancellationToken = default)
    {
        var results = new List<(Guid, ErasureResult?, ColdstoreException?)>();
        foreach (var workspaceId in (await _state.ListPendingErasuresAsync(cancellationToken).ConfigureAwait(false)).Select(e => e.WorkspaceId).Distinct())
        {
            try
            {
                results.Add((workspaceId, await _archiver.EraseAsync(workspaceId, null, null, cancellationToken).ConfigureAwait(false), null));
            }
            catch (ColdstoreException e) when (!cancellationToken.IsCancellationRequested)
            {
                results.Add((workspaceId, null, e));
            }
        }

        return results;
    }

    /// <summary>Unfinished deletes of the events tables that name a workspace, summed over the fleet (one statement).</summary>
    internal async Task<long> CountUnfinishedDeletesAsync(CancellationToken cancellationToken) =>
        (await _clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(_tables), cancellationToken).ConfigureAwait(false)).Sum(r => r.GetInt64("pending"));

    /// <summary>The workspace's erasures, oldest first (hashes only), as the ledger has them.</summary>
    public Task<IReadOnlyList<ErasureRecord>> ListErasuresAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _state.ListErasuresAsync(workspaceId, cancellationToken);

    /// <summary>Every archive of the workspace: ledger state, cutoff, chunk, rows, checksum, and the objects, sizes and months its manifest lists.</summary>
    public Task<IReadOnlyList<ArchiveDescription>> DescribeArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _archiver.DescribeAsync(workspaceId, cancellationToken);

    /// <summary>
    /// Applies the retention rule now (<see cref="ColdstoreOptions.PurgeTombstonedAfter"/>): purges the archives of
    /// workspaces Tombstoned that long, or whose row was deleted that long ago, unless under a legal hold; with
    /// <paramref name="dryRun"/>, only lists them. One workspace failing stops none of the others.
    /// </summary>
    /// <exception cref="ConfigurationException">Retention is off.</exception>
    public Task<IReadOnlyList<PurgeOutcome>> PurgeArchivesAsync(bool dryRun = false, CancellationToken cancellationToken = default) =>
        Options.PurgeTombstonedAfter is { } after
            ? _archiver.PurgeAsync(after, dryRun, Options.Time.GetUtcNow().UtcDateTime, cancellationToken)
            : throw new ConfigurationException(ColdstoreSettings.PurgeAfterVariable,
                $"Retention is off, so nothing is ever purged: set {ColdstoreSettings.PurgeAfterVariable} (or --purge-after-days) to the days a workspace stays Tombstoned before its archives go.");

    /// <summary>
    /// Places a legal hold on the workspace's archives (or replaces its reason): no purge touches them until it is
    /// released. The workspace's row may be gone, as long as the ledger knows its archives.
    /// </summary>
    public async Task<WorkspaceHold> PlaceHoldAsync(Guid workspaceId, string reason, CancellationToken cancellationToken = default)
    {
        await RequireKnownAsync(workspaceId, "hold", cancellationToken).ConfigureAwait(false);
        return await _state.PlaceHoldAsync(workspaceId, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lifts the workspace's legal hold; false when it had none.</summary>
    public Task<bool> ReleaseHoldAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _state.ReleaseHoldAsync(workspaceId, cancellationToken);

    /// <summary>Every legal hold.</summary>
    public Task<IReadOnlyList<WorkspaceHold>> ListHoldsAsync(CancellationToken cancellationToken = default) =>
        _state.ListHoldsAsync(cancellationToken);

    private async Task RequireKnownAsync(Guid workspaceId, string step, CancellationToken cancellationToken)
    {
        if (await _state.GetWorkspaceAsync(workspaceId, cancellationToken).ConfigureAwait(false) is null
            && (await _state.ListArchivesAsync(workspaceId, cancellationToken).ConfigureAwait(false)).Count == 0)
        {
            throw new WorkspaceOperationException(workspaceId, step, $"Workspace {workspaceId} does not exist and has no archive; check the id.", WorkspaceErrorKind.NotFound);
        }
    }

    /// <summary>Full-row checksums of a workspace in both event tables, for proving a round trip exact.</summary>
    public async Task<WorkspaceChecksums> GetWorkspaceChecksumsAsync(Guid workspaceId, CancellationToken cancellationToken = default)
    {
        await GetWorkspaceAsync(workspaceId, "checksum", cancellationToken).ConfigureAwait(false);
        var row = (await _clickHouse.QueryAsync(ArchiveSql.WorkspaceChecksums(_tables, workspaceId), cancellationToken).ConfigureAwait(false)).Single();
        return new WorkspaceChecksums(workspaceId, row.GetInt64("event_rows"), row.GetUInt64("event_checksum"), row.GetInt64("internal_rows"), row.GetUInt64("internal_checksum"));
    }

    /// <summary>Every workspace, ordered by creation time, then id.</summary>
    public Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default) =>
        _state.ListWorkspacesAsync(cancellationToken);

    /// <summary>The state store's change notifications (Postgres), or null when it can only be polled (SQLite).</summary>
    public IWorkspaceChangeFeed? ChangeFeed => _state as IWorkspaceChangeFeed;

    /// <summary>The ledger rows of a workspace, oldest first.</summary>
    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _state.ListArchivesAsync(workspaceId, cancellationToken);

    /// <summary>The ClickHouse tables the service works on.</summary>
    public EventTables Tables => _tables;

    /// <summary>
    /// Migrates the state store and creates the ClickHouse database, tables and view that are missing.
    /// Running it again changes nothing; existing tables are never altered, but one that lacks the columns
    /// Coldstore needs is reported.
    /// </summary>
    public async Task<InitResult> InitializeAsync(CancellationToken cancellationToken = default)
    {
        await _state.MigrateAsync(cancellationToken).ConfigureAwait(false);
        foreach (var statement in SchemaSql.CreateDatabaseAndEvents(_tables))
        {
            await _clickHouse.ExecuteAsync(statement, cancellationToken).ConfigureAwait(false);
        }

        // Check an events table that existed before creating anything that depends on it, so a foreign table is
        // reported plainly and nothing is left half-created beside it.
        foreach (var table in await _clickHouse.QueryAsync(TableEngines.Read(_tables), cancellationToken).ConfigureAwait(false))
        {
            if (TableEngines.Problem($"{_tables.Database}.{table.GetString("name")}", table.GetString("engine"), table.GetString("engine_full")) is { } problem)
            {
                throw new WorkspaceOperationException(null, "init", $"{problem}. Nothing was created or changed.", WorkspaceErrorKind.InvalidInput);
            }
        }

        var missing = await _clickHouse.QueryAsync(SchemaSql.MissingColumns(_tables), cancellationToken).ConfigureAwait(false);
        if (missing.Count > 0)
        {
            var names = string.Join(", ", missing.Select(row => row.GetString("name")));
            throw new WorkspaceOperationException(
                null,
                "init",
                $"The existing table {_tables.Database}.{_tables.Events} lacks the columns {names} that Coldstore copies or internal_events_mv reads; nothing was created or changed. Point COLDSTORE_CLICKHOUSE_DATABASE at Dittofeed's database or create the table with Dittofeed's schema.",
                WorkspaceErrorKind.Failed);
        }

        var derived = SchemaSql.CreateDerived(_tables);
        foreach (var statement in derived)
        {
            await _clickHouse.ExecuteAsync(statement, cancellationToken).ConfigureAwait(false);
        }

        var statementCount = SchemaSql.CreateDatabaseAndEvents(_tables).Count + derived.Count;

        var applied = await _state.AppliedMigrationsAsync(cancellationToken).ConfigureAwait(false);
        LogInitialized(_logger, applied.Count, statementCount);
        return new InitResult(applied, statementCount);
    }

    /// <summary>
    /// Fails with a clear "run init" error when the state store or the ClickHouse tables were never initialized,
    /// instead of letting the first statement fail with an engine's "table does not exist".
    /// </summary>
    public async Task EnsureInitializedAsync(CancellationToken cancellationToken = default)
    {
        var applied = await _state.AppliedMigrationsAsync(cancellationToken).ConfigureAwait(false);
        if (applied.Count == 0)
        {
            throw new ConfigurationException(ColdstoreSettings.StateVariable,
                $"The state store {_state.Description} is not initialized; run `coldstore init` first.");
        }

        var exists = await _clickHouse.ScalarAsync(SchemaSql.EventsTableExists(_tables), cancellationToken).ConfigureAwait(false);
        if (Convert.ToInt64(exists, CultureInfo.InvariantCulture) == 0)
        {
            throw new ConfigurationException(ColdstoreSettings.ClickHouseVariable,
                $"ClickHouse has no table {_tables.Database}.{_tables.Events}; run `coldstore init` first (or set {ColdstoreSettings.DatabaseVariable} to the database that holds it).");
        }
    }

    /// <summary>
    /// Whether this instance can work now: the state store answers and its migrations ran, ClickHouse answers and has
    /// the events table, the archive store answers a listing. Each check is bounded by <paramref name="timeout"/> (default
    /// 5 s) and reports why it failed; nothing is changed. What a readiness probe (<c>/readyz</c>) asks.
    /// </summary>
    public async Task<ReadinessReport> CheckReadinessAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var bound = timeout ?? TimeSpan.FromSeconds(5);
        var checks = new[]
        {
            await CheckAsync("state", async ct =>
            {
                var applied = await _state.AppliedMigrationsAsync(ct).ConfigureAwait(false);
                return applied.Count == 0 ? $"{_state.Description} is not initialized; run `coldstore init`" : null;
            }).ConfigureAwait(false),
            await CheckAsync("clickhouse", async ct =>
                Convert.ToInt64(await _clickHouse.ScalarAsync(SchemaSql.EventsTableExists(_tables), ct).ConfigureAwait(false), CultureInfo.InvariantCulture) == 0
                    ? $"no table {_tables.Database}.{_tables.Events}; run `coldstore init`"
                    : null).ConfigureAwait(false),
            await CheckAsync("archive", async ct =>
            {
                await _archive.ListAsync("coldstore-readiness-probe/", ct).ConfigureAwait(false);
                return null;
            }).ConfigureAwait(false),
        };
        return new ReadinessReport(checks.All(c => c.Ok), checks);

        async Task<ReadinessCheck> CheckAsync(string name, Func<CancellationToken, Task<string?>> check)
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(bound);
            try
            {
                var problem = await check(bounded.Token).ConfigureAwait(false);
                return new ReadinessCheck(name, problem is null, problem);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                return new ReadinessCheck(name, false, e is OperationCanceledException ? $"no answer within {bound.TotalSeconds:0.#} s" : e.Message);
            }
        }
    }

    /// <summary>Creates a workspace (Active, hot).</summary>
    public async Task<Workspace> CreateWorkspaceAsync(NewWorkspace workspace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        if (string.IsNullOrWhiteSpace(workspace.Name))
        {
            throw new WorkspaceOperationException(workspace.Id, "create-workspace", "A workspace needs a non-empty name.", WorkspaceErrorKind.InvalidInput);
        }

        var created = await _state.CreateWorkspaceAsync(workspace, cancellationToken).ConfigureAwait(false);
        LogWorkspaceCreated(_logger, created.Id, created.Name);
        return created;
    }

    /// <summary>Reads a workspace, or null when there is none with that id.</summary>
    public Task<Workspace?> FindWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        _state.GetWorkspaceAsync(workspaceId, cancellationToken);

    /// <summary>Reads a workspace or fails with a not-found error that names it.</summary>
    public Task<Workspace> GetWorkspaceAsync(Guid workspaceId, string step, CancellationToken cancellationToken = default) =>
        _state.RequireWorkspaceAsync(workspaceId, step, cancellationToken);

    /// <summary>
    /// Inserts messages for a workspace through the normal insert path (the server sets <c>processing_time</c> and
    /// derives every other column). Messages are read lazily in batches of <see cref="IngestBatchRows"/>.
    /// </summary>
    /// <param name="workspaceId">The workspace; it must exist.</param>
    /// <param name="messages">The messages; enumerated once.</param>
    /// <param name="progress">Receives the running row count after each batch.</param>
    /// <param name="cancellationToken">Stops between batches; committed batches stay.</param>
    public async Task<IngestResult> IngestAsync(Guid workspaceId, IEnumerable<SegmentMessage> messages, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        await GetWorkspaceAsync(workspaceId, "ingest", cancellationToken).ConfigureAwait(false);
        var started = Options.Time.GetTimestamp();
        var insert = EventSql.IngestInsert(_tables);
        var workspaceText = EventSql.WorkspaceIdText(workspaceId);
        long rows = 0;
        using var buffer = new MemoryStream();
        foreach (var batch in messages.Chunk(IngestBatchRows))
        {
            cancellationToken.ThrowIfCancellationRequested();
            buffer.SetLength(0);
            JsonEachRowEncoder.Encode(batch, workspaceText, DateTime.UtcNow, buffer);
            buffer.Position = 0;
            await _clickHouse.InsertAsync(insert, "JSONEachRow", buffer, cancellationToken).ConfigureAwait(false);
            rows += batch.Length;
            progress?.Report(rows);
        }

        var elapsed = Options.Time.GetElapsedTime(started);
        LogIngested(_logger, rows, workspaceId, (long)elapsed.TotalMilliseconds);
        return new IngestResult(workspaceId, rows, elapsed);
    }

    /// <summary>
    /// Reports every workspace (or one) with its storage state and hot row count. The whole fleet takes four
    /// statements however many workspaces there are: the workspaces and the ledger from the state store, pending
    /// deletes and hot rows from ClickHouse, each grouped by workspace.
    /// </summary>
    /// <param name="workspaceId">One workspace, or null for all.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    public async Task<IReadOnlyList<WorkspaceReport>> GetStatusAsync(Guid? workspaceId = null, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<Workspace> workspaces = workspaceId is { } id
            ? [await GetWorkspaceAsync(id, "status", cancellationToken).ConfigureAwait(false)]
            : await _state.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false);
        if (workspaces.Count == 0)
        {
            return [];
        }

        var fleet = await ReadFleetAsync(workspaceId, cancellationToken).ConfigureAwait(false);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var countHotRows = workspaceId is { } one ? EventSql.CountHotRows(_tables, [one]) : EventSql.CountAllHotRows(_tables);
        foreach (var row in await _clickHouse.QueryAsync(countHotRows, cancellationToken).ConfigureAwait(false))
        {
            counts[row.GetString("workspace_id")] = row.GetInt64("hot_rows");
        }

        var reports = new List<WorkspaceReport>(workspaces.Count);
        foreach (var w in workspaces)
        {
            var ledger = fleet.Archives(w.Id);
            var archives = ledger
                .Where(a => a.State is ArchiveState.Archived or ArchiveState.Restoring or ArchiveState.Deleting)
                .ToList();
            reports.Add(new WorkspaceReport(
                w.Id, w.Name, w.Status, w.Storage,
                counts.GetValueOrDefault(EventSql.WorkspaceIdText(w.Id)),
                archives.Count,
                archives.Sum(a => a.RowCount ?? 0),
                archives.Sum(a => a.Bytes ?? 0),
                fleet.PendingDeletes(w.Id),
                ledger.OrderBy(a => a.UpdatedAt).LastOrDefault()?.LastError));
        }

        return reports;
    }

    /// <summary>
    /// The ledger rows and pending deletes of one workspace, or of every workspace, in one read of each: what status
    /// and the straggler sweep look up per workspace.
    /// </summary>
    private async Task<FleetLedger> ReadFleetAsync(Guid? workspaceId, CancellationToken cancellationToken)
    {
        var archives = workspaceId is { } id
            ? await _state.ListArchivesAsync(id, cancellationToken).ConfigureAwait(false)
            : await _state.ListAllArchivesAsync(cancellationToken).ConfigureAwait(false);
        var pending = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in await _clickHouse.QueryAsync(ArchiveSql.PendingDeletesByWorkspace(_tables), cancellationToken).ConfigureAwait(false))
        {
            pending[row.GetString("workspace_id")] = row.GetInt64("pending");
        }

        return new FleetLedger(archives.ToLookup(a => a.WorkspaceId), pending);
    }

    /// <summary>What <see cref="ReadFleetAsync"/> read, looked up per workspace.</summary>
    private sealed record FleetLedger(ILookup<Guid, ArchiveRecord> ByWorkspace, Dictionary<string, long> Pending)
    {
        public IReadOnlyList<ArchiveRecord> Archives(Guid workspaceId) => [.. ByWorkspace[workspaceId]];

        public long PendingDeletes(Guid workspaceId) => Pending.GetValueOrDefault(EventSql.WorkspaceIdText(workspaceId));
    }

    /// <summary>
    /// True once every delete of the workspace has applied (none pending in ClickHouse, no archive between submitting
    /// its deletes and confirming them): then its hot rows are not archived ones about to go.
    /// </summary>
    private static bool IsSettled(long pendingDeletes, IReadOnlyList<ArchiveRecord> archives) =>
        pendingDeletes == 0 && !archives.Any(a => a.State == ArchiveState.Deleting);

    /// <summary>Parses a workspace id given by a person, with an error that says what a valid one looks like.</summary>
    public static Guid ParseWorkspaceId(string? text, string step)
    {
        return Guid.TryParseExact(text?.Trim(), "D", out var id)
            ? id
            : throw new WorkspaceOperationException(
                null,
                step,
                string.Create(CultureInfo.InvariantCulture, $"'{text}' is not a workspace id: expected a UUID such as 0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d."),
                WorkspaceErrorKind.InvalidInput);
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Initialized: {Migrations} state migrations applied, {Statements} ClickHouse statements ensured")]
    private static partial void LogInitialized(ILogger logger, int migrations, int statements);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Created workspace {WorkspaceId} named {Name}")]
    private static partial void LogWorkspaceCreated(ILogger logger, Guid workspaceId, string name);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Workspace {WorkspaceId}: {Transition} moved status {Before} -> {After} (changed: {Changed})")]
    private static partial void LogStatusChanged(ILogger logger, Guid workspaceId, WorkspaceTransition transition, WorkspaceStatus before, WorkspaceStatus after, bool changed);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Ingested {Rows} events for workspace {WorkspaceId} in {ElapsedMs} ms")]
    private static partial void LogIngested(ILogger logger, long rows, Guid workspaceId, long elapsedMs);
}
