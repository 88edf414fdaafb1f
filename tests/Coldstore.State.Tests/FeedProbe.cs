using System.Threading.Channels;
using Coldstore.Ports;

namespace Coldstore.State.Tests;

/// <summary>
/// Consumes an <see cref="IWorkspaceChangeFeed"/> in the background so a test can wait for items with a bound and
/// without leaving a pending <c>MoveNextAsync</c> behind. Other schemas on the test server share the notify
/// channel, so waits skip ids they were not asked for.
/// </summary>
internal sealed class FeedProbe : IAsyncDisposable
{
    /// <summary>How long any expected item may take; notices arrive in milliseconds, reconnects in well under a second.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<Guid> _seen = Channel.CreateUnbounded<Guid>();
    private readonly Task _consumer;

    public FeedProbe(IWorkspaceChangeFeed feed)
    {
        _consumer = Task.Run(async () =>
        {
            try
            {
                await foreach (var id in feed.WatchWorkspaceChangesAsync(_stop.Token))
                {
                    _seen.Writer.TryWrite(id);
                }

                _seen.Writer.TryComplete();
            }
            catch (Exception e)
            {
                _seen.Writer.TryComplete(e);
                throw;
            }
        });
    }

    /// <summary>The next item, failing after <see cref="Patience"/>.</summary>
    public async Task<Guid> NextAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            return await _seen.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"The feed yielded nothing within {Patience}.");
            throw;
        }
    }

    /// <summary>Waits for <paramref name="wanted"/>; returns what came before it. Fails after <see cref="Patience"/>.</summary>
    public async Task<IReadOnlyList<Guid>> WaitForAsync(Guid wanted)
    {
        var before = new List<Guid>();
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            while (true)
            {
                var id = await _seen.Reader.ReadAsync(timeout.Token);
                if (id == wanted)
                {
                    return before;
                }

                before.Add(id);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"The feed did not yield {wanted} within {Patience}; it yielded [{string.Join(", ", before)}].");
            throw;
        }
    }

    /// <summary>Everything the feed yields during <paramref name="window"/>.</summary>
    public async Task<IReadOnlyList<Guid>> CollectForAsync(TimeSpan window)
    {
        var seen = new List<Guid>();
        using var timeout = new CancellationTokenSource(window);
        try
        {
            while (true)
            {
                seen.Add(await _seen.Reader.ReadAsync(timeout.Token));
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return seen;
        }
    }

    /// <summary>Cancels the watch and waits (bounded) for the enumeration to end; rethrows anything it threw.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _consumer.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _consumer.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
