using Coldstore.Configuration;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.State.Sqlite;

/// <summary>
/// The SQLite state store's settings: the file, from <c>sqlite:&lt;file&gt;</c> (relative to the working directory).
/// The default when no state store is configured.
/// </summary>
/// <param name="Path">The database file (absolute).</param>
public sealed record SqliteStateConnector(string Path) : IStateStoreConnector
{
    private const string Scheme = "sqlite:";

    /// <summary>The form this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm = "sqlite:<file>";

    /// <inheritdoc />
    public string Description => $"SQLite {Path}";

    /// <summary>Whether <paramref name="value"/> is this adapter's (<c>sqlite:</c> and a file).</summary>
    public static bool Claims(string value) =>
        SettingText.AfterScheme(value, Scheme) is not null;

    /// <summary>Reads a value <see cref="Claims"/> accepted.</summary>
    public static SqliteStateConnector Read(SettingValue value, SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new SqliteStateConnector(source.FullPath(SettingText.AfterScheme(value.Text, Scheme)!));
    }

    /// <summary>The embedded default: <c>.coldstore/state.db</c> under the working directory.</summary>
    public static SqliteStateConnector Default(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new SqliteStateConnector(System.IO.Path.Combine(source.Home, "state.db"));
    }

    /// <inheritdoc />
    public IStateStore Connect(ILoggerFactory loggerFactory) => SqliteStateStore.Open(Path, loggerFactory);
}
