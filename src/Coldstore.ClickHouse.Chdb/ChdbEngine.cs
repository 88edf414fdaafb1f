using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Coldstore.ClickHouse.Chdb.Native;
using Coldstore.Errors;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// The one chDB engine of this process: its data directory, its version, and the connections it handed out.
/// </summary>
/// <remarks>
/// chDB runs one engine per process on one data path. Connecting with another path only works after every
/// connection is closed, which shuts the engine down and boots it again; chDB's own header warns that doing
/// that repeatedly corrupts the allocator. So the engine, once started, keeps a connection of its own open
/// until the process exits and refuses any other path: one process, one data directory.
/// </remarks>
internal sealed class ChdbEngine
{
    private static readonly Lock StartGate = new();
    private static ChdbEngine? _current;

    private readonly ChdbConnectionHandle _keepAlive;
    private readonly ConcurrentDictionary<ChdbConnection, byte> _open = new();

    private ChdbEngine(string dataDirectory, string? configFile, ChdbConnectionHandle keepAlive, string version)
    {
        DataDirectory = dataDirectory;
        ConfigFile = configFile;
        _keepAlive = keepAlive;
        Version = version;
    }

    /// <summary>The absolute data directory the engine was started on.</summary>
    public string DataDirectory { get; }

    /// <summary>The absolute path of the configuration file the engine read, or null.</summary>
    public string? ConfigFile { get; }

    /// <summary>chDB's release, e.g. <c>26.7.3</c>.</summary>
    public string Version { get; }

    /// <summary>The engine of this process, if one was started.</summary>
    public static ChdbEngine? Current => Volatile.Read(ref _current);

    /// <summary>
    /// Starts the engine on <paramref name="dataDirectory"/>, or returns the running one when it uses the same
    /// directory. Throws <see cref="InvalidOperationException"/> when the process already runs chDB elsewhere.
    /// </summary>
    public static ChdbEngine Start(string dataDirectory) => Start(dataDirectory, configFile: null);

    /// <summary>
    /// Starts the engine as <see cref="Start(string)"/> does, reading <paramref name="configFile"/> (clickhouse-local's
    /// <c>--config-file</c>: macros, a keeper, storage, named collections) when one is given. A process runs one engine:
    /// a second start with another file is refused as one on another directory is.
    /// </summary>
    public static ChdbEngine Start(string dataDirectory, string? configFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        var fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataDirectory));
        lock (StartGate)
        {
            var fullConfig = configFile is null ? null : Path.GetFullPath(configFile);
            if (_current is { } running)
            {
                return string.Equals(running.DataDirectory, fullPath, StringComparison.Ordinal) && string.Equals(running.ConfigFile, fullConfig, StringComparison.Ordinal)
                    ? running
                    : throw new InvalidOperationException(
                        $"chDB already runs in this process on '{running.DataDirectory}'{(running.ConfigFile is null ? "" : $" with '{running.ConfigFile}'")}; it cannot also open '{fullPath}'{(fullConfig is null ? "" : $" with '{fullConfig}'")}. " +
                        "The engine holds one data directory per process: use the same directory, or a separate process.");
            }

            ChdbLibrary.EnsureLoaded();
            Directory.CreateDirectory(fullPath);

            // Opt out of chDB's crash handlers before the engine boots (see HostSignalHandlers for why).
            HostSignalHandlers.Preserve(() =>
            {
                ChdbNative.SetSignalHandlersEnabled(0);
                return 0;
            });

            var keepAlive = ConnectTo(fullPath, fullConfig);
            string version;
            unsafe
            {
                version = ChdbNative.ReadString(ChdbNative.Version()) ?? "unknown";
            }

            var engine = new ChdbEngine(fullPath, fullConfig, keepAlive, version);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => engine.CloseAtExit();
            Volatile.Write(ref _current, engine);
            return engine;
        }
    }

    /// <summary>Opens another connection to the running engine; the caller owns it.</summary>
    public ChdbConnection Connect()
    {
        var connection = new ChdbConnection(this, ConnectTo(DataDirectory, ConfigFile));
        _open.TryAdd(connection, 0);
        return connection;
    }

    internal void Forget(ChdbConnection connection) => _open.TryRemove(connection, out _);

    private static unsafe ChdbConnectionHandle ConnectTo(string fullPath, string? configFile)
    {
        List<string> arguments =
        [
            "clickhouse",
            $"--path={fullPath}",
            // The engine logs to stderr by default, from its own threads, straight into a terminal's progress display
            // (chDB 26.7 logs "<Fatal> ThreadStatus: current_thread contains invalid address" on streaming inserts made
            // while a display runs, though the insert succeeds). Its console log is off; every statement's own error
            // still comes back with its result. A log file would do instead, but the engine then announces it on
            // stderr at every start ("Logging … to …").
            "--logger.console=0",
        ];
        if (configFile is not null)
        {
            arguments.Add($"--config-file={configFile}");
        }

        using var argv = new NativeUtf8Strings(arguments);

        // chdb_connect resets the deadly signals again whenever the opt-out is set, so it is guarded too.
        var pointer = HostSignalHandlers.Preserve(() => ChdbNative.Connect(arguments.Count, argv.Pointers));
        if (pointer == nint.Zero)
        {
            throw new EngineUnavailableException(
                "COLDSTORE_CLICKHOUSE",
                $"chDB could not open '{fullPath}' (chdb_connect returned no connection). Check that the directory is " +
                "writable, has free space, and is not used by another process running chDB.");
        }

        return new ChdbConnectionHandle(pointer);
    }

    /// <summary>
    /// Closes what can be closed safely when the process exits, then shuts the engine down. A connection
    /// that is still running a statement is left alone: closing it mid-query can abort the process, and
    /// the operating system reclaims it anyway.
    /// </summary>
    private void CloseAtExit()
    {
        var allClosed = true;
        foreach (var connection in _open.Keys)
        {
            allClosed &= connection.TryCloseIdle();
        }

        if (!allClosed)
        {
            return;
        }

        _keepAlive.Dispose();
        _ = ChdbNative.Shutdown();
    }
}
