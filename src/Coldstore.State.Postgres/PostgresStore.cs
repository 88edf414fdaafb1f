using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Coldstore.Ports;
using Coldstore.State.Relational;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Coldstore.State.Postgres;

/// <summary>
/// <see cref="IStateStore"/> over Postgres: the shared <see cref="RelationalStore"/> in the <see cref="PostgresDialect"/>
/// (which owns the pooled data source), plus what only Postgres has: the <see cref="IWorkspaceChangeFeed"/>, over
/// unpooled connections of its own.
/// </summary>
internal sealed class PostgresStore : RelationalStore, IWorkspaceChangeFeed
{
    /// <summary>The keepalive of a listening connection when the connection string sets none.</summary>
    internal const int FeedKeepAliveSeconds = 30;

    /// <summary>The wait before the first reconnect of the change feed; it doubles per failed attempt.</summary>
    internal static readonly TimeSpan FeedRetryFirst = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between reconnect attempts of the change feed.</summary>
    internal static readonly TimeSpan FeedRetryCap = TimeSpan.FromSeconds(30);

    private readonly NpgsqlDataSource _feedSource;
    private readonly TimeProvider _time;

    /// <param name="settings">The connection.</param>
    /// <param name="loggerFactory">Where it logs.</param>
    /// <param name="time">The clock of the change feed's reconnect backoff; <see cref="TimeProvider.System"/> when null (tests pass a fake).</param>
    public PostgresStore(NpgsqlConnectionStringBuilder settings, ILoggerFactory loggerFactory, TimeProvider? time = null)
        : base(new PostgresDialect(settings, loggerFactory), loggerFactory)
    {
        _time = time ?? TimeProvider.System;
        var feedBuilder = new NpgsqlDataSourceBuilder(FeedSettings(settings).ConnectionString);
        feedBuilder.UseLoggerFactory(loggerFactory);
        _feedSource = feedBuilder.Build(); // Connects only when a watch starts.
    }

    /// <summary>A description built only from non-secret connection properties.</summary>
    internal static string Describe(NpgsqlConnectionStringBuilder settings)
    {
        var user = settings.Username is null ? "" : $" as {settings.Username}";
        var schema = string.IsNullOrEmpty(settings.SearchPath) ? "" : $", search path {settings.SearchPath}";
        return $"Postgres {PostgresErrors.Endpoint(settings)}{user}{schema}";
    }

    /// <summary>
    /// The settings of a listening connection. Why unpooled: it lives as long as the watch, so it would only take a
    /// pool slot, and after a drop a fresh connection is wanted anyway. Why keepalive: an idle LISTEN never reads, so
    /// without one a silently dead peer (a NAT or proxy timeout) would go unnoticed and notices be lost for good.
    /// The application name tells operators which backend in <c>pg_stat_activity</c> is the feed.
    /// </summary>
    internal static NpgsqlConnectionStringBuilder FeedSettings(NpgsqlConnectionStringBuilder settings) =>
        new(settings.ConnectionString)
        {
            Pooling = false,
            Multiplexing = false, // Npgsql's keepalive and Wait need a connection of their own.
            KeepAlive = settings.KeepAlive > 0 ? settings.KeepAlive : FeedKeepAliveSeconds,
            TcpKeepAlive = true,
            ApplicationName = string.IsNullOrEmpty(settings.ApplicationName)
                ? "coldstore-workspace-feed"
                : settings.ApplicationName + "-workspace-feed",
        };

