using System.Reflection;
using System.Runtime.InteropServices;
using Coldstore.Errors;

namespace Coldstore.ClickHouse.Chdb.Native;

/// <summary>
/// Finds and loads libchdb.so, and points every <see cref="ChdbNative"/> import at it.
/// Order: <c>COLDSTORE_LIBCHDB</c> (a file path), then the npm-installed copy under <c>tools/node_modules</c>
/// found by walking up from the application and the working directory, then the loader's default search.
/// </summary>
internal static class ChdbLibrary
{
    /// <summary>The environment variable that names libchdb.so explicitly.</summary>
    public const string PathVariable = "COLDSTORE_LIBCHDB";

    /// <summary>Where <c>npm ci --prefix tools</c> puts the library, relative to the repository root.</summary>
    public static readonly string RepositoryRelativePath =
        Path.Combine("tools", "node_modules", "@chdb", "lib-linux-x64-gnu", "libchdb.so");

    private static readonly Lock Gate = new();
    private static nint _handle;
    private static string? _loadedFrom;

    /// <summary>The file the library was loaded from, or the bare name when the loader found it.</summary>
    public static string? LoadedFrom => _loadedFrom;

    /// <summary>Loads the library once per process; throws <see cref="ConfigurationException"/> naming the fix when it cannot.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_handle != nint.Zero)
            {
                return;
            }

            var (handle, source) = Load(
                Environment.GetEnvironmentVariable(PathVariable),
                [AppContext.BaseDirectory, Environment.CurrentDirectory]);

            // Why a resolver rather than a fixed path in [LibraryImport]: the library is not next to our
            // assembly (it is ~560 MB and comes from npm), and its location depends on the checkout.
            NativeLibrary.SetDllImportResolver(typeof(ChdbLibrary).Assembly, Resolve);
            _loadedFrom = source;
            _handle = handle;
        }
    }

    /// <summary>
    /// Loads the library from the first place that has it. Pure apart from the file system and the loader,
    /// so tests can call it with an environment value and start directories of their own.
    /// </summary>
    internal static (nint Handle, string Source) Load(string? configuredPath, IEnumerable<string> startDirectories)
    {
        if (!string.IsNullOrWhiteSpace(configuredPath))
        {
            // An explicit path is a promise: falling back silently would hide a typo and load another build.
            if (!File.Exists(configuredPath))
            {
                throw NotFound($"{PathVariable} is set to '{configuredPath}', but no file is there.");
            }

            return NativeLibrary.TryLoad(configuredPath, out var configured)
                ? (configured, configuredPath)
                : throw NotFound($"{PathVariable} points at '{configuredPath}', but it could not be loaded as a shared library.");
        }

        var found = FindInRepository(startDirectories);
        if (found is not null)
        {
            return NativeLibrary.TryLoad(found, out var fromRepository)
                ? (fromRepository, found)
                : throw NotFound($"'{found}' exists but could not be loaded as a shared library (is it complete?).");
        }

        return NativeLibrary.TryLoad("libchdb.so", out var fromLoader)
            ? (fromLoader, "libchdb.so")
            : throw NotFound("libchdb.so was not found next to the application, under tools/node_modules in any parent directory, or on the loader's path.");
    }

    /// <summary>Walks up from each start directory looking for <see cref="RepositoryRelativePath"/>.</summary>
    internal static string? FindInRepository(IEnumerable<string> startDirectories)
    {
        foreach (var start in startDirectories)
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, RepositoryRelativePath);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static ConfigurationException NotFound(string what) => new(
        PathVariable,
        $"Cannot load chDB (libchdb.so): {what} Fix: run scripts/fetch-native.sh in the repository " +
        $"(it runs 'npm ci --prefix tools'), or set {PathVariable} to the full path of libchdb.so.");

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == ChdbNative.LibraryName ? _handle : nint.Zero;
}
