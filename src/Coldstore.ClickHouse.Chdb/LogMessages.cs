using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>The adapter's log events. Stable ids; purposes and codes only, never parameter values.</summary>
internal static partial class LogMessages
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "chDB {Version} opened a connection on {DataDirectory}")]
    public static partial void ConnectionOpened(this ILogger logger, string version, string dataDirectory);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "chDB ran {Purpose} in {ElapsedMs:F1} ms")]
    public static partial void StatementCompleted(this ILogger logger, string purpose, double elapsedMs);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Debug, Message = "chDB failed {Purpose} with code {Code} {CodeName}")]
    public static partial void StatementFailed(this ILogger logger, string purpose, int code, string? codeName);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "chDB could not reset the per-query settings {Settings} after {Purpose}; closing would be safest")]
    public static partial void SettingsNotReset(this ILogger logger, string settings, string purpose, Exception exception);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Debug, Message = "chDB inserted {Rows} rows for {Purpose} in {ElapsedMs:F1} ms")]
    public static partial void InsertCompleted(this ILogger logger, ulong rows, string purpose, double elapsedMs);
}