    /// <summary>
    /// How long the change feed waits before reconnect attempt <paramref name="failures"/> (1 for the first):
    /// <see cref="FeedRetryFirst"/> doubled per failure, capped at <see cref="FeedRetryCap"/>, then scaled into its
    /// upper half by <paramref name="jitter"/> (0 to 1). Why jitter: after a server restart every worker reconnects
    /// at once; spreading them keeps the server from a burst of logins.
    /// </summary>
    internal static TimeSpan ReconnectDelay(int failures, double jitter)
    {
        var exponent = Math.Clamp(failures - 1, 0, 30);
        var ceiling = Math.Min(FeedRetryCap.TotalMilliseconds, FeedRetryFirst.TotalMilliseconds * Math.Pow(2, exponent));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (0.5 * Math.Clamp(jitter, 0, 1))));
    }

    /// <inheritdoc />
    /// <remarks>
    /// Why a channel: Npgsql raises each notice as an event while <see cref="NpgsqlConnection.WaitAsync(CancellationToken)"/>
    /// reads, so a listening loop of its own owns the connection (and its reconnects) and the channel hands the ids
    /// over at the consumer's pace. Unbounded because notices are rare (people change workspaces) and each is tiny.
    /// </remarks>
    public async IAsyncEnumerable<Guid> WatchWorkspaceChangesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var changes = Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var listening = Task.Run(() => ListenAsync(changes.Writer, stop.Token), CancellationToken.None);
        try
        {
            while (await WaitToReadAsync(changes.Reader, cancellationToken).ConfigureAwait(false))
            {
                while (!cancellationToken.IsCancellationRequested && changes.Reader.TryRead(out var workspaceId))
                {
                    yield return workspaceId;
                }
            }
        }
        finally
        {
            // Also reached when the consumer stops early: the listening connection must not outlive the enumeration.
            await stop.CancelAsync().ConfigureAwait(false);
            await listening.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeCoreAsync()
    {
        await _feedSource.DisposeAsync().ConfigureAwait(false);
        await base.DisposeCoreAsync().ConfigureAwait(false);
    }

    // ---- the change feed's listening loop ----

    /// <summary>False once <paramref name="cancellationToken"/> is cancelled: the consumer's cancellation ends the sequence, it is no error.</summary>
    private static async ValueTask<bool> WaitToReadAsync(ChannelReader<Guid> reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Listens until cancelled: opens a connection, LISTENs, writes <see cref="Guid.Empty"/> (everything before this
    /// moment may have been missed), then waits for notices. A lost or refused connection is retried after
    /// <see cref="ReconnectDelay"/>; any other failure (the store disposed, a bug) ends the feed with that error.
    /// </summary>
    private async Task ListenAsync(ChannelWriter<Guid> changes, CancellationToken cancellationToken)
    {
        Exception? failure = null;
        var failures = 0;
        var listenedBefore = false;
        // Why a pipeline built per watch: the failure count behind its delays starts again at each successful LISTEN,
        // which is this watch's state, not the store's.
        var reconnect = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                Name = "coldstore.postgres.feed",
                MaxRetryAttempts = int.MaxValue,
                // A lost or refused connection; cancelling a wait may surface as a broken connection, which is just the end.
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is NpgsqlException or TimeoutException or IOException && !cancellationToken.IsCancellationRequested),
                DelayGenerator = _ => ValueTask.FromResult<TimeSpan?>(ReconnectDelay(++failures, Random.Shared.NextDouble())),
                OnRetry = args =>
                {
                    Log.FeedLost(Logger, Description, args.RetryDelay, args.Outcome.Exception!);
                    Coldstore.Diagnostics.ColdstoreTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("coldstore.reason", "feed_reconnect"));
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        try
        {
            await reconnect.ExecuteAsync(
                async ct =>
                {
                    var connection = await _feedSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                    await using (connection.ConfigureAwait(false))
                    {
                        connection.Notification += (_, notice) => OnNotification(changes, notice);
                        var listen = new NpgsqlCommand(PostgresSql.ListenWorkspaceChanges, connection);
                        await using (listen.ConfigureAwait(false))
                        {
                            await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                        }

                        failures = 0;
                        if (listenedBefore)
                        {
                            Log.FeedListeningAgain(Logger, Description);
                        }
                        else
                        {
                            Log.FeedListening(Logger, Description);
                        }

                        listenedBefore = true;
                        changes.TryWrite(Guid.Empty);
                        while (true)
                        {
                            await connection.WaitAsync(ct).ConfigureAwait(false);
                        }
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or NpgsqlException or TimeoutException or IOException)
        {
            // Cancelled: while listening, during a reconnect's wait, or as a connection broken by the cancel. The end, not an error.
        }
        catch (Exception e)
        {
            failure = e; // Handed to the consumer through the channel rather than lost in a background task.
        }
        finally
        {
            changes.TryComplete(failure);
        }
    }

    private void OnNotification(ChannelWriter<Guid> changes, NpgsqlNotificationEventArgs notice)
    {
        if (Guid.TryParse(notice.Payload, out var workspaceId))
        {
            changes.TryWrite(workspaceId);
        }
        else
        {
            // Someone else's NOTIFY on our channel; the trigger always sends an id. Cut so a huge payload cannot flood the log.
            var payload = notice.Payload.Length > 80 ? notice.Payload[..80] + "…" : notice.Payload;
            Log.FeedPayloadIgnored(Logger, notice.Channel, payload, Description);
        }
    }
}
