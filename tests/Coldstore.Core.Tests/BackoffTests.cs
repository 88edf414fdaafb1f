using Coldstore.Domain;
using Coldstore.Services;

namespace Coldstore.Core.Tests;

/// <summary>
/// The delays Coldstore's pipelines choose, read off a fake clock as each one asks for its timer: the worker's retry
/// and busy backoff, and the delete poll. Minutes of backoff run in milliseconds; nothing sleeps.
/// </summary>
public sealed class BackoffTests
{
    private static WorkspaceAttempt Attempt(WorkerOutcome outcome) =>
        new(Guid.NewGuid(), "w", WorkspaceStatus.Paused, StorageState.Hot, StorageState.Hot, "none", outcome, 0, null, TimeSpan.Zero, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task A_failing_move_waits_five_seconds_doubling_to_five_minutes_with_equal_jitter_then_stops_once_done()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var options = new WorkerOptions();
        var pipeline = ColdstoreWorker.MoveRetry(options, clock);
        const int failures = 10;
        var moves = 0;
        var waits = 0;
        var run = ColdstoreWorker.RetryMoveAsync(pipeline, () => Task.FromResult(Attempt(++moves <= failures ? WorkerOutcome.Failed : WorkerOutcome.Done)), () => waits++, CancellationToken.None).AsTask();

        for (var failure = 1; failure <= failures; failure++)
        {
            var delay = (await clock.NextDelayAsync(run))!.Value;
            var ceiling = Math.Min(5 * Math.Pow(2, failure - 1), 300);
            Assert.InRange(delay.TotalSeconds, ceiling / 2, ceiling);
            Assert.Equal(failure, moves);
            clock.Advance(delay);
        }

        Assert.Equal(WorkerOutcome.Done, (await run).Outcome);
        Assert.Equal((failures + 1, failures), (moves, waits));
    }

    [Fact]
    public async Task A_busy_workspace_is_left_for_the_busy_delay_with_jitter_and_does_not_grow_the_failure_backoff()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var options = new WorkerOptions { BusyDelay = TimeSpan.FromSeconds(5), RetryBaseDelay = TimeSpan.FromSeconds(20), RetryMaxDelay = TimeSpan.FromMinutes(5) };
        var outcomes = new Queue<WorkerOutcome>([WorkerOutcome.Busy, WorkerOutcome.Failed, WorkerOutcome.Busy, WorkerOutcome.Busy, WorkerOutcome.Failed, WorkerOutcome.Done]);
        var run = ColdstoreWorker.RetryMoveAsync(ColdstoreWorker.MoveRetry(options, clock), () => Task.FromResult(Attempt(outcomes.Dequeue())), () => { }, CancellationToken.None).AsTask();

        // Busy, first failure, busy, busy, second failure: the failures' ceilings are 20 s then 40 s, never the busy waits'.
        foreach (var ceiling in new[] { 5.0, 20, 5, 5, 40 })
        {
            var delay = (await clock.NextDelayAsync(run))!.Value;
            Assert.InRange(delay.TotalSeconds, ceiling / 2, ceiling);
            clock.Advance(delay);
        }

