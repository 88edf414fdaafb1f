using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Coldstore.Testing;

/// <summary>
/// The ClickHouse server the HTTP engine set talks to, one per test process: a real server when
/// <see cref="UrlVariable"/> names one, otherwise the repository's HTTP interface over the embedded engine
/// (tests/Coldstore.ClickHouseHttp), started on a free loopback port with a fresh data directory. The
/// interface watches this process and exits with it, so a killed test host leaves nothing running.
/// </summary>
public static partial class ClickHouseHttpTestServer
{
    /// <summary>Points every HTTP suite at a real ClickHouse server instead of the interface.</summary>
    public const string UrlVariable = "COLDSTORE_TEST_CLICKHOUSE_URL";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<Started> Server = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The server's base URL, e.g. <c>http://127.0.0.1:41234</c> (credentials included for a real server).</summary>
    public static string Url => Server.Value.Url;

    /// <summary>
    /// The user whose statements the server slows down (S3 and local-disk transfers at 1 MB/s, a per-user profile):
    /// a test's first run connects as this user, so the statement it orphans when killed outlasts the rerun, which
    /// connects as the ordinary user and sees the same data.
    /// </summary>
    public const string SlowUser = "coldstore_slow";

    /// <summary>The settings of <see cref="SlowUser"/>'s profile.</summary>
    public static readonly IReadOnlyDictionary<string, string> SlowUserSettings = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["max_remote_read_network_bandwidth"] = "1000000",
        ["max_remote_write_network_bandwidth"] = "1000000",
        ["max_local_write_bandwidth"] = "1000000",
    };

    /// <summary>
    /// <see cref="Url"/> as <see cref="SlowUser"/>. On a real server the user is created on first use
    /// (<c>CREATE USER … SETTINGS …</c>, which needs SQL access management for the configured user).
    /// </summary>
    public static string SlowUserUrl => Server.Value.SlowUrl;

    private static Started Start()
    {
        if (Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } real)
        {
            var uri = new Uri(real.Trim());
            var url = new UriBuilder(uri) { Path = "/", Query = string.Empty }.Uri.ToString().TrimEnd('/');
            CreateSlowUserOnRealServer(url);
            return new Started(url, WithUser(url, SlowUser));
        }

        var launched = Launch(SlowUserSettings.SelectMany(setting => new[] { "--user-setting", $"{SlowUser}:{setting.Key}={setting.Value}" }));
        return new Started(launched.Url, WithUser(launched.Url, SlowUser));
    }

    /// <summary>
    /// Starts another interface of its own (fresh data directory, free port) with extra arguments, e.g.
    /// <c>--server-version 24.12.6.70 --hide-setting NAME</c> to pretend to be an older release. It is always the
    /// interface, even when <see cref="UrlVariable"/> names a real server. Dispose it to stop it; it also stops with
    /// the test process.
    /// </summary>
    public static InterfaceProcess StartInterface(IEnumerable<string> extraArguments) => Launch(extraArguments);

    private static InterfaceProcess Launch(IEnumerable<string> extraArguments)
    {
        var dll = FindInterface();
        var directory = Path.Combine(Path.GetTempPath(), "coldstore-clickhouse-http-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { dll, "--dir", directory, "--port", "0", "--parent-pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) }
                     .Concat(extraArguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start the ClickHouse HTTP interface.");
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (errors)
            {
                // Keep the tail only: a long run must not grow this without bound.
                if (errors.Length > 200_000)
                {
                    errors.Remove(0, 100_000);
                }

                errors.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        EventHandler stopAtExit = (_, _) => Stop(process, directory);
        AppDomain.CurrentDomain.ProcessExit += stopAtExit;

        string Errors()
        {
            lock (errors)
            {
                return errors.ToString();
            }
        }

        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            while (true)
            {
                var line = process.StandardOutput.ReadLineAsync(timeout.Token).AsTask().GetAwaiter().GetResult()
                    ?? throw new InvalidOperationException($"the interface exited with code {(process.WaitForExit(2000) ? process.ExitCode : -1)} before listening");
                if (ListeningLine().Match(line) is { Success: true } match)
                {
                    // Keep draining stdout so the interface never blocks on a full pipe.
                    _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                    return new InterfaceProcess(match.Groups["url"].Value, () =>
                    {
                        AppDomain.CurrentDomain.ProcessExit -= stopAtExit;
                        Stop(process, directory);
                    }, Errors);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            Stop(process, directory);
            throw new InvalidOperationException(
                $"The ClickHouse HTTP interface ({dll}) did not start within {StartTimeout.TotalSeconds:0} s: {e.Message}. " +
                $"Its error output: {Errors().Trim()} Build it with: dotnet build tests/Coldstore.ClickHouseHttp -c Release", e);
        }
    }

    private static void Stop(Process process, string directory)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The interface's build output for the configuration these tests were built in.</summary>
    private static string FindInterface()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release";
        var dll = Repository.PathOf("tests", "Coldstore.ClickHouseHttp", "bin", configuration, "net10.0", "Coldstore.ClickHouseHttp.dll");
        return File.Exists(dll)
            ? dll
            : throw new InvalidOperationException(
                $"The ClickHouse HTTP interface is not built ({dll} is missing). Build it with: dotnet build tests/Coldstore.ClickHouseHttp -c {configuration}");
    }

    private static string WithUser(string url, string user) =>
        new UriBuilder(url) { UserName = user, Password = string.Empty }.Uri.ToString().TrimEnd('/');

    private static void CreateSlowUserOnRealServer(string url)
    {
        var settings = string.Join(", ", SlowUserSettings.Select(s => $"{s.Key} = {s.Value}"));
        var client = Coldstore.ClickHouse.Http.HttpClickHouseClient.Create(url);
        try
        {
            client.ExecuteAsync(new Ports.ClickHouseQuery($"CREATE USER IF NOT EXISTS {SlowUser} IDENTIFIED WITH no_password SETTINGS {settings}")).GetAwaiter().GetResult();
            client.ExecuteAsync(new Ports.ClickHouseQuery($"GRANT ALL ON *.* TO {SlowUser}")).GetAwaiter().GetResult();
        }
        finally
        {
            client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private sealed record Started(string Url, string SlowUrl);

    /// <summary>An interface started by <see cref="StartInterface"/>.</summary>
    public sealed class InterfaceProcess : IDisposable
    {
        private readonly Action _stop;
        private readonly Func<string> _errors;
        private int _stopped;

        internal InterfaceProcess(string url, Action stop, Func<string> errors)
        {
            Url = url;
            _stop = stop;
            _errors = errors;
        }

        /// <summary>Its base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
        public string Url { get; }

        /// <summary>What it wrote to stderr so far (the tail), for a failing test's message.</summary>
        public string ErrorOutput => _errors();

        /// <summary>Stops the process and deletes its data directory.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 0)
            {
                _stop();
            }
        }
    }

    [GeneratedRegex(@"listening on (?<url>http://[0-9.]+:\d+)")]
    private static partial Regex ListeningLine();
}
