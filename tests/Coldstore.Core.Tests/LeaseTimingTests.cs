using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Services;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coldstore.Core.Tests;

/// <summary>
/// A workspace's lease on a fake clock: how a waiter polls for a held lease and gives up, and when a held one is
/// renewed or found lost. The state store is a fake that answers the three lease calls; nothing sleeps.
/// </summary>
public sealed class LeaseTimingTests
{
    private static readonly Guid Workspace = Guid.NewGuid();

    private static readonly LeaseHolder Other = new(Workspace, "other-worker", new DateTime(2026, 1, 1, 0, 5, 0, DateTimeKind.Utc));

    private sealed class Leases(FakeClock clock)
    {
        public List<TimeSpan> Tries { get; } = [];

        public List<TimeSpan> Renewals { get; } = [];

        public int GrantOnTry { get; set; } = int.MaxValue;

        public bool RenewalFindsItGone { get; set; }

        private readonly DateTimeOffset _start = clock.GetUtcNow();

        public IStateStore Store => Fakes.Of<IStateStore>((method, args) => method.Name switch
        {
            nameof(IStateStore.TryAcquireLeaseAsync) => Task.FromResult(Try()),
            nameof(IStateStore.RenewLeaseAsync) => Task.FromResult(Renew((WorkspaceLease)args[0]!)),
            nameof(IStateStore.ReleaseLeaseAsync) => Task.CompletedTask,
            _ => throw new NotSupportedException(method.Name),
        });

        private LeaseAttempt Try()
        {
            Tries.Add(clock.GetUtcNow() - _start);
            return Tries.Count >= GrantOnTry
                ? new LeaseAttempt(new WorkspaceLease(Workspace, "me", Guid.NewGuid(), DateTime.MaxValue), null)
                : new LeaseAttempt(null, Other);
        }

        private WorkspaceLease? Renew(WorkspaceLease lease)
        {
            Renewals.Add(clock.GetUtcNow() - _start);
            return RenewalFindsItGone ? null : lease;
        }
    }

    private static ColdstoreOptions Options(FakeClock clock, TimeSpan wait) =>
        new() { Time = clock, LeaseWait = wait, LeaseDuration = TimeSpan.FromSeconds(60), Owner = "me" };

    [Fact]
    public async Task A_waiter_polls_from_100_ms_doubling_to_a_second_with_jitter_and_gives_up_busy_at_the_wait_bound()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var leases = new Leases(clock);
        var acquire = LeaseScope.AcquireAsync(leases.Store, Workspace, "archive", Options(clock, TimeSpan.FromSeconds(5)), NullLogger.Instance, CancellationToken.None);

        var delays = new List<TimeSpan>();
        while (await clock.NextDelayAsync(acquire) is { } delay)
        {
            delays.Add(delay);
            clock.Advance(delay);
        }

        var busy = await Assert.ThrowsAsync<WorkspaceOperationException>(() => acquire);
        Assert.Equal(WorkspaceErrorKind.Busy, busy.Kind);
        Assert.Contains("other-worker", busy.Message, StringComparison.Ordinal);
        for (var i = 0; i < delays.Count; i++)
        {
            var planned = Math.Min(100 * Math.Pow(2, i), 1_000);
            Assert.InRange(delays[i].TotalMilliseconds, planned, planned + 49);
        }

        // One try per wait and one before them; the last try is the first at or past the bound, the one before it is not.
        Assert.Equal(delays.Count + 1, leases.Tries.Count);
        Assert.True(leases.Tries[^1] >= TimeSpan.FromSeconds(5), $"gave up at {leases.Tries[^1]}");
        Assert.True(leases.Tries[^2] < TimeSpan.FromSeconds(5), $"tried last but one at {leases.Tries[^2]}");
    }

    [Fact]
    public async Task With_no_wait_a_held_lease_fails_busy_after_one_try()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var leases = new Leases(clock);

        var busy = await Assert.ThrowsAsync<WorkspaceOperationException>(() =>
            LeaseScope.AcquireAsync(leases.Store, Workspace, "archive", Options(clock, TimeSpan.Zero), NullLogger.Instance, CancellationToken.None));

        Assert.Equal(WorkspaceErrorKind.Busy, busy.Kind);
        Assert.Single(leases.Tries);
        Assert.True(clock.NoDelayPending);
    }

    [Fact]
    public async Task A_lease_freed_while_waiting_is_taken_renewed_every_third_of_its_duration_and_reported_lost_when_gone()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var leases = new Leases(clock) { GrantOnTry = 3 };
        var acquire = LeaseScope.AcquireAsync(leases.Store, Workspace, "archive", Options(clock, TimeSpan.FromMinutes(10)), NullLogger.Instance, CancellationToken.None);
        for (var wait = 0; wait < 2; wait++)
        {
            clock.Advance((await clock.NextDelayAsync(acquire))!.Value);
        }

        var scope = await acquire;
        await using (scope)
        {
            Assert.Equal(3, leases.Tries.Count);
            var taken = leases.Tries[^1];

            // Renewed at a third of 60 s, and again.
            for (var renewal = 1; renewal <= 2; renewal++)
            {
                var delay = await clock.NextDelayAsync();
                Assert.Equal(TimeSpan.FromSeconds(20), delay);
                clock.Advance(delay!.Value);
                Assert.Equal(TimeSpan.FromSeconds(20), await NextRenewalAsync(leases, renewal) - (renewal == 1 ? taken : leases.Renewals[renewal - 2]));
                Assert.False(scope.Lost.IsCancellationRequested);
            }

            // The third finds the lease taken over: the operation is told to stop.
            leases.RenewalFindsItGone = true;
            clock.Advance((await clock.NextDelayAsync())!.Value);
            var lost = new TaskCompletionSource();
            using var registration = scope.Lost.Register(() => lost.SetResult());
            Assert.Same(lost.Task, await Task.WhenAny(lost.Task, Task.Delay(FakeClock.Patience)));
        }
    }

    /// <summary>The renewal runs on the thread pool once its timer fires: wait (in real time, briefly) until it is recorded.</summary>
    private static async Task<TimeSpan> NextRenewalAsync(Leases leases, int count)
    {
        var deadline = DateTime.UtcNow + FakeClock.Patience;
        while (leases.Renewals.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, "the renewal never ran");
            await Task.Yield();
        }

        return leases.Renewals[count - 1];
    }
}