        Assert.Equal(WorkerOutcome.Done, (await run).Outcome);
    }

    [Fact]
    public async Task A_backoff_wait_ends_when_cancelled_without_another_move()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        using var stop = new CancellationTokenSource();
        var moves = 0;
        var run = ColdstoreWorker.RetryMoveAsync(ColdstoreWorker.MoveRetry(new WorkerOptions(), clock), () => Task.FromResult(Attempt(WorkerOutcome.Failed)), () => moves++, stop.Token).AsTask();

        Assert.NotNull(await clock.NextDelayAsync(run));
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(1, moves);
    }

    [Fact]
    public void The_delete_poll_starts_at_20_ms_and_grows_by_half_to_250_ms()
    {
        Assert.Equal(
            [20, 30, 45, 67.5, 101.25, 151.875, 227.8125, 250, 250, 250],
            Enumerable.Range(0, 10).Select(attempt => WorkspaceArchiver.DeletePoll(attempt).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromMilliseconds(250), WorkspaceArchiver.DeletePoll(int.MaxValue));
    }

    [Fact]
    public async Task A_poll_waits_on_its_schedule_until_the_state_is_wanted()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var pending = new Queue<long>([5, 4, 3, 2, 1, 1, 1, 1, 1, 0]);
        var looks = new List<DateTimeOffset>();
        var waited = new List<(long Pending, int Wait)>();
        var run = new Poll<long>(clock, WorkspaceArchiver.DeletePoll).UntilAsync(
            _ =>
            {
                looks.Add(clock.GetUtcNow());
                return ValueTask.FromResult(pending.Dequeue());
            },
            p => p > 0, TimeSpan.FromMinutes(30), (p, wait) => waited.Add((p, wait)), CancellationToken.None).AsTask();

        for (var attempt = 0; attempt < 9; attempt++)
        {
            var delay = await clock.NextDelayAsync(run);
            Assert.Equal(WholeMilliseconds(WorkspaceArchiver.DeletePoll(attempt)), delay);
            clock.Advance(delay!.Value);
        }

        Assert.Equal(0, await run);
        Assert.Equal(10, looks.Count);
        Assert.Equal(
            Enumerable.Range(0, 9).Select(attempt => WholeMilliseconds(WorkspaceArchiver.DeletePoll(attempt))),
            looks.Zip(looks.Skip(1), (a, b) => b - a));
        Assert.Equal([(5L, 0), (4L, 1)], waited.Take(2));
    }

    /// <summary>Task.Delay, with or without a TimeProvider, waits whole milliseconds (as the hand-written loops did too).</summary>
    private static TimeSpan WholeMilliseconds(TimeSpan delay) => TimeSpan.FromMilliseconds(Math.Floor(delay.TotalMilliseconds));

    [Fact]
    public async Task A_poll_stops_at_its_time_limit_and_returns_the_last_look()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var start = clock.GetUtcNow();
        var looks = new List<TimeSpan>();
        var run = new Poll<long>(clock, WorkspaceArchiver.DeletePoll).UntilAsync(
            _ =>
            {
                looks.Add(clock.GetUtcNow() - start);
                return ValueTask.FromResult(7L);
            },
            p => p > 0, TimeSpan.FromSeconds(1), null, CancellationToken.None).AsTask();

        while (await clock.NextDelayAsync(run) is { } delay)
        {
            clock.Advance(delay);
        }

        Assert.Equal(7, await run);
        // 20+30+45+67.5+101.25+151.875+227.8125 ms, then 250 ms apart: the first look at or past 1 s is the last.
        Assert.True(looks[^1] >= TimeSpan.FromSeconds(1), $"last look at {looks[^1]}");
        Assert.True(looks[^2] < TimeSpan.FromSeconds(1), $"second-to-last look at {looks[^2]}");
        Assert.True(looks[^1] - looks[^2] <= TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task A_poll_with_a_bound_on_its_looks_makes_no_more_and_an_exception_ends_it_at_once()
    {
        using var wall = new WallTime();
        var clock = new FakeClock();
        var poll = new Poll<int>(clock, attempt => TimeSpan.FromMilliseconds(200 * (attempt + 1)), maxLooks: 3);
        var looks = 0;
        var run = poll.UntilAsync(_ => ValueTask.FromResult(++looks), _ => true, null, null, CancellationToken.None).AsTask();
        foreach (var expected in new[] { 200, 400 })
        {
            var delay = await clock.NextDelayAsync(run);
            Assert.Equal(TimeSpan.FromMilliseconds(expected), delay);
            clock.Advance(delay!.Value);
        }

        Assert.Equal(3, await run);

        var failing = poll.UntilAsync(_ => throw new IOException("down"), _ => true, null, null, CancellationToken.None).AsTask();
        await Assert.ThrowsAsync<IOException>(() => failing);
        Assert.True(clock.NoDelayPending);
    }
}
