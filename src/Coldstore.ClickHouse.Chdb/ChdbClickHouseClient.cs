using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// Opens clients on embedded ClickHouse (chDB). The engine runs inside this process on one data directory,
/// started by the first <see cref="Open(string, ILogger?)"/> and kept until the process exits.
/// </summary>
public static class ChdbClickHouseClient
{
    /// <summary>
    /// Opens a client (one chDB connection) on <paramref name="dataDirectory"/>, starting the engine there
    /// if this is the first client of the process. Clients of one process run side by side; each runs its
    /// own statements one at a time. Dispose the client to close its connection.
    /// </summary>
    /// <param name="dataDirectory">Where chDB keeps its databases; created if missing.</param>
    /// <param name="logger">Receives statement timings and failures (never parameter values).</param>
    /// <exception cref="InvalidOperationException">The process already runs chDB on another directory.</exception>
    /// <exception cref="Errors.ConfigurationException">libchdb.so cannot be found; the message names the fix.</exception>
    /// <exception cref="Errors.EngineUnavailableException">chDB refused to open the directory.</exception>
    public static IClickHouseClient Open(string dataDirectory, ILogger? logger = null) =>
        ChdbClient.Open(ChdbEngine.Start(dataDirectory), logger ?? NullLogger.Instance);

    /// <summary>
    /// Opens a client as <see cref="Open(string, ILogger?)"/> does, on an engine that reads <paramref name="configFile"/>
    /// (clickhouse-local's <c>--config-file</c>) when this is the first client of the process.
    /// </summary>
    /// <param name="dataDirectory">Where chDB keeps its databases; created if missing.</param>
    /// <param name="configFile">A ClickHouse configuration file (XML or YAML), or null.</param>
    /// <param name="logger">Receives statement timings and failures (never parameter values).</param>
    public static IClickHouseClient Open(string dataDirectory, string? configFile, ILogger? logger = null) =>
        ChdbClient.Open(ChdbEngine.Start(dataDirectory, configFile), logger ?? NullLogger.Instance);

    /// <summary>The data directory chDB runs on in this process, or null before the first <see cref="Open(string, ILogger?)"/>.</summary>
    public static string? RunningDataDirectory => ChdbEngine.Current?.DataDirectory;
}
