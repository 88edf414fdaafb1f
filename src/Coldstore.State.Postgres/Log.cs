using Microsoft.Extensions.Logging;

namespace Coldstore.State.Postgres;

/// <summary>The Postgres state store's log messages. Event ids 3000-3099 are stable; never reuse one.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Applied state migration {Version} ({Name}) to {Store}")]
    public static partial void MigrationApplied(ILogger logger, int version, string name, string store);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "State migrations of {Store} are current at version {Version}")]
    public static partial void MigrationsCurrent(ILogger logger, string store, int version);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Lease of workspace {WorkspaceId} acquired by {Owner} until {ExpiresAt:o}")]
    public static partial void LeaseAcquired(ILogger logger, Guid workspaceId, string owner, DateTime expiresAt);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Debug, Message = "Lease of workspace {WorkspaceId} refused to {Owner}: held by {Holder}")]
    public static partial void LeaseRefused(ILogger logger, Guid workspaceId, string owner, string? holder);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Lease of workspace {WorkspaceId} held by {Owner} was lost before renewal")]
    public static partial void LeaseLost(ILogger logger, Guid workspaceId, string owner);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "State store {Store} is unavailable")]
    public static partial void Unavailable(ILogger logger, string store, Exception exception);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "Listening for workspace changes on {Store}")]
    public static partial void FeedListening(ILogger logger, string store);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "The workspace change feed of {Store} lost its connection; reconnecting in {Delay}")]
    public static partial void FeedLost(ILogger logger, string store, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Information, Message = "Listening for workspace changes on {Store} again; changes made meanwhile are re-read")]
    public static partial void FeedListeningAgain(ILogger logger, string store);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Ignored a notice on channel {Channel} whose payload '{Payload}' is not a workspace id ({Store})")]
    public static partial void FeedPayloadIgnored(ILogger logger, string channel, string payload, string store);
}
