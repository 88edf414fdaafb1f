using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// Creates the ClickHouse port over a ClickHouse server's HTTP(S) interface, using the official
/// ClickHouse.Driver package.
/// </summary>
public static class HttpClickHouseClient
{
    /// <summary>The setting that holds the server URL; configuration errors name it.</summary>
    public const string SettingName = "COLDSTORE_CLICKHOUSE";

    /// <summary>
    /// Creates a client for the server at <paramref name="url"/>. Nothing is sent until the first statement,
    /// so an unreachable server surfaces on first use, not here.
    /// </summary>
    /// <param name="url">
    /// <c>http(s)://[user[:password]@]host[:port][/database][?timeout=SECONDS&amp;compression=true|false]</c>;
    /// user defaults to <c>default</c>, password to empty, database to <c>default</c>. Percent-encode reserved
    /// characters in the user and password.
    /// </param>
    /// <param name="loggerFactory">Where statements and failures are logged; secret parameters never are.</param>
    /// <exception cref="Errors.ConfigurationException">The URL is malformed; the message masks the password.</exception>
    public static IClickHouseClient Create(string url, ILoggerFactory? loggerFactory = null)
    {
        var options = ClickHouseHttpOptions.Parse(url);
        return new DriverClickHouseClient(options, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<DriverClickHouseClient>());
    }
}
