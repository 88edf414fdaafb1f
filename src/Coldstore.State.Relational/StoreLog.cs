using Microsoft.Extensions.Logging;

namespace Coldstore.State.Relational;

/// <summary>
/// The state store's log messages. Each dialect keeps its own stable event ids: its <see cref="StateDialect.LogEventBase"/>
/// plus the offset here (Postgres 3000-3099, SQLite 3100-3199); never reuse one.
/// </summary>
internal sealed class StoreLog(ILogger logger, int eventBase)
{
    private readonly Action<ILogger, int, string, string, Exception?> _migrationApplied = LoggerMessage.Define<int, string, string>(
        LogLevel.Information, new EventId(eventBase + 0, "MigrationApplied"), "Applied state migration {Version} ({Name}) to {Store}");

    private readonly Action<ILogger, string, int, Exception?> _migrationsCurrent = LoggerMessage.Define<string, int>(
        LogLevel.Debug, new EventId(eventBase + 1, "MigrationsCurrent"), "State migrations of {Store} are current at version {Version}");

    private readonly Action<ILogger, Guid, string, DateTime, Exception?> _leaseAcquired = LoggerMessage.Define<Guid, string, DateTime>(
        LogLevel.Debug, new EventId(eventBase + 2, "LeaseAcquired"), "Lease of workspace {WorkspaceId} acquired by {Owner} until {ExpiresAt:o}");

    private readonly Action<ILogger, Guid, string, string?, Exception?> _leaseRefused = LoggerMessage.Define<Guid, string, string?>(
        LogLevel.Debug, new EventId(eventBase + 3, "LeaseRefused"), "Lease of workspace {WorkspaceId} refused to {Owner}: held by {Holder}");

    private readonly Action<ILogger, Guid, string, Exception?> _leaseLost = LoggerMessage.Define<Guid, string>(
        LogLevel.Warning, new EventId(eventBase + 4, "LeaseLost"), "Lease of workspace {WorkspaceId} held by {Owner} was lost before renewal");

    private readonly Action<ILogger, string, Exception?> _unavailable = LoggerMessage.Define<string>(
        LogLevel.Error, new EventId(eventBase + 5, "Unavailable"), "State store {Store} is unavailable");

    private readonly Action<ILogger, string, Guid, string, Exception?> _fencedWriteRefused = LoggerMessage.Define<string, Guid, string>(
        LogLevel.Warning, new EventId(eventBase + 10, "FencedWriteRefused"), "Refused {Step} of workspace {WorkspaceId}: the lease of {Owner} is no longer held");

    public void MigrationApplied(int version, string name, string store) => _migrationApplied(logger, version, name, store, null);

    public void MigrationsCurrent(string store, int version) => _migrationsCurrent(logger, store, version, null);

    public void LeaseAcquired(Guid workspaceId, string owner, DateTime expiresAt) => _leaseAcquired(logger, workspaceId, owner, expiresAt, null);

    public void LeaseRefused(Guid workspaceId, string owner, string? holder) => _leaseRefused(logger, workspaceId, owner, holder, null);

    public void LeaseLost(Guid workspaceId, string owner) => _leaseLost(logger, workspaceId, owner, null);

    public void Unavailable(string store, Exception exception) => _unavailable(logger, store, exception);

    public void FencedWriteRefused(string step, Guid workspaceId, string owner) => _fencedWriteRefused(logger, step, workspaceId, owner, null);
}
