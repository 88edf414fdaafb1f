using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// The adapter's log events (ids 2100–2199). The statement text comes from <see cref="Ports.ClickHouseQuery.ToString"/>,
/// which masks secret parameters; values never appear any other way.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Debug, Message = "ClickHouse {Purpose}: {Statement}")]
    public static partial void Running(ILogger logger, string purpose, Ports.ClickHouseQuery statement);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "ClickHouse {Purpose} finished in {ElapsedMs} ms")]
    public static partial void Finished(ILogger logger, string purpose, long elapsedMs);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "ClickHouse {Purpose} failed after {ElapsedMs} ms with code {Code} {CodeName} (transient: {IsTransient})")]
    public static partial void Failed(ILogger logger, string purpose, long elapsedMs, int code, string? codeName, bool isTransient, Exception exception);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "ClickHouse unreachable during {Purpose} after {ElapsedMs} ms")]
    public static partial void Unreachable(ILogger logger, string purpose, long elapsedMs, Exception exception);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "ClickHouse {Purpose} abandoned; asked the server to kill query {QueryId}")]
    public static partial void Killed(ILogger logger, string purpose, string queryId);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning, Message = "ClickHouse {Purpose} abandoned, and killing query {QueryId} failed: {Reason}")]
    public static partial void KillFailed(ILogger logger, string purpose, string queryId, string reason);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Debug, Message = "ClickHouse server runs {Version}; it has {Existing} of the {Known} settings Coldstore may send; driver JSON settings: {DriverJson}")]
    public static partial void ProfileLearned(ILogger logger, string version, int existing, int known, bool driverJson);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "{Server} runs ClickHouse {Version}, newer than the releases Coldstore was checked against ({Supported}); it sends only the settings the server has")]
    public static partial void NewerThanTested(ILogger logger, string server, string version, string supported);
}
