using System.Collections.Concurrent;
using System.Threading.Channels;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Coldstore.Services;

/// <summary>How the worker schedules its work.</summary>
public sealed record WorkerOptions
{
    /// <summary>How many workspaces one worker moves at the same time.</summary>
    public int Concurrency { get; init; } = 2;

    /// <summary>How often every workspace is re-read, notifications or not.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first delay before retrying a workspace whose move failed; it doubles per failure.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest delay between retries of a failing workspace.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long to leave a workspace alone whose lease another worker or command holds.</summary>
    public TimeSpan BusyDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often to look for cold workspaces with hot events (late arrivals after their archive's cutoff) and
    /// archive those too; <see cref="Timeout.InfiniteTimeSpan"/> never looks. Not every pass, so a workspace whose
    /// application keeps writing gets one archive per interval rather than one per poll.
    /// </summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>In <see cref="ColdstoreWorker.RunOnceAsync"/>, how many rounds to run while statuses keep changing under it.</summary>
    public int OnceRounds { get; init; } = 3;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1, nameof(Concurrency));
        ArgumentOutOfRangeException.ThrowIfLessThan(PollInterval, TimeSpan.FromMilliseconds(10), nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBaseDelay, TimeSpan.Zero, nameof(RetryBaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaxDelay, RetryBaseDelay, nameof(RetryMaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(BusyDelay, TimeSpan.Zero, nameof(BusyDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(OnceRounds, 1, nameof(OnceRounds));
        if (SweepInterval != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(SweepInterval, TimeSpan.Zero, nameof(SweepInterval));
        }
    }
}

/// <summary>How one attempt on one workspace ended.</summary>
public enum WorkerOutcome
{
    /// <summary>The events are where the status says (moved now, or already there).</summary>
    Done,

    /// <summary>Another worker or command holds the workspace; it is left to them.</summary>
    Busy,

    /// <summary>The move failed; nothing was lost, and it is retried with backoff.</summary>
    Failed,

    /// <summary>The worker was stopping; the step in progress was abandoned safely and a later run resumes it.</summary>
    Cancelled,
}

/// <summary>One attempt of the worker on one workspace.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Name">Its name when the attempt began.</param>
/// <param name="Status">Its status as the move saw it.</param>
/// <param name="StorageBefore">Where its events were when the attempt began.</param>
/// <param name="StorageAfter">Where they are afterwards, as far as the worker knows.</param>
/// <param name="Action"><c>archive</c>, <c>restore</c> or <c>none</c>.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Rows">Rows moved.</param>
/// <param name="Error">Why it failed or was busy, or null.</param>
/// <param name="Duration">How long the attempt took.</param>
/// <param name="StartedAt">When the attempt began.</param>
public sealed record WorkspaceAttempt(
    Guid WorkspaceId,
    string Name,
    WorkspaceStatus Status,
    StorageState StorageBefore,
    StorageState StorageAfter,
    string Action,
    WorkerOutcome Outcome,
    long Rows,
    string? Error,
    TimeSpan Duration,
    DateTimeOffset StartedAt);

/// <summary>What one pass of the worker did.</summary>
/// <param name="Workspaces">How many workspaces there were.</param>
/// <param name="Attempts">Each attempt, in the order they finished.</param>
/// <param name="Remaining">Workspaces whose events are still not where their status says.</param>
/// <param name="Duration">How long the pass took.</param>
public sealed record WorkerPassSummary(int Workspaces, IReadOnlyList<WorkspaceAttempt> Attempts, IReadOnlyList<Workspace> Remaining, TimeSpan Duration)
{
    /// <summary>True when every workspace's events are where its status says.</summary>
    public bool Converged => Remaining.Count == 0;
}

/// <summary>
/// Keeps every workspace's events where its status says they belong: Paused and Tombstoned → cold, Active → hot.
/// It only reads the <c>Workspace</c> table, so an application in any language integrates by updating the status.
/// Safe to run several at once against one state store (each move holds the workspace's lease; a workspace another
/// worker holds is skipped) and to kill at any instant (each move resumes from the ledger).
/// </summary>
public sealed partial class ColdstoreWorker
{
    private readonly ColdstoreService _service;
    private readonly WorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<WorkspaceAttempt> _moveRetry;

    /// <summary>The readiness poll: every <see cref="WorkerOptions.PollInterval"/>, at most 5 s apart, without a limit.</summary>
    private readonly Poll<ReadinessReport> _readiness;

    /// <summary>Creates a worker over a service.</summary>
    /// <param name="service">The service whose workspaces it keeps where their status says.</param>
    /// <param name="options">How it schedules its work; the defaults when null.</param>
    /// <param name="logger">Where it logs; nowhere when null.</param>
    /// <param name="timeProvider">The clock of its polls, backoff and timings; the service's (<see cref="ColdstoreOptions.Time"/>) when null.</param>
    public ColdstoreWorker(ColdstoreService service, WorkerOptions? options = null, ILogger<ColdstoreWorker>? logger = null, TimeProvider? timeProvider = null)
    {
        _service = service ?? throw new ArgumentNullException(nameof(service));
        _options = options ?? new WorkerOptions();
        _options.Validate();
        _logger = (ILogger?)logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = timeProvider ?? service.Options.Time;
        _moveRetry = MoveRetry(_options, _time);
        _readiness = new(_time, _ => TimeSpan.FromTicks(Math.Min(_options.PollInterval.Ticks, TimeSpan.FromSeconds(5).Ticks)));
    }

    /// <summary>Receives every step of every move, tagged with its workspace (reported from the worker's threads).</summary>
    public IProgress<OperationProgress>? Progress { get; init; }

    /// <summary>Raised after every attempt on a workspace (from the worker's threads), for hosts and tests that watch.</summary>
    public event Action<WorkspaceAttempt>? AttemptFinished;

    /// <summary>True when the workspace's events are not where its status says (or a move is half-done).</summary>
    public static bool NeedsWork(Workspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        return workspace.Storage != WorkspaceLifecycle.DesiredStorage(workspace.Status);
    }

    /// <summary>
    /// One pass: moves every workspace that needs it, a bounded number at a time, then looks again (statuses may
    /// have changed meanwhile) for up to <see cref="WorkerOptions.OnceRounds"/> rounds. Failures are reported, not
    /// retried; a busy workspace is left to whoever holds it.
    /// </summary>
    /// <exception cref="ConfigurationException">Cold storage is off, so there is nothing to reconcile.</exception>
    public async Task<WorkerPassSummary> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        RequireColdStorage();
        var started = _time.GetTimestamp();
        var attempts = new List<WorkspaceAttempt>();
        var settled = new HashSet<Guid>();
        IReadOnlyList<Workspace> workspaces = [];
        for (var round = 0; round < _options.OnceRounds; round++)
        {
            workspaces = await _service.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false);
            // A workspace that failed or was busy this pass is not tried again in the same pass.
            var due = workspaces.Where(w => NeedsWork(w) && !settled.Contains(w.Id)).ToList();
            if (due.Count == 0)
            {
                break;
            }

            var results = await AttemptAllAsync(due, sweep: false, cancellationToken).ConfigureAwait(false);
            attempts.AddRange(results);
            foreach (var attempt in results.Where(a => a.Outcome != WorkerOutcome.Done))
            {
                settled.Add(attempt.WorkspaceId);
            }
        }

        if (_options.SweepInterval != Timeout.InfiniteTimeSpan)
        {
            workspaces = await _service.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false);
            var stragglers = (await _service.FindStragglersAsync(workspaces, cancellationToken).ConfigureAwait(false)).ToHashSet();
            attempts.AddRange(await AttemptAllAsync(workspaces.Where(w => stragglers.Contains(w.Id)).ToList(), sweep: true, cancellationToken).ConfigureAwait(false));
            await EraseAsync(cancellationToken).ConfigureAwait(false);
            await PurgeAsync(cancellationToken).ConfigureAwait(false);
        }

        workspaces = await _service.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false);
        await RecordFleetAsync(workspaces, cancellationToken).ConfigureAwait(false);
        var remaining = workspaces.Where(NeedsWork).ToList();
        var elapsed = _time.GetElapsedTime(started);
        LogPass(_logger, workspaces.Count, attempts.Count, remaining.Count, (long)elapsed.TotalMilliseconds);
        return new WorkerPassSummary(workspaces.Count, attempts, remaining, elapsed);
    }

