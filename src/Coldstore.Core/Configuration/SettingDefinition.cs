namespace Coldstore.Configuration;

/// <summary>
/// One setting, as every surface names it: its key under the host's configuration section (e.g. <c>S3:Endpoint</c>
/// under <c>Coldstore</c>), its environment variable and its command-line flag. Whoever reads a setting declares it,
/// so the three names and the description live in one place.
/// </summary>
/// <param name="Key">The configuration key, relative to the section (<c>:</c> separates levels).</param>
/// <param name="Variable">The environment variable, or null for a setting only configuration carries (a secret the AWS SDK reads from its own variables).</param>
/// <param name="Flag">The command-line flag, or null when only a command of its own takes it.</param>
/// <param name="Description">What it sets, its accepted forms and default, as help text shows them.</param>
public sealed record SettingDefinition(string Key, string? Variable, string? Flag, string Description)
{
    /// <summary>A second environment variable read when <see cref="Variable"/> is unset (e.g. <c>AWS_DEFAULT_REGION</c>).</summary>
    public string? FallbackVariable { get; init; }
}

/// <summary>A setting's value and the name it was given under (a flag, a variable or a configuration path), for errors.</summary>
/// <param name="Text">The value, trimmed; never empty.</param>
/// <param name="Name">Where it came from, as the user wrote it: <c>--lease-seconds</c>, <c>COLDSTORE_LEASE_SECONDS</c> or <c>Coldstore:LeaseSeconds</c>.</param>
public readonly record struct SettingValue(string Text, string Name);
