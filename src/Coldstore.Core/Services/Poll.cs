using Polly;
using Polly.Retry;

namespace Coldstore.Services;

/// <summary>
/// The delay schedules of Coldstore's waits: pure functions of the attempt, so each one is tested as a number and the
/// pipelines that wait through them (<see cref="Poll{T}"/>, the worker's and the change feed's retries) keep the
/// timings they had when each was a loop of its own.
/// </summary>
internal static class Backoff
{
    /// <summary>
    /// <paramref name="first"/> × <paramref name="factor"/>^<paramref name="attempt"/> (0 for the first wait), capped at
    /// <paramref name="cap"/>. The exponent is bounded so a wait that lasts days cannot overflow into a negative delay.
    /// </summary>
    public static TimeSpan Geometric(TimeSpan first, double factor, TimeSpan cap, int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(first.TotalMilliseconds * Math.Pow(factor, Math.Clamp(attempt, 0, 64)), cap.TotalMilliseconds));

    /// <summary>
    /// "Equal jitter": half of <paramref name="ceiling"/> fixed, the other half scaled by <paramref name="random"/> (0 to
    /// 1), so processes that failed together spread out without any of them retrying much sooner than planned.
    /// </summary>
    public static TimeSpan EqualJitter(TimeSpan ceiling, double random) =>
        TimeSpan.FromMilliseconds((ceiling.TotalMilliseconds / 2) + (Math.Clamp(random, 0, 1) * ceiling.TotalMilliseconds / 2));

    /// <summary><paramref name="now"/> + <paramref name="limit"/>, saturating: a limit of days or more means "no deadline", not an overflow.</summary>
    public static DateTimeOffset Deadline(DateTimeOffset now, TimeSpan limit) =>
        limit >= DateTimeOffset.MaxValue - now ? DateTimeOffset.MaxValue : now + limit;
}

/// <summary>
/// Looks at something until it is as wanted, a time limit passes, or a number of looks is spent: Polly's retry on the
/// result (the look succeeded; what it saw is not yet the wanted state), with a delay schedule and the clock of a
/// <see cref="TimeProvider"/>. The pipeline is built once per use site; what differs per call (the wanted state, the
/// limit, what to say while waiting) travels in the call's <see cref="ResilienceContext"/>. An exception of a look is
/// never retried: it ends the wait as it always did.
/// </summary>
/// <typeparam name="T">What one look sees.</typeparam>
internal sealed class Poll<T>
{
    private static readonly ResiliencePropertyKey<Call> CallKey = new("coldstore.poll");

    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<T> _pipeline;

    /// <summary>Builds the pipeline.</summary>
    /// <param name="time">The clock of the deadlines and the delays.</param>
    /// <param name="delay">The wait after look <c>n + 1</c> (<c>n</c> from 0), before the next.</param>
    /// <param name="maxLooks">How many looks at most, the first included.</param>
    /// <param name="onRetry">Called before each wait (a real retry counts itself here); null for a plain poll.</param>
    public Poll(TimeProvider time, Func<int, TimeSpan> delay, int maxLooks = int.MaxValue, Action<T>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(delay);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLooks, 1);
        _time = time;
        _pipeline = new ResiliencePipelineBuilder<T> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<T>
            {
                Name = "coldstore.poll",
                // int.MaxValue looks are int.MaxValue - 1 retries; Polly's own bound is int.MaxValue.
                MaxRetryAttempts = maxLooks == int.MaxValue ? int.MaxValue : maxLooks - 1,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is null
                    && args.Context.Properties.TryGetValue(CallKey, out var call)
                    && call.Again(args.Outcome.Result!)
                    && _time.GetUtcNow() < call.Deadline),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(delay(args.AttemptNumber)),
                OnRetry = args =>
                {
                    onRetry?.Invoke(args.Outcome.Result!);
                    if (args.Context.Properties.TryGetValue(CallKey, out var call))
                    {
                        call.Waiting?.Invoke(args.Outcome.Result!, args.AttemptNumber);
                    }

                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>
    /// Looks until <paramref name="again"/> says the state is as wanted (false), <paramref name="limit"/> has passed since
    /// the call (checked after each look, so there is always at least one), or the looks are spent, and returns the last
    /// look: the caller says what a state still unwanted means.
    /// </summary>
    /// <param name="look">One look.</param>
    /// <param name="again">True while the state is not yet as wanted.</param>
    /// <param name="limit">How long to keep looking; null for no time limit.</param>
    /// <param name="waiting">Called before each wait with the look and its number (0 for the first wait), for progress.</param>
    /// <param name="cancellationToken">Ends the wait (the delay or the look) with <see cref="OperationCanceledException"/>.</param>
    public async ValueTask<T> UntilAsync(
        Func<CancellationToken, ValueTask<T>> look, Func<T, bool> again, TimeSpan? limit, Action<T, int>? waiting, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var deadline = limit is { } bound ? Backoff.Deadline(_time.GetUtcNow(), bound) : DateTimeOffset.MaxValue;
            context.Properties.Set(CallKey, new Call(again, deadline, waiting));
            return await _pipeline.ExecuteAsync(static (c, look) => look(c.CancellationToken), context, look).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private sealed record Call(Func<T, bool> Again, DateTimeOffset Deadline, Action<T, int>? Waiting);
}
