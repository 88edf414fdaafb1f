using Coldstore.Configuration;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.Archive.FileSystem;

/// <summary>
/// A local archive directory's settings, from <c>file:&lt;directory&gt;</c> or <c>file:///absolute/directory</c>
/// (relative to the working directory). The default when no archive store is configured.
/// </summary>
/// <param name="Directory">The store's root (absolute).</param>
public sealed record FileSystemArchiveConnector(string Directory) : IArchiveStoreConnector
{
    private const string Scheme = "file:";

    /// <summary>The form this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm = "file:<directory> for a local directory";

    /// <inheritdoc />
    public string Description => $"directory {Directory}";

    /// <summary>Whether <paramref name="value"/> is this adapter's (<c>file:</c> and a directory).</summary>
    public static bool Claims(string value) =>
        SettingText.AfterScheme(value, Scheme) is not null;

    /// <summary>Reads a value <see cref="Claims"/> accepted.</summary>
    /// <exception cref="Errors.ConfigurationException">The directory holds characters ClickHouse reads as globs.</exception>
    public static FileSystemArchiveConnector Read(SettingValue value, SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var path = SettingText.AfterScheme(value.Text, Scheme)!;
        // Accept file:///abs/path as well as file:relative/path.
        path = path.StartsWith("//", StringComparison.Ordinal) ? path[2..] : path;
        var full = source.FullPath(path);
        var glob = full.AsSpan().IndexOfAny(ArchiveKeys.GlobCharacters);
        return glob < 0
            ? new FileSystemArchiveConnector(full)
            : throw SettingSource.Invalid(value, $"the directory contains '{full[glob]}', which ClickHouse's file() reads as a glob; choose a directory without *?{{}}[].");
    }

    /// <summary>The embedded default: <c>.coldstore/archive</c> under the working directory.</summary>
    public static FileSystemArchiveConnector Default(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new FileSystemArchiveConnector(Path.Combine(source.Home, "archive"));
    }

    /// <inheritdoc />
    public IArchiveStore Connect(ILoggerFactory loggerFactory) => FileSystemArchiveStore.Open(Directory);
}
