using System.Diagnostics;
using System.Threading.Channels;
using Coldstore.State.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Coldstore.State.Tests;

/// <summary>
/// The change feed's reconnect backoff on a fake clock, against a port nothing listens on: every connect is refused
/// at once, and each wait it then asks for is read off the clock's timers. No Postgres needed, nothing sleeps.
/// </summary>
public sealed class FeedBackoffTests
{
    /// <summary>A fake clock that hands over each delay asked of it.</summary>
    private sealed class TimerLog : FakeTimeProvider
    {
        public Channel<TimeSpan> Delays { get; } = Channel.CreateUnbounded<TimeSpan>();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Delays.Writer.TryWrite(dueTime);
            return timer;
        }
    }

    [Fact]
    public async Task A_refused_feed_reconnects_after_250_ms_doubling_with_jitter_until_the_watch_is_cancelled()
    {
        var wall = Stopwatch.StartNew();
        var clock = new TimerLog();
        var store = new PostgresStore(new NpgsqlConnectionStringBuilder("Host=127.0.0.1;Port=1;Username=nobody;Timeout=5"), NullLoggerFactory.Instance, clock);
        await using (store)
        {
            using var stop = new CancellationTokenSource();
            var watch = Task.Run(async () =>
            {
                await foreach (var _ in store.WatchWorkspaceChangesAsync(stop.Token))
                {
                }
            });

            for (var failure = 1; failure <= 5; failure++)
            {
                using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                var delay = await clock.Delays.Reader.ReadAsync(patience.Token);
                var ceiling = Math.Min(250 * Math.Pow(2, failure - 1), 30_000);
                Assert.InRange(delay.TotalMilliseconds, Math.Floor(ceiling / 2), ceiling);
                clock.Advance(delay);
            }

            await stop.CancelAsync();
            await watch.WaitAsync(TimeSpan.FromSeconds(20));
        }

        // Minutes of fake backoff; the real time is the five refused connects.
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(5), $"took {wall.Elapsed.TotalMilliseconds:0} ms of wall time");
    }
}