    /// <summary>
    /// The retention rule, once per sweep when it is on (<see cref="ColdstoreOptions.PurgeTombstonedAfter"/>): purges
    /// archives of workspaces Tombstoned (or deleted) long enough and not held. A failure is logged, never fatal.
    /// </summary>
    private async Task PurgeAsync(CancellationToken cancellationToken)
    {
        if (_service.Options.PurgeTombstonedAfter is null)
        {
            return;
        }

        try
        {
            var outcomes = await _service.PurgeArchivesAsync(dryRun: false, cancellationToken).ConfigureAwait(false);
            if (outcomes.Count > 0)
            {
                var purged = outcomes.Count(o => o.Purged);
                var workspaces = outcomes.Select(o => o.WorkspaceId).Distinct().Count();
                LogPurgePass(_logger, purged, workspaces, outcomes.Count - purged);
            }
        }
        catch (Errors.ColdstoreException e) when (!cancellationToken.IsCancellationRequested)
        {
            LogPurgeError(_logger, e.Message);
        }
    }

    /// <summary>
    /// Waits until the engines answer and <c>init</c> has run (<see cref="ColdstoreService.CheckReadinessAsync"/>),
    /// checking every <see cref="WorkerOptions.PollInterval"/> (at most 5 s): a worker deployed beside its first
    /// <c>coldstore init</c>, or started while the state store is still coming up, begins once it can, instead of
    /// failing every workspace meanwhile.
    /// </summary>
    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        await _readiness.UntilAsync(
            ct => new ValueTask<ReadinessReport>(_service.CheckReadinessAsync(cancellationToken: ct)),
            static report => !report.Ready,
            null,
            (report, wait) =>
            {
                if (wait == 0)
                {
                    LogWaitingForReadiness(_logger, string.Join("; ", report.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Problem}")));
                }
            },
            cancellationToken).ConfigureAwait(false);

    [LoggerMessage(EventId = 1324, Level = LogLevel.Warning, Message = "Not ready yet, waiting before the first pass: {Problems}")]
    private static partial void LogWaitingForReadiness(ILogger logger, string problems);

    /// <summary>
    /// Publishes what a full listing saw to the gauges (<see cref="Diagnostics.ColdstoreTelemetry"/>): workspaces by
    /// storage state and the fleet's unfinished deletes. A failed count leaves the last one; metrics never stop a pass.
    /// </summary>
    private async Task RecordFleetAsync(IEnumerable<Workspace> workspaces, CancellationToken cancellationToken)
    {
        long? unfinished = null;
        try
        {
            unfinished = await _service.CountUnfinishedDeletesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.ColdstoreException) when (!cancellationToken.IsCancellationRequested)
        {
            // The gauge keeps its last value; the pass's own statements report the engine's trouble.
        }

        Diagnostics.ColdstoreTelemetry.RecordFleet(workspaces.GroupBy(w => w.Storage).ToDictionary(g => g.Key, g => (long)g.Count()), unfinished);
    }

    /// <summary>
    /// Pending erasures, once per sweep: those an erase left behind (its process died, or it gave up waiting for a
    /// workspace that then stayed idle) are applied here. A failure is logged, never fatal; a busy workspace's holder
    /// applies them itself.
    /// </summary>
    private async Task EraseAsync(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var (workspaceId, result, error) in await _service.ApplyAllPendingErasuresAsync(cancellationToken).ConfigureAwait(false))
            {
                if (error is not null)
                {
                    LogErasureError(_logger, workspaceId, error.Message);
                }
                else if (result is { PendingBecause: null })
                {
                    LogErasuresApplied(_logger, workspaceId, result.AlsoApplied.Count);
                }
            }
        }
        catch (Errors.ColdstoreException e) when (!cancellationToken.IsCancellationRequested)
        {
            LogErasureError(_logger, Guid.Empty, e.Message);
        }
    }

    [LoggerMessage(EventId = 1322, Level = LogLevel.Information, Message = "Workspace {WorkspaceId}: applied {Count} pending erasures")]
    private static partial void LogErasuresApplied(ILogger logger, Guid workspaceId, int count);

    [LoggerMessage(EventId = 1323, Level = LogLevel.Warning, Message = "Workspace {WorkspaceId}: pending erasures not applied this sweep: {Reason}")]
    private static partial void LogErasureError(ILogger logger, Guid workspaceId, string reason);

    [LoggerMessage(EventId = 1320, Level = LogLevel.Information, Message = "Retention: purged {Archives} archives of {Workspaces} workspaces ({Failed} left for the next sweep)")]
    private static partial void LogPurgePass(ILogger logger, int archives, int workspaces, int failed);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Warning, Message = "Retention: the purge stopped: {Reason}")]
    private static partial void LogPurgeError(ILogger logger, string reason);

    private async Task<List<WorkspaceAttempt>> AttemptAllAsync(IReadOnlyList<Workspace> workspaces, bool sweep, CancellationToken cancellationToken)
    {
        var results = new List<WorkspaceAttempt>();
        var alone = workspaces.ToList();
        if (!sweep)
        {
            // Fresh moves of several workspaces go in batches; what a batch leaves is reconciled one by one below.
            foreach (var group in Batchable(workspaces))
            {
                var (attempts, deferred) = await AttemptBatchAsync(group, cancellationToken).ConfigureAwait(false);
                results.AddRange(attempts);
                alone.RemoveAll(w => group.Contains(w) && !deferred.Contains(w));
            }
        }

        await Parallel.ForEachAsync(alone, new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = cancellationToken },
            async (workspace, ct) =>
            {
                var attempt = await AttemptAsync(workspace, sweep, ct).ConfigureAwait(false);
                lock (results)
                {
                    results.Add(attempt);
                }
            }).ConfigureAwait(false);
        return results;
    }

    /// <summary>
    /// Runs until cancelled: reads every workspace every <see cref="WorkerOptions.PollInterval"/>, and in between only
    /// the ones the state store's change notifications name (Postgres) or a move just finished, starts moves up to <see cref="WorkerOptions.Concurrency"/>
    /// at a time, and retries failures with jittered exponential backoff (<see cref="MoveRetry"/>: each workspace's moves
    /// and waits run in one pipeline; a workspace waiting out its backoff holds no slot). On cancellation it starts nothing new,
    /// stops the moves in progress at their next step (each resumes on a later run), waits for them, and returns.
    /// </summary>
    /// <exception cref="ConfigurationException">Cold storage is off, so there is nothing to reconcile.</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        RequireColdStorage();
        await WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
        var wake = Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true });
        using var stopFeed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var feed = _service.ChangeFeed is { } changes ? PumpChangesAsync(changes, wake.Writer, stopFeed.Token) : Task.CompletedTask;
        // Per workspace: its moves and the backoff between them, until one is done (or the worker stops).
        var running = new Dictionary<Guid, Task<WorkspaceAttempt>>();
        // The workspaces in running that are waiting out a backoff, each with the token that ends its wait early.
        var cooling = new ConcurrentDictionary<Guid, CancellationTokenSource>();
        // The moves in progress, batches counting one; a workspace whose backoff ends waits here for its turn.
        using var slots = new SemaphoreSlim(_options.Concurrency, _options.Concurrency);
        int Moving() => running.Count - cooling.Count;
        // Every workspace as last read: all of them at each full pass, then only those a notification named or a
        // move just finished, so a change costs one read of one workspace, not a listing of the fleet.
        var known = new Dictionary<Guid, Workspace>();
        var stale = new HashSet<Guid>();
        var lastFullList = DateTimeOffset.MinValue;
        var lastSweep = DateTimeOffset.MinValue;
        LogStarted(_logger, _options.Concurrency, _options.PollInterval.TotalSeconds, _service.ChangeFeed is not null);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                while (wake.Reader.TryRead(out var notified))
                {
                    stale.Add(notified);
                }

                try
                {
                    // Guid.Empty from the feed: changes may have been missed (it reconnected), so read everything.
                    if (now - lastFullList >= _options.PollInterval || stale.Count > FullListBeyond || stale.Contains(Guid.Empty))
                    {
                        known = (await _service.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(w => w.Id);
                        await RecordFleetAsync(known.Values, cancellationToken).ConfigureAwait(false);
                        lastFullList = now;
                        stale.Clear();
                    }
                    else
                    {
                        await RefreshAsync(known, stale, cancellationToken).ConfigureAwait(false);
                    }

                    var needing = known.Values.Where(NeedsWork).Select(w => w.Id).ToHashSet();
                    foreach (var (id, wait) in cooling.Where(c => !needing.Contains(c.Key)))
                    {
                        // Its status changed back meanwhile: the backoff is over, as it was when it was only a due time.
                        try
                        {
                            await wait.CancelAsync().ConfigureAwait(false);
                        }
                        catch (ObjectDisposedException)
                        {
                            // Its wait ended on its own just now; there is nothing left to cut short.
                        }
                    }

                    // Fresh moves of several workspaces start as batches, each taking one of the slots; a workspace the batch
                    // leaves is reconciled on its own inside the same task.
                    var due = known.Values.Where(w => needing.Contains(w.Id) && !running.ContainsKey(w.Id)).ToList();
                    foreach (var group in Batchable(due))
                    {
                        if (Moving() >= _options.Concurrency)
                        {
                            break;
                        }

                        var batch = InSlotAsync(slots, () => RunBatchAsync(group, cancellationToken), cancellationToken);
                        foreach (var workspace in group)
                        {
                            running[workspace.Id] = MoveAsync(workspace, AttemptOf(batch, workspace.Id), slots, cooling, wake.Writer, cancellationToken);
                        }
                    }

                    foreach (var workspace in known.Values.Where(w => needing.Contains(w.Id) && !running.ContainsKey(w.Id)))
                    {
                        if (Moving() >= _options.Concurrency)
                        {
                            break;
                        }

                        running[workspace.Id] = MoveAsync(workspace, null, slots, cooling, wake.Writer, cancellationToken);
                    }

                    if (_options.SweepInterval != Timeout.InfiniteTimeSpan && now - lastSweep >= _options.SweepInterval && Moving() < _options.Concurrency)
                    {
                        lastSweep = now;
                        var stragglers = await _service.FindStragglersAsync(known.Values.Where(w => !running.ContainsKey(w.Id)), cancellationToken).ConfigureAwait(false);
                        foreach (var workspace in known.Values.Where(w => stragglers.Contains(w.Id)).Take(_options.Concurrency - Moving()))
                        {
                            // A sweep is not retried: the next sweep looks again.
                            running[workspace.Id] = CountingFailureAsync(InSlotAsync(slots, () => AttemptAsync(workspace, sweep: true, cancellationToken), cancellationToken));
                        }

                        await EraseAsync(cancellationToken).ConfigureAwait(false);
                        await PurgeAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // Stopping: a cancelled read is the normal way out, not a failure.
                    break;
                }
                catch (Exception e) when (IsRecoverable(e))
                {
                    // The state store is unreachable: keep running and read everything again at the next tick.
                    LogListFailed(_logger, e.Message);
                    lastFullList = DateTimeOffset.MinValue;
                }

                // Backoff ends inside each workspace's pipeline, which wakes the loop when a move ends (see MoveAsync).
                var nextFullList = lastFullList == DateTimeOffset.MinValue ? now + _options.PollInterval : lastFullList + _options.PollInterval;
                var delay = TimeSpan.FromTicks(Math.Clamp((nextFullList - now).Ticks, TimeSpan.FromMilliseconds(10).Ticks, _options.PollInterval.Ticks));
                await WaitForSomethingAsync(running.Values, wake.Reader, delay, cancellationToken).ConfigureAwait(false);
                foreach (var finished in Collect(running))
                {
                    stale.Add(finished);
                }
            }
        }
        finally
        {
            await stopFeed.CancelAsync().ConfigureAwait(false);
            // The moves saw the same token: they stop at their next step, and backoff waits end. Wait for them so each
            // releases its lease.
            await Task.WhenAll(running.Values).ConfigureAwait(false);
            Collect(running);
            await feed.ConfigureAwait(false);
            LogStopped(_logger);
        }
    }

    /// <summary>Past this many workspaces to re-read one by one, one listing of all of them is cheaper.</summary>
    private const int FullListBeyond = 256;

    /// <summary>Re-reads the workspaces named in <paramref name="stale"/>, one each; one that is gone is forgotten.</summary>
    private async Task RefreshAsync(Dictionary<Guid, Workspace> known, HashSet<Guid> stale, CancellationToken cancellationToken)
    {
        foreach (var id in stale.ToList())
        {
            if (await _service.FindWorkspaceAsync(id, cancellationToken).ConfigureAwait(false) is { } workspace)
            {
                known[id] = workspace;
            }
            else
            {
                known.Remove(id);
            }

            stale.Remove(id);
        }
    }

    /// <summary>Throws <see cref="ConfigurationException"/> when cold storage is off, so a host can refuse to start the worker.</summary>
    public void RequireColdStorage()
    {
        if (!_service.Options.ColdStorageEnabled)
        {
            throw new ConfigurationException(Configuration.ColdstoreSettings.ColdStorageVariable,
                $"Cold storage is off ({Configuration.ColdstoreSettings.ColdStorageVariable}=off), so the worker has nothing to do; turn it on to let the worker move events.");
        }
    }

    /// <summary>
    /// Groups of at least two workspaces that need the same fresh move (hot to cold, or cold to hot), at most a batch
    /// each. Half-done moves and single workspaces are reconciled alone.
    /// </summary>
    private IEnumerable<List<Workspace>> Batchable(IEnumerable<Workspace> workspaces)
    {
        var list = workspaces.ToList();
        foreach (var (from, to) in new[] { (StorageState.Hot, StorageState.Cold), (StorageState.Cold, StorageState.Hot) })
        {
            var group = list.Where(w => w.Storage == from && WorkspaceLifecycle.DesiredStorage(w.Status) == to).ToList();
            if (group.Count < 2)
            {
                continue;
            }

            foreach (var chunk in group.Chunk(_service.Options.BatchSize))
            {
                yield return [.. chunk];
            }
        }
    }

    /// <summary>A batch and then, one by one, what it deferred: every workspace's attempt.</summary>
    private async Task<List<WorkspaceAttempt>> RunBatchAsync(List<Workspace> group, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var (attempts, deferred) = await AttemptBatchAsync(group, cancellationToken).ConfigureAwait(false);
        foreach (var workspace in deferred)
        {
            attempts.Add(await AttemptAsync(workspace, sweep: false, cancellationToken).ConfigureAwait(false));
        }

        return attempts;
    }

    private static async Task<WorkspaceAttempt> AttemptOf(Task<List<WorkspaceAttempt>> batch, Guid workspaceId) =>
        (await batch.ConfigureAwait(false)).Single(a => a.WorkspaceId == workspaceId);

    /// <summary>
    /// Moves a group in one batch (<see cref="ColdstoreService.ReconcileWorkspacesAsync"/>) and reports each workspace it
    /// settled; the ones it deferred (status changed, or not a batch's to take) are returned for the caller.
    /// </summary>
    private async Task<(List<WorkspaceAttempt> Attempts, List<Workspace> Deferred)> AttemptBatchAsync(List<Workspace> group, CancellationToken cancellationToken)
    {
        var startedAt = _time.GetUtcNow();
        var started = _time.GetTimestamp();
        var toCold = WorkspaceLifecycle.DesiredStorage(group[0].Status) == StorageState.Cold;
        var action = toCold ? "archive" : "restore";
        WorkspaceAttempt Result(Workspace w, WorkerOutcome outcome, StorageState after, string done, long rows, string? error) =>
            new(w.Id, w.Name, w.Status, w.Storage, after, done, outcome, rows, error, _time.GetElapsedTime(started), startedAt);

        var attempts = new List<WorkspaceAttempt>();
        var deferred = new List<Workspace>();
        try
        {
            var outcomes = (await _service.ReconcileWorkspacesAsync([.. group.Select(w => w.Id)], toCold, Progress, cancellationToken).ConfigureAwait(false))
                .ToDictionary(o => o.WorkspaceId);
            foreach (var workspace in group)
            {
                var outcome = outcomes[workspace.Id];
                if (outcome.Deferred)
                {
                    deferred.Add(workspace);
                }
                else if (outcome.Result is { } result)
                {
                    attempts.Add(Result(workspace, WorkerOutcome.Done, result.Storage, action, result.Rows, null));
                }
                else
                {
                    attempts.Add(Result(workspace, IsBusy(outcome.Error!) ? WorkerOutcome.Busy : WorkerOutcome.Failed, workspace.Storage, "none", 0, outcome.Error!.Message));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            attempts.AddRange(group.Select(w => Result(w, WorkerOutcome.Cancelled, w.Storage, "none", 0, "stopped; the next run resumes it")));
        }
        catch (Exception e) when (IsRecoverable(e))
        {
            attempts.AddRange(group.Select(w => Result(w, WorkerOutcome.Failed, w.Storage, "none", 0, e.Message)));
        }

        foreach (var attempt in attempts)
        {
            Log(attempt);
            AttemptFinished?.Invoke(attempt);
        }

        return (attempts, deferred);
    }

    /// <summary>
    /// A move that another holder has, or took over while this one stalled (a lost lease): it is that holder's to
    /// finish, so it is left alone for a while rather than counted as a failure.
    /// </summary>
    private static bool IsBusy(Exception error) =>
        error is LeaseLostException or WorkspaceOperationException { Kind: WorkspaceErrorKind.Busy };

    /// <summary>Moves one workspace and reports how it went; never throws except for bugs.</summary>
    private async Task<WorkspaceAttempt> AttemptAsync(Workspace workspace, bool sweep, CancellationToken cancellationToken)
    {
        // Let the caller's loop go on at once; the move runs on the thread pool.
        await Task.Yield();
        var startedAt = _time.GetUtcNow();
        var started = _time.GetTimestamp();
        WorkspaceAttempt Result(WorkerOutcome outcome, WorkspaceStatus status, StorageState after, string action, long rows, string? error) =>
            new(workspace.Id, workspace.Name, status, workspace.Storage, after, action, outcome, rows, error, _time.GetElapsedTime(started), startedAt);

        WorkspaceAttempt attempt;
        try
        {
            var result = sweep
                ? await _service.ArchiveStragglersAsync(workspace.Id, TimeSpan.Zero, Progress, cancellationToken).ConfigureAwait(false)
                : await _service.ReconcileWorkspaceAsync(workspace.Id, TimeSpan.Zero, Progress, cancellationToken).ConfigureAwait(false);
            attempt = Result(WorkerOutcome.Done, result.Workspace.Status, result.Storage, result.Action, result.Operation?.Rows ?? 0, null);
        }
        catch (Exception e) when (IsBusy(e))
        {
            attempt = Result(WorkerOutcome.Busy, workspace.Status, workspace.Storage, "none", 0, e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            attempt = Result(WorkerOutcome.Cancelled, workspace.Status, workspace.Storage, "none", 0, "stopped; the next run resumes it");
        }
        catch (Exception e) when (IsRecoverable(e))
        {
            attempt = Result(WorkerOutcome.Failed, workspace.Status, workspace.Storage, "none", 0, e.Message);
        }

        Log(attempt);
        AttemptFinished?.Invoke(attempt);
        return attempt;
    }

    private void Log(WorkspaceAttempt attempt)
    {
        switch (attempt.Outcome)
        {
            case WorkerOutcome.Done when attempt.Action != "none":
                LogMoved(_logger, attempt.WorkspaceId, attempt.Action, attempt.Rows, attempt.StorageAfter, (long)attempt.Duration.TotalMilliseconds);
                break;
            case WorkerOutcome.Failed:
                LogFailed(_logger, attempt.WorkspaceId, attempt.Error);
                break;
            case WorkerOutcome.Busy:
                LogBusy(_logger, attempt.WorkspaceId);
                break;
            case WorkerOutcome.Cancelled:
                LogCancelled(_logger, attempt.WorkspaceId);
                break;
        }
    }

    /// <summary>Takes the finished workspaces out of <paramref name="running"/> and returns them.</summary>
    private static List<Guid> Collect(Dictionary<Guid, Task<WorkspaceAttempt>> running)
    {
        var finished = running.Where(r => r.Value.IsCompleted).Select(r => r.Key).ToList();
        foreach (var id in finished)
        {
            running.Remove(id);
        }

        return finished;
    }

    /// <summary>Runs <paramref name="move"/> once one of the worker's <paramref name="slots"/> is free, and frees it after.</summary>
    private static async Task<T> InSlotAsync<T>(SemaphoreSlim slots, Func<Task<T>> move, CancellationToken cancellationToken)
    {
        await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await move().ConfigureAwait(false);
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>A move that is not retried still counts its failure, as every failed move of the worker always did.</summary>
    private static async Task<WorkspaceAttempt> CountingFailureAsync(Task<WorkspaceAttempt> move)
    {
        try
        {
            var attempt = await move.ConfigureAwait(false);
            if (attempt.Outcome == WorkerOutcome.Failed)
            {
                CountRetry();
            }

            return attempt;
        }
        catch (OperationCanceledException)
        {
            return new WorkspaceAttempt(Guid.Empty, string.Empty, WorkspaceStatus.Active, StorageState.Hot, StorageState.Hot, "none", WorkerOutcome.Cancelled, 0, "stopped before it began", TimeSpan.Zero, DateTimeOffset.MinValue);
        }
    }

    /// <summary>
    /// One workspace until it is where its status says: its <paramref name="first"/> move (a batch's, or its own in a
    /// slot), then, while moves fail or find the workspace busy, the backoff of <see cref="MoveRetry"/> and another move.
    /// While it waits it is in <paramref name="cooling"/> (no slot held) and the loop, woken, may give others the slot;
    /// the loop cancels the wait if the workspace no longer needs a move. Never throws: a wait cut short ends with the
    /// last attempt, and one the worker stopped before it began with a cancelled one.
    /// </summary>
    private async Task<WorkspaceAttempt> MoveAsync(
        Workspace workspace, Task<WorkspaceAttempt>? first, SemaphoreSlim slots, ConcurrentDictionary<Guid, CancellationTokenSource> cooling,
        ChannelWriter<Guid> wake, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        WorkspaceAttempt? last = null;
        try
        {
            return await RetryMoveAsync(
                _moveRetry,
                async () =>
                {
                    cooling.TryRemove(workspace.Id, out _);
                    var move = first ?? InSlotAsync(slots, () => AttemptAsync(workspace, sweep: false, cancellationToken), cancellationToken);
                    first = null;
                    return last = await move.ConfigureAwait(false);
                },
                () =>
                {
                    cooling[workspace.Id] = wait;
                    // Like a finished move: the loop re-reads the workspace and may start another in the slot it left.
                    wake.TryWrite(workspace.Id);
                },
                wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return last ?? new WorkspaceAttempt(workspace.Id, workspace.Name, workspace.Status, workspace.Storage, workspace.Storage, "none",
                WorkerOutcome.Cancelled, 0, "stopped; the next run resumes it", TimeSpan.Zero, _time.GetUtcNow());
        }
        finally
        {
            cooling.TryRemove(workspace.Id, out _);
        }
    }

    /// <summary>
    /// Runs <paramref name="move"/> through <paramref name="pipeline"/> (<see cref="MoveRetry"/>) until it is done or
    /// cancelled; <paramref name="waiting"/> is called before each backoff. The failure count behind the delays lives
    /// in the call's context, so one pipeline serves every workspace.
    /// </summary>
    internal static async ValueTask<WorkspaceAttempt> RetryMoveAsync(
        ResiliencePipeline<WorkspaceAttempt> pipeline, Func<Task<WorkspaceAttempt>> move, Action waiting, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            context.Properties.Set(MoveKey, new MoveState(waiting));
            return await pipeline.ExecuteAsync(static async (_, move) => await move().ConfigureAwait(false), context, move).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// The worker's retry of one workspace's move (Polly's retry on the attempt's outcome, on <paramref name="time"/>):
    /// a failed move waits <see cref="RetryDelay"/> by its failures so far, a busy one <see cref="WorkerOptions.BusyDelay"/>
    /// with jitter (its failures unchanged), for as long as it takes; each failure counts one retry (<c>move_failed</c>).
    /// </summary>
    internal static ResiliencePipeline<WorkspaceAttempt> MoveRetry(WorkerOptions options, TimeProvider time) =>
        new ResiliencePipelineBuilder<WorkspaceAttempt> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<WorkspaceAttempt>
            {
                Name = "coldstore.worker.move",
                MaxRetryAttempts = int.MaxValue,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Outcome: WorkerOutcome.Failed or WorkerOutcome.Busy }),
                DelayGenerator = args =>
                {
                    // Polly asks for the delay once per retry, before OnRetry: the one place that sees every failure in order.
                    var state = args.Context.Properties.GetValue(MoveKey, null!);
                    if (args.Outcome.Result!.Outcome == WorkerOutcome.Busy)
                    {
                        return ValueTask.FromResult<TimeSpan?>(Jitter(options.BusyDelay));
                    }

                    var failures = state is null ? args.AttemptNumber + 1 : ++state.Failures;
                    return ValueTask.FromResult<TimeSpan?>(RetryDelay(options, failures));
                },
                OnRetry = args =>
                {
                    if (args.Outcome.Result!.Outcome == WorkerOutcome.Failed)
                    {
                        CountRetry();
                    }

                    args.Context.Properties.GetValue(MoveKey, null!)?.Waiting();
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    private static readonly ResiliencePropertyKey<MoveState> MoveKey = new("coldstore.worker.move");

    private static void CountRetry() =>
        Diagnostics.ColdstoreTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("coldstore.reason", "move_failed"));

    /// <summary>Exponential backoff with "equal jitter": half fixed, half random, so failing workers spread out.</summary>
    internal static TimeSpan RetryDelay(WorkerOptions options, int failures) =>
        Jitter(Backoff.Geometric(options.RetryBaseDelay, 2, options.RetryMaxDelay, Math.Min(failures - 1, 20)));

    private static TimeSpan Jitter(TimeSpan ceiling) => Backoff.EqualJitter(ceiling, Random.Shared.NextDouble());

    /// <summary>One workspace's retry: its failures so far and what to do before each wait.</summary>
    private sealed class MoveState(Action waiting)
    {
        public int Failures { get; set; }

        public Action Waiting => waiting;
    }

    /// <summary>Waits for a move to finish, a notification (left in the channel for the loop to read), or the delay.</summary>
    private async Task WaitForSomethingAsync(IEnumerable<Task> running, ChannelReader<Guid> wake, TimeSpan delay, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = new List<Task>(running)
        {
            Task.Delay(delay, _time, stop.Token),
            wake.WaitToReadAsync(stop.Token).AsTask(),
        };
        await Task.WhenAny(waits).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
    }

    private async Task PumpChangesAsync(IWorkspaceChangeFeed feed, ChannelWriter<Guid> wake, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var workspaceId in feed.WatchWorkspaceChangesAsync(cancellationToken).ConfigureAwait(false))
            {
                LogNotified(_logger, workspaceId);
                wake.TryWrite(workspaceId);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (IsRecoverable(e))
        {
            // Polling still finds every change; only the instant reaction is lost.
            LogFeedFailed(_logger, e.Message);
        }
    }

    /// <summary>Failures a long-running worker outlives: engine and I/O errors, not bugs.</summary>
    private static bool IsRecoverable(Exception e) =>
        e is ColdstoreException or IOException or TimeoutException or HttpRequestException or InvalidOperationException
            or System.Data.Common.DbException;

    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Worker started: {Concurrency} at a time, full pass every {PollSeconds} s, change notifications {Notifications}")]
    private static partial void LogStarted(ILogger logger, int concurrency, double pollSeconds, bool notifications);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Workspace {WorkspaceId}: {Action} moved {Rows} rows; storage now {Storage} ({ElapsedMs} ms)")]
    private static partial void LogMoved(ILogger logger, Guid workspaceId, string action, long rows, StorageState storage, long elapsedMs);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Error, Message = "Workspace {WorkspaceId}: move failed, will retry with backoff: {Reason}")]
    private static partial void LogFailed(ILogger logger, Guid workspaceId, string? reason);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Information, Message = "Workspace {WorkspaceId} is busy with another worker or command; leaving it to them")]
    private static partial void LogBusy(ILogger logger, Guid workspaceId);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Warning, Message = "Workspace {WorkspaceId}: stopped mid-move; the next run resumes it")]
    private static partial void LogCancelled(ILogger logger, Guid workspaceId);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Warning, Message = "Reading the workspaces failed; retrying at the next tick: {Reason}")]
    private static partial void LogListFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1206, Level = LogLevel.Debug, Message = "Change notification for workspace {WorkspaceId}")]
    private static partial void LogNotified(ILogger logger, Guid workspaceId);

    [LoggerMessage(EventId = 1207, Level = LogLevel.Warning, Message = "Change notifications stopped; polling continues: {Reason}")]
    private static partial void LogFeedFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1208, Level = LogLevel.Information, Message = "Pass done: {Workspaces} workspaces, {Attempts} attempts, {Remaining} not yet where their status says ({ElapsedMs} ms)")]
    private static partial void LogPass(ILogger logger, int workspaces, int attempts, int remaining, long elapsedMs);

    [LoggerMessage(EventId = 1209, Level = LogLevel.Information, Message = "Worker stopped")]
    private static partial void LogStopped(ILogger logger);
}
