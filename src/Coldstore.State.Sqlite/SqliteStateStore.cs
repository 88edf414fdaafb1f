using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.State.Relational;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coldstore.State.Sqlite;

/// <summary>Opens the SQLite <see cref="IStateStore"/>: one local file, for embedded use and single-host setups.</summary>
public static class SqliteStateStore
{
    /// <summary>
    /// Opens (creating when missing, with its directory) the state file at <paramref name="path"/>, switches it to
    /// write-ahead logging and returns the store. Several processes may open the same file: writers wait up to
    /// 30 seconds for each other. Call <see cref="IStateStore.MigrateAsync"/> before use.
    /// </summary>
    /// <param name="path">The database file, e.g. <c>/var/lib/coldstore/state.db</c>; relative paths resolve against the current directory.</param>
    /// <param name="loggerFactory">Where to log; null for no logging.</param>
    /// <exception cref="ConfigurationException">The path is empty or malformed.</exception>
    /// <exception cref="EngineUnavailableException">The directory or file cannot be created, opened or written.</exception>
    public static IStateStore Open(string path, ILoggerFactory? loggerFactory = null)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ConfigurationException(SqliteErrors.Setting,
                $"{SqliteErrors.Setting} is empty; expected the path of a SQLite file such as /var/lib/coldstore/state.db");
        }

        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigurationException(SqliteErrors.Setting, $"{SqliteErrors.Setting} '{path}' is not a usable file path: {e.Message}", e);
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SqliteErrors.Unavailable(fullPath, e);
        }

        var dialect = new SqliteDialect(fullPath);
        dialect.Initialize();
        return new RelationalStore(dialect, loggerFactory ?? NullLoggerFactory.Instance);
    }
}
