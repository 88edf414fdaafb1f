namespace Coldstore.Testing;

/// <summary>The repository the tests run from: the directory holding <c>Coldstore.slnx</c> above the test assembly.</summary>
public static class Repository
{
    private static readonly Lazy<string> RootDirectory = new(Find);

    /// <summary>The repository's root directory.</summary>
    /// <exception cref="InvalidOperationException">The tests do not run from inside the repository.</exception>
    public static string Root => RootDirectory.Value;

    /// <summary>A path under the root.</summary>
    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Coldstore.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Coldstore.slnx above {AppContext.BaseDirectory}; run the tests from the repository.");
    }
}
