using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// Embedded chDB's settings: the data directory, from <c>embedded:&lt;directory&gt;</c> (relative to the working
/// directory). The default when no ClickHouse is configured.
/// </summary>
/// <param name="DataDirectory">Where chDB keeps its databases (absolute).</param>
public sealed record ChdbConnector(string DataDirectory) : IClickHouseConnector
{
    private const string Scheme = "embedded:";

    /// <summary>The form this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm = "embedded:<directory> for embedded chDB";

    /// <inheritdoc />
    public string Description => $"embedded chDB at {DataDirectory}";

    /// <summary>Whether <paramref name="value"/> is this adapter's (<c>embedded:</c> and a directory).</summary>
    public static bool Claims(string value) =>
        SettingText.AfterScheme(value, Scheme) is not null;

    /// <summary>Reads a value <see cref="Claims"/> accepted.</summary>
    /// <exception cref="ConfigurationException">The directory holds a character no path may.</exception>
    public static ChdbConnector Read(SettingValue value, SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var directory = SettingText.AfterScheme(value.Text, Scheme)!;
        return directory.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) < 0
            ? new ChdbConnector(source.FullPath(directory))
            : throw SettingSource.Invalid(value, "the directory holds a character no path may; use embedded:<directory>.");
    }

    /// <summary>The embedded default: <c>.coldstore/chdb</c> under the working directory.</summary>
    public static ChdbConnector Default(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChdbConnector(Path.Combine(source.Home, "chdb"));
    }

    /// <inheritdoc />
    /// <exception cref="EngineUnavailableException">libchdb cannot be loaded, the process runs chDB on another directory, or the directory cannot be used.</exception>
    public IClickHouseClient Connect(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        try
        {
            return ChdbClickHouseClient.Open(DataDirectory, loggerFactory.CreateLogger("Coldstore.ClickHouse.Chdb"));
        }
        catch (Exception e) when (e is DllNotFoundException or InvalidOperationException or IOException)
        {
            throw new EngineUnavailableException(ColdstoreSettings.ClickHouseVariable, $"{ColdstoreSettings.ClickHouseVariable}: {e.Message}", e);
        }
    }
}
