using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Coldstore.Core.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that says each delay it is asked for: Polly and <c>Task.Delay</c> wait through a
/// timer of the provider, so a test reads the delay a pipeline chose, checks it, and advances exactly that far. No
/// test sleeps; the only real waiting is for the code under test to reach its next timer, bounded by <see cref="Patience"/>.
/// </summary>
internal sealed class FakeClock : FakeTimeProvider
{
    /// <summary>How long a test waits, in real time, for the code to ask for its next delay; far more than it needs.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>The bound of a test's wall time: fake time makes minutes of backoff take milliseconds.</summary>
    public static readonly TimeSpan WallTimeBound = TimeSpan.FromSeconds(2);

    private readonly Channel<TimeSpan> _delays = Channel.CreateUnbounded<TimeSpan>();

    public FakeClock()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _delays.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The next delay asked for, or null when <paramref name="done"/> finishes first.</summary>
    public async Task<TimeSpan?> NextDelayAsync(Task? done = null)
    {
        var next = _delays.Reader.ReadAsync().AsTask();
        var first = await Task.WhenAny(next, done ?? Task.Delay(Timeout.Infinite), Task.Delay(Patience)).ConfigureAwait(false);
        if (first == next)
        {
            return await next.ConfigureAwait(false);
        }

        Assert.True(first == done, $"no delay was asked for within {Patience.TotalSeconds} s");
        return null;
    }

    /// <summary>True when no delay is pending to be read (nothing asked for one since the last read).</summary>
    public bool NoDelayPending => !_delays.Reader.TryPeek(out _);
}

/// <summary>A wall-clock guard: a test on fake time finishes in well under <see cref="FakeClock.WallTimeBound"/>.</summary>
internal sealed class WallTime : IDisposable
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    public void Dispose() => Assert.True(_watch.Elapsed < FakeClock.WallTimeBound, $"took {_watch.Elapsed.TotalMilliseconds:0} ms of wall time");
}

/// <summary>An interface fake: each call goes to <see cref="Handler"/>, which knows the few methods a test needs.</summary>
public class Fake<T> : DispatchProxy
    where T : class
{
    public Func<MethodInfo, object?[], object?> Handler { get; set; } = (method, _) => throw new NotSupportedException(method.Name);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => Handler(targetMethod!, args ?? []);
}

/// <summary>Makes <see cref="Fake{T}"/>s.</summary>
internal static class Fakes
{
    public static T Of<T>(Func<MethodInfo, object?[], object?> handler)
        where T : class
    {
        var proxy = DispatchProxy.Create<T, Fake<T>>();
        ((Fake<T>)(object)proxy).Handler = handler;
        return proxy;
    }
}
