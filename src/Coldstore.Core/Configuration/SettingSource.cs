using System.Globalization;
using Coldstore.Errors;

namespace Coldstore.Configuration;

/// <summary>
/// Where settings are read from (flags over environment variables, or a configuration section) and the typed reads
/// every owner of a setting shares, each refusing a bad value with one line that names the setting as the user gave
/// it and quotes the value (secrets masked). Holds no setting of its own: the core and each adapter declare theirs.
/// </summary>
public sealed class SettingSource
{
    private readonly Func<SettingDefinition, SettingValue?> _lookup;

    /// <summary>Creates a source over <paramref name="lookup"/>; relative paths resolve against <paramref name="workingDirectory"/>.</summary>
    /// <param name="lookup">A setting's value and the name it came under, or null when unset.</param>
    /// <param name="workingDirectory">The directory relative paths and the embedded defaults resolve against.</param>
    public SettingSource(Func<SettingDefinition, SettingValue?> lookup, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        ArgumentException.ThrowIfNullOrWhiteSpace(workingDirectory);
        _lookup = lookup;
        WorkingDirectory = workingDirectory;
    }

    /// <summary>The directory relative paths resolve against.</summary>
    public string WorkingDirectory { get; }

    /// <summary>The folder the embedded defaults live in: <c>.coldstore</c> under <see cref="WorkingDirectory"/>.</summary>
    public string Home => Path.Combine(WorkingDirectory, ".coldstore");

    /// <summary>
    /// Settings from environment variables, with command-line <paramref name="flags"/> (keyed by
    /// <see cref="SettingDefinition.Key"/>) winning over them. Blank values count as unset.
    /// </summary>
    /// <param name="environment">The variables, e.g. the process's.</param>
    /// <param name="flags">Values given as flags, by setting key; null or blank ones are ignored.</param>
    /// <param name="workingDirectory">The directory relative paths resolve against.</param>
    public static SettingSource FromEnvironment(
        IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string?>? flags, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        flags ??= new Dictionary<string, string?>();
        return new SettingSource(setting =>
            Present(flags.GetValueOrDefault(setting.Key), setting.Flag ?? setting.Key)
            ?? (setting.Variable is { } variable ? Present(environment.GetValueOrDefault(variable), variable) : null)
            ?? (setting.FallbackVariable is { } fallback ? Present(environment.GetValueOrDefault(fallback), fallback) : null),
            workingDirectory);
    }

    /// <summary>This process's environment variables, under <paramref name="flags"/>.</summary>
    public static SettingSource FromProcessEnvironment(IReadOnlyDictionary<string, string?>? flags = null, string? workingDirectory = null) =>
        FromEnvironment(
            Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal),
            flags,
            workingDirectory ?? Directory.GetCurrentDirectory());

    /// <summary>Settings from key/value pairs of a configuration section named <paramref name="sectionPath"/> (errors name <c>Section:Key</c>).</summary>
    /// <param name="lookup">Reads a key relative to the section; null when unset.</param>
    /// <param name="sectionPath">The section's path, e.g. <c>Coldstore</c>; empty for the root.</param>
    /// <param name="workingDirectory">The directory relative paths resolve against.</param>
    public static SettingSource FromKeys(Func<string, string?> lookup, string sectionPath, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        return new SettingSource(
            setting => Present(lookup(setting.Key), sectionPath.Length == 0 ? setting.Key : $"{sectionPath}:{setting.Key}"),
            workingDirectory);
    }

    /// <summary>The setting's value and where it came from, or null when unset or blank.</summary>
    public SettingValue? Get(SettingDefinition setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        return _lookup(setting);
    }

    /// <summary>The setting's text, or null when unset.</summary>
    public string? Text(SettingDefinition setting) => Get(setting)?.Text;

    /// <summary>A refusal of <paramref name="value"/>: <c>NAME='shown' is not valid: advice</c>.</summary>
    /// <param name="value">The value refused.</param>
    /// <param name="advice">What to write instead (the accepted forms).</param>
    /// <param name="shown">The value as it may be printed (a password masked); the value itself by default.</param>
    public static ConfigurationException Invalid(SettingValue value, string advice, string? shown = null) =>
        new(value.Name, $"{value.Name}='{shown ?? value.Text}' is not valid: {advice}");

    /// <summary>Seconds from <paramref name="minimum"/> to <paramref name="maximum"/> (decimals allowed), or <paramref name="fallback"/> when unset.</summary>
    public TimeSpan Seconds(SettingDefinition setting, TimeSpan fallback, double minimum = 0, double maximum = 3600)
    {
        if (Get(setting) is not { } value)
        {
            return fallback;
        }

        return double.TryParse(value.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= minimum && seconds <= maximum
            ? TimeSpan.FromSeconds(seconds)
            : throw Invalid(value, string.Create(CultureInfo.InvariantCulture,
                $"use a number of seconds from {minimum} to {maximum}, e.g. {Math.Max(minimum, 2)} or {Math.Max(minimum, 30)}."));
    }

    /// <summary>A whole number from <paramref name="minimum"/> to <paramref name="maximum"/>, or <paramref name="fallback"/> when unset.</summary>
    public int Count(SettingDefinition setting, int fallback, int maximum, int minimum = 1) =>
        Get(setting) is { } value ? Count(value, maximum, minimum) : fallback;

    /// <summary>A whole number from <paramref name="minimum"/> to <paramref name="maximum"/>, or null when unset.</summary>
    public int? OptionalCount(SettingDefinition setting, int maximum, int minimum = 1) =>
        Get(setting) is { } value ? Count(value, maximum, minimum) : null;

    /// <summary><c>on</c>/<c>off</c> (or true/false, 1/0, yes/no), or <paramref name="fallback"/> when unset.</summary>
    public bool Switch(SettingDefinition setting, bool fallback) => Get(setting) is not { } value ? fallback : value.Text.ToLowerInvariant() switch
    {
        "on" or "true" or "1" or "yes" => true,
        "off" or "false" or "0" or "no" => false,
        _ => throw Invalid(value, "use on or off."),
    };

    /// <summary>A ClickHouse identifier (letters, digits and underscores, not starting with a digit), or null when unset.</summary>
    /// <param name="setting">The setting.</param>
    /// <param name="what">What it names, for the error: "database name", "cluster name".</param>
    public string? Identifier(SettingDefinition setting, string what) => Get(setting) is not { } value ? null
        : Sql.EventTables.IsValidIdentifier(value.Text) ? value.Text
        : throw Invalid(value, $"it is not a valid ClickHouse {what}: use letters, digits and underscores, starting with a letter or underscore.");

    /// <summary>A path, made absolute against <see cref="WorkingDirectory"/>.</summary>
    public string FullPath(string path) => Path.GetFullPath(path, WorkingDirectory);

    private static int Count(SettingValue value, int maximum, int minimum) =>
        int.TryParse(value.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= minimum && count <= maximum
            ? count
            : throw Invalid(value, string.Create(CultureInfo.InvariantCulture, $"use a whole number from {minimum} to {maximum}."));

    private static SettingValue? Present(string? text, string name) =>
        string.IsNullOrWhiteSpace(text) ? null : new SettingValue(text.Trim(), name);
}
