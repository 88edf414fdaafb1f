using Coldstore.ClickHouse.Chdb;
using Coldstore.Ports;

namespace Coldstore.Testing;

/// <summary>
/// The chDB engine every test in a process shares, on a fresh temporary directory. chDB runs one data
/// directory per process, so all test projects go through this class rather than opening their own.
/// If libchdb.so cannot be loaded, <see cref="OpenClient"/> throws with the fix in the message, so the tests
/// fail (never skip) and say to run scripts/fetch-native.sh or set COLDSTORE_LIBCHDB.
/// </summary>
public static class ChdbTestEngine
{
    private const string DirectoryPrefix = "coldstore-chdb-tests-";

    private static readonly Lazy<string> Directory = new(CreateDirectory, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The engine's data directory (created on first use, unique to this test process).</summary>
    public static string DataDirectory => Directory.Value;

    /// <summary>Opens a new client (its own chDB connection) on the shared engine. Dispose it when done.</summary>
    public static IClickHouseClient OpenClient() => ChdbClickHouseClient.Open(DataDirectory);

    /// <summary>A database name unique to this run: <paramref name="prefix"/>, an underscore and 8 hex digits.</summary>
    public static string UniqueDatabaseName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private static string CreateDirectory()
    {
        RemoveStaleDirectories();
        var path = Path.Combine(Path.GetTempPath(), DirectoryPrefix + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// Deletes data directories earlier test runs left behind. The engine keeps its directory open until the
    /// process exits, so a run cannot clean up after itself; a day-old directory belongs to no running test.
    /// </summary>
    private static void RemoveStaleDirectories()
    {
        foreach (var stale in new DirectoryInfo(Path.GetTempPath()).EnumerateDirectories(DirectoryPrefix + "*"))
        {
            if (stale.LastWriteTimeUtc < DateTime.UtcNow.AddDays(-1))
            {
                try
                {
                    stale.Delete(recursive: true);
                }
                catch (IOException)
                {
                    // Another process may still use it; it will be retried next run.
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
    }
}
