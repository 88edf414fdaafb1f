using Coldstore.Archive.FileSystem;
using Coldstore.Archive.S3;
using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Http;
using Coldstore.Configuration;
using Coldstore.Ports;
using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Microsoft.Extensions.Configuration;

namespace Coldstore;

/// <summary>
/// Everything Coldstore is configured with: the core's settings and the three adapters the settings pick. The one
/// place that knows which adapters exist; each adapter reads and validates its own value. Read from flags over
/// <c>COLDSTORE_*</c> variables (<see cref="FromEnvironment"/>) or from a configuration section
/// (<see cref="FromConfiguration"/>), the same keys either way. With nothing set, everything is embedded under
/// <c>./.coldstore/</c>.
/// </summary>
public sealed record ColdstoreConfiguration
{
    private static readonly Choice<IClickHouseConnector>[] ClickHouses =
    [
        new(ChdbConnector.AcceptedForm, ChdbConnector.Claims, ChdbConnector.Read),
        new(ClickHouseHttpConnector.AcceptedForm, ClickHouseHttpConnector.Claims, (value, _) => ClickHouseHttpConnector.Read(value)),
    ];

    private static readonly Choice<IStateStoreConnector>[] States =
    [
        new(SqliteStateConnector.AcceptedForm, SqliteStateConnector.Claims, SqliteStateConnector.Read),
        new(PostgresStateConnector.AcceptedForm, PostgresStateConnector.Claims, (value, _) => PostgresStateConnector.Read(value)),
    ];

    private static readonly Choice<IArchiveStoreConnector>[] Archives =
    [
        new(FileSystemArchiveConnector.AcceptedForm, FileSystemArchiveConnector.Claims, FileSystemArchiveConnector.Read),
        new(S3ArchiveOptions.AcceptedForm, S3ArchiveOptions.Claims, S3ArchiveOptions.Read),
    ];

    /// <summary>The core's settings.</summary>
    public required ColdstoreSettings Settings { get; init; }

    /// <summary>The ClickHouse adapter's settings.</summary>
    public required IClickHouseConnector ClickHouse { get; init; }

    /// <summary>The state store adapter's settings.</summary>
    public required IStateStoreConnector State { get; init; }

    /// <summary>The archive store adapter's settings.</summary>
    public required IArchiveStoreConnector Archive { get; init; }

    /// <summary>
    /// Every setting any part reads, with its configuration key, variable and flag: the core's (the three adapter
    /// choices described by the forms their adapters accept) and the adapters' own.
    /// </summary>
    public static IReadOnlyList<SettingDefinition> Definitions { get; } =
    [
        .. ColdstoreSettings.Definitions.All.Select(Describe),
        .. S3ArchiveOptions.Definitions.All,
    ];

    /// <summary>Reads and validates every setting from <paramref name="source"/>.</summary>
    /// <exception cref="Errors.ConfigurationException">A value is malformed; the message names the setting as given and quotes the value (secrets masked).</exception>
    public static ColdstoreConfiguration Read(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ColdstoreConfiguration
        {
            ClickHouse = Pick(source, ColdstoreSettings.Definitions.ClickHouse, ClickHouses, ChdbConnector.Default),
            State = Pick(source, ColdstoreSettings.Definitions.State, States, SqliteStateConnector.Default),
            Archive = Pick(source, ColdstoreSettings.Definitions.Archive, Archives, FileSystemArchiveConnector.Default),
            Settings = ColdstoreSettings.Read(source),
        };
    }

    /// <summary>Reads settings from <paramref name="environment"/> under <paramref name="flags"/> (by key).</summary>
    public static ColdstoreConfiguration Read(
        IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string?>? flags, string workingDirectory) =>
        Read(SettingSource.FromEnvironment(environment, flags, workingDirectory));

    /// <summary>Reads settings from this process's environment, under <paramref name="flags"/> (by key).</summary>
    public static ColdstoreConfiguration FromEnvironment(IReadOnlyDictionary<string, string?>? flags = null, string? workingDirectory = null) =>
        Read(SettingSource.FromProcessEnvironment(flags, workingDirectory));

    /// <summary>
    /// Reads settings from a configuration section (e.g. <c>configuration.GetSection("Coldstore")</c>): the keys of
    /// <see cref="Definitions"/> under it. Errors name <c>Section:Key</c>.
    /// </summary>
    /// <param name="section">The section.</param>
    /// <param name="workingDirectory">Where relative paths resolve; the current directory by default.</param>
    public static ColdstoreConfiguration FromConfiguration(IConfiguration section, string? workingDirectory = null) =>
        Read(SourceOf(section, workingDirectory));

    /// <summary>A setting source over a configuration section.</summary>
    internal static SettingSource SourceOf(IConfiguration section, string? workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(section);
        var path = section is IConfigurationSection named ? named.Path : string.Empty;
        return SettingSource.FromKeys(key => section[key], path, workingDirectory ?? Directory.GetCurrentDirectory());
    }

    private static TConnector Pick<TConnector>(
        SettingSource source, SettingDefinition setting, Choice<TConnector>[] choices, Func<SettingSource, TConnector> fallback)
    {
        if (source.Get(setting) is not { } value)
        {
            return fallback(source);
        }

        foreach (var choice in choices)
        {
            if (choice.Claims(value.Text))
            {
                return choice.Read(value, source);
            }
        }

        throw SettingSource.Invalid(value, $"use {FormsOf(choices)}.", SettingText.MaskConnectionString(value.Text));
    }

    private static SettingDefinition Describe(SettingDefinition setting) =>
        setting == ColdstoreSettings.Definitions.ClickHouse ? setting with { Description = $"{setting.Description}: {FormsOf(ClickHouses)} (default: embedded:.coldstore/chdb)" }
        : setting == ColdstoreSettings.Definitions.State ? setting with { Description = $"{setting.Description}: {FormsOf(States)} (default: sqlite:.coldstore/state.db)" }
        : setting == ColdstoreSettings.Definitions.Archive ? setting with { Description = $"{setting.Description}: {FormsOf(Archives)} (default: file:.coldstore/archive)" }
        : setting;

    private static string FormsOf<TConnector>(Choice<TConnector>[] choices) =>
        string.Join(", or ", choices.Select(c => c.Form));

    /// <summary>One adapter a setting can pick: the form it accepts, whether a value is its, and how it reads one.</summary>
    private sealed record Choice<TConnector>(string Form, Func<string, bool> Claims, Func<SettingValue, SettingSource, TConnector> Read);
}
