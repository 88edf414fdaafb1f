using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// A ClickHouse server's settings: one <c>http(s)://</c> URL (user, password, database and options in it), validated
/// when read. The password never appears in <see cref="Description"/> or <see cref="ToString"/>.
/// </summary>
public sealed record ClickHouseHttpConnector : IClickHouseConnector
{
    /// <summary>The form this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm = "http(s)://[user[:password]@]host:port[/database] for a ClickHouse server";

    private ClickHouseHttpConnector(string url, string description)
    {
        Url = url;
        Description = description;
    }

    /// <summary>The server URL, password included: never print it.</summary>
    public string Url { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Whether <paramref name="value"/> is this adapter's (an <c>http://</c> or <c>https://</c> URL).</summary>
    public static bool Claims(string value) =>
        value is not null
        && (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("https://", StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads and validates a server URL.</summary>
    /// <exception cref="ConfigurationException">The URL is malformed; the message names the setting as given and masks the password.</exception>
    public static ClickHouseHttpConnector Read(SettingValue value)
    {
        try
        {
            return new ClickHouseHttpConnector(value.Text, ClickHouseHttpOptions.Parse(value.Text).Description);
        }
        catch (ConfigurationException e) when (value.Name != HttpClickHouseClient.SettingName)
        {
            // The parser names the variable; name the setting as this source gave it (a flag, a configuration key).
            throw new ConfigurationException(value.Name, e.Message.Replace(HttpClickHouseClient.SettingName, value.Name, StringComparison.Ordinal), e);
        }
    }

    /// <inheritdoc />
    public IClickHouseClient Connect(ILoggerFactory loggerFactory) => HttpClickHouseClient.Create(Url, loggerFactory);

    /// <inheritdoc />
    public override string ToString() => Description;
}
