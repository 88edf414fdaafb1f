using System.Globalization;
using System.Runtime.CompilerServices;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.Services;

/// <summary>
/// Holds a workspace's lease for the length of an operation: acquires it (waiting up to a limit), renews it in
/// the background at a third of its duration, and releases it at the end. If a renewal finds the lease lost
/// (this process stalled past the expiry and another took over), <see cref="Lost"/> is cancelled so the
/// operation stops at its next step; the ledger lets whoever holds the lease now resume cleanly.
/// </summary>
internal sealed partial class LeaseScope : IAsyncDisposable
{
    private readonly IStateStore _state;
    private readonly TimeSpan _duration;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;
    private WorkspaceLease _lease;

    private LeaseScope(IStateStore state, WorkspaceLease lease, TimeSpan duration, TimeProvider time, ILogger logger)
    {
        _time = time;
        _state = state;
        _lease = lease;
        Lease = lease;
        _duration = duration;
        _logger = logger;
        _renewal = Task.Run(RenewLoopAsync);
    }

    /// <summary>The lease as acquired; renewals keep its token, which is what fences the operation's writes.</summary>
    public WorkspaceLease Lease { get; }

    /// <summary>Cancelled when the lease is lost.</summary>
    public CancellationToken Lost => _lost.Token;

    public static async Task<LeaseScope> AcquireAsync(
        IStateStore state, Guid workspaceId, string step, ColdstoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var attempt = await LeaseWaits.GetValue(options.Time, NewLeaseWait).UntilAsync(
            ct => new ValueTask<LeaseAttempt>(state.TryAcquireLeaseAsync(workspaceId, options.Owner, options.LeaseDuration, ct)),
            static attempt => attempt.Lease is null, options.LeaseWait, null, cancellationToken).ConfigureAwait(false);
        if (attempt.Lease is not { } lease)
        {
            throw Busy(workspaceId, step, attempt.Holder);
        }

        NoteTakeover(attempt, step, logger);
        return new LeaseScope(state, lease, options.LeaseDuration, options.Time, logger);
    }

    /// <summary>
    /// Counts and logs an acquire that replaced a lapsed lease: its holder died or was cut off mid-operation, and this
    /// operation resumes what it left (every step resumes from the ledger).
    /// </summary>
    public static void NoteTakeover(LeaseAttempt attempt, string operation, ILogger logger)
    {
        if (attempt is { Lease: { } lease, TakenOverFrom: { } previous })
        {
            Diagnostics.ColdstoreTelemetry.LeaseTakeovers.Add(1, new KeyValuePair<string, object?>("coldstore.operation", OperationOf(operation)));
            LogTakeover(logger, lease.WorkspaceId, previous);
        }
    }

    /// <summary>The operation a step or operation name belongs to (<c>archive:started</c> → <c>archive</c>).</summary>
    private static string OperationOf(string step)
    {
        var colon = step.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? step : step[..colon];
    }

    /// <summary>
    /// The wait between two tries for a held lease (<paramref name="attempt"/> from 0): 100 ms doubling to 1 s, plus up
    /// to 50 ms of jitter (<paramref name="jitterMilliseconds"/>) so several waiters do not poll the state store in lockstep.
    /// </summary>
    internal static TimeSpan LeaseWaitDelay(int attempt, int jitterMilliseconds) =>
        Backoff.Geometric(TimeSpan.FromMilliseconds(100), 2, TimeSpan.FromSeconds(1), attempt) + TimeSpan.FromMilliseconds(jitterMilliseconds);

    /// <summary>One lease-wait pipeline per clock, built on first use: every acquire of a process shares it.</summary>
    private static readonly ConditionalWeakTable<TimeProvider, Poll<LeaseAttempt>> LeaseWaits = new();

    private static Poll<LeaseAttempt> NewLeaseWait(TimeProvider time) =>
        new(time, attempt => LeaseWaitDelay(attempt, Random.Shared.Next(50)),
            onRetry: _ => Diagnostics.ColdstoreTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("coldstore.reason", "lease_busy")));

    /// <summary>Holds a lease already acquired (a batch takes many in one call): renews it until disposed, then releases it.</summary>
    public static LeaseScope Hold(IStateStore state, WorkspaceLease lease, ColdstoreOptions options, ILogger logger) =>
        new(state, lease, options.LeaseDuration, options.Time, logger);

    /// <summary>The conflict an operation fails with when another holder has the workspace.</summary>
    public static WorkspaceOperationException Busy(Guid workspaceId, string step, LeaseHolder? holder)
    {
        var who = holder is null
            ? "another operation"
            : string.Create(CultureInfo.InvariantCulture, $"{holder.Owner} (lease until {holder.ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC)");
        return new WorkspaceOperationException(
            workspaceId,
            step,
            $"Workspace {workspaceId} is busy: {who} is working on it. Wait for it to finish, or retry with a longer --wait; a crashed holder's lease lapses by itself.",
            WorkspaceErrorKind.Busy);
    }

    private async Task RenewLoopAsync()
    {
        var interval = _duration / 3;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(interval, _time, _stop.Token).ConfigureAwait(false);
                try
                {
                    var renewed = await _state.RenewLeaseAsync(_lease, _duration, _stop.Token).ConfigureAwait(false);
                    if (renewed is null)
                    {
                        LogLeaseLost(_logger, _lease.WorkspaceId);
                        await _lost.CancelAsync().ConfigureAwait(false);
                        return;
                    }

                    _lease = renewed;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed renewal is retried at the next tick; the lease only lapses after a full duration.
                    LogRenewalFailed(_logger, _lease.WorkspaceId, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _renewal.ConfigureAwait(false);
        try
        {
            await _state.ReleaseLeaseAsync(_lease, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ColdstoreException or TimeoutException or IOException)
        {
            // Not releasing only delays the next operation until the lease lapses.
            LogReleaseFailed(_logger, _lease.WorkspaceId, e.Message);
        }

        _stop.Dispose();
        _lost.Dispose();
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Error, Message = "Lease on workspace {WorkspaceId} was lost; stopping the operation")]
    private static partial void LogLeaseLost(ILogger logger, Guid workspaceId);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
        Message = "Took over the lease on workspace {WorkspaceId} from {PreviousOwner}, whose lease lapsed without a release; resuming from what it recorded")]
    private static partial void LogTakeover(ILogger logger, Guid workspaceId, string previousOwner);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Renewing the lease on workspace {WorkspaceId} failed: {Reason}")]
    private static partial void LogRenewalFailed(ILogger logger, Guid workspaceId, string reason);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Releasing the lease on workspace {WorkspaceId} failed: {Reason}")]
    private static partial void LogReleaseFailed(ILogger logger, Guid workspaceId, string reason);
}
