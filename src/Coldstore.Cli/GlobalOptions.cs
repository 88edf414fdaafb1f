using System.CommandLine;
using Coldstore.Configuration;
using Coldstore.Errors;

namespace Coldstore.Cli;

/// <summary>
/// Options every command accepts. The setting flags are made from <see cref="ColdstoreConfiguration.Definitions"/>, so
/// each flag, its variable and its configuration key are one setting read by one parser; a flag wins over its variable.
/// </summary>
internal sealed class GlobalOptions
{
    private readonly List<(SettingDefinition Setting, Option<string?> Option)> _settings;

    public GlobalOptions()
    {
        _settings = [.. ColdstoreConfiguration.Definitions
            .Where(setting => setting.Flag is not null)
            .Select(setting => (setting, Setting(setting, recursive: !IsWorkerSetting(setting))))];
    }

    /// <summary>The flags of the worker's own settings, which only the worker command takes.</summary>
    public IEnumerable<Option<string?>> WorkerSettings => _settings.Where(s => IsWorkerSetting(s.Setting)).Select(s => s.Option);

    public Option<double> WaitSeconds { get; } = new("--wait")
    {
        Description = "Seconds to wait for another operation on the same workspace before giving up with exit code 3 (default 0: fail at once)",
        Recursive = true,
        HelpName = "seconds",
        DefaultValueFactory = _ => 0,
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Print machine-readable JSON on stdout", Recursive = true };

    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log each step to stderr", Recursive = true };

    /// <summary>Whether a setting is the worker's own (its command takes the flag, not every command).</summary>
    public static bool IsWorkerSetting(SettingDefinition setting) => setting.Key.StartsWith("Worker:", StringComparison.Ordinal);

    public void AddTo(Command root)
    {
        foreach (var (_, option) in _settings.Where(s => !IsWorkerSetting(s.Setting)))
        {
            root.Options.Add(option);
        }

        foreach (var option in new Option[] { WaitSeconds, Json, Verbose })
        {
            root.Options.Add(option);
        }
    }

    /// <summary>The settings given as flags on this command line, keyed by configuration key.</summary>
    public Dictionary<string, string?> Overrides(ParseResult parseResult) =>
        _settings.Where(s => parseResult.GetResult(s.Option) is not null)
            .ToDictionary(s => s.Setting.Key, s => parseResult.GetValue(s.Option), StringComparer.Ordinal);

    /// <summary>A seconds option's value as a time span, or a configuration error naming the option and its range.</summary>
    public static TimeSpan Seconds(string option, double value, double minimum, double maximum) =>
        value >= minimum && value <= maximum && !double.IsNaN(value)
            ? TimeSpan.FromSeconds(value)
            : throw new ConfigurationException(option, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{option} {value} is not valid: use a number of seconds from {minimum} to {maximum}."));

    /// <summary>A flag for a setting, its help naming the variable that also sets it.</summary>
    public static Option<string?> Setting(SettingDefinition setting, bool recursive = true) =>
        new(setting.Flag!) { Description = $"{setting.Description} [env: {setting.Variable}]", Recursive = recursive, HelpName = "value" };
}
