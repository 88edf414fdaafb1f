using Microsoft.Extensions.Logging;

namespace Coldstore.State.Postgres;

/// <summary>
/// The Postgres change feed's log messages. Event ids 3000-3099 are stable; never reuse one. 3000-3005 and 3010 are
/// the shared store's messages in this dialect (see <see cref="Relational.StoreLog"/>).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "Listening for workspace changes on {Store}")]
    public static partial void FeedListening(ILogger logger, string store);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "The workspace change feed of {Store} lost its connection; reconnecting in {Delay}")]
    public static partial void FeedLost(ILogger logger, string store, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Information, Message = "Listening for workspace changes on {Store} again; changes made meanwhile are re-read")]
    public static partial void FeedListeningAgain(ILogger logger, string store);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Ignored a notice on channel {Channel} whose payload '{Payload}' is not a workspace id ({Store})")]
    public static partial void FeedPayloadIgnored(ILogger logger, string channel, string payload, string store);
}
