using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Coldstore.Crash.Tests.Support;

/// <summary>What one child run of the CLI produced.</summary>
public sealed record CliResult(string CommandLine, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool KilledByTest)
{
    /// <summary>The exit code of a process ended by SIGKILL, as .NET reports it on Unix (128 + 9).</summary>
    public const int SigKillExitCode = 137;

    /// <summary>True when the process ended with SIGKILL (the failpoint's self-kill, or the test's kill).</summary>
    public bool DiedOfSigKill => ExitCode == SigKillExitCode;

    /// <summary>The JSON document on stdout; throws with everything the run printed when there is none.</summary>
    public JsonElement Json()
    {
        try
        {
            using var document = JsonDocument.Parse(Stdout);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"The CLI printed no JSON document on stdout ({e.Message}).\n{this}", e);
        }
    }

    /// <summary>Deserializes the JSON document on stdout.</summary>
    public T Json<T>() => Json().Deserialize<T>(JsonOptions) ?? throw new InvalidOperationException($"The CLI printed JSON null.\n{this}");

    /// <summary>For assertion messages: the command and everything it printed.</summary>
    public override string ToString() =>
        $"$ {CommandLine}\nexit {ExitCode} after {Elapsed.TotalSeconds:F1} s{(KilledByTest ? " (killed by the test)" : string.Empty)}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}

/// <summary>
/// Starts the <c>coldstore</c> CLI (Coldstore.Cli.dll from this project's output directory) as a child process with
/// a given environment, captures stdout and stderr, and enforces a timeout (a hung child is killed and the test fails).
/// </summary>
/// <remarks>
/// At most <see cref="MaxConcurrentChildren"/> throttled children run at once across all test classes: each child
/// loads chDB and costs about a CPU-second to start, and the machine this runs on has two cores. Runs that must
/// overlap another (the second process of a lock test) or that mostly sleep (a lease wait) are started unthrottled.
/// </remarks>
public static class ColdstoreCli
{
    /// <summary>How many throttled children may run at once.</summary>
    public const int MaxConcurrentChildren = 2;

    /// <summary>The timeout of a run unless the caller gives one.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    private static readonly SemaphoreSlim Throttle = new(MaxConcurrentChildren);

    /// <summary>The CLI's entry assembly, copied here by the project reference.</summary>
    public static string CliPath { get; } = Path.Combine(AppContext.BaseDirectory, "Coldstore.Cli.dll");

    /// <summary>Runs the CLI to completion (or kills it at the timeout and says so in the result).</summary>
    public static async Task<CliResult> RunAsync(
        IReadOnlyDictionary<string, string> environment, string workingDirectory, IReadOnlyList<string> args,
        TimeSpan? timeout = null, bool throttled = true)
    {
        await using var running = await StartAsync(environment, workingDirectory, args, throttled);
        return await running.WaitAsync(timeout ?? DefaultTimeout);
    }

    /// <summary>Starts the CLI and returns at once; the caller waits for it or kills it.</summary>
    public static async Task<RunningCli> StartAsync(
        IReadOnlyDictionary<string, string> environment, string workingDirectory, IReadOnlyList<string> args, bool throttled = true)
    {
        if (!File.Exists(CliPath))
        {
            throw new InvalidOperationException($"{CliPath} is missing: build this test project (it references src/Coldstore.Cli) first.");
        }

        if (throttled)
        {
            await Throttle.WaitAsync();
        }

        try
        {
            // The SDK names the dotnet host it runs under; a bare "dotnet" from PATH could be another installation.
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";
            var start = new ProcessStartInfo(host)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            start.ArgumentList.Add(CliPath);
            foreach (var arg in args)
            {
                start.ArgumentList.Add(arg);
            }

            // Nothing from the test's own environment may steer the child (a stray COLDSTORE_FAILPOINT would kill it):
            // every Coldstore and AWS setting comes from the caller. COLDSTORE_LIBCHDB is kept, as the user set it.
            foreach (var name in start.Environment.Keys.ToList())
            {
                if ((name.StartsWith("COLDSTORE_", StringComparison.Ordinal) && name != "COLDSTORE_LIBCHDB")
                    || name.StartsWith("AWS_", StringComparison.Ordinal))
                {
                    start.Environment.Remove(name);
                }
            }

            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }

            var commandLine = string.Join(' ', environment.Where(e => e.Key is "COLDSTORE_FAILPOINT").Select(e => $"{e.Key}={e.Value}")
                .Append("coldstore").Concat(args));
            var process = Process.Start(start) ?? throw new InvalidOperationException($"{host} did not start.");
            process.StandardInput.Close();
            return new RunningCli(process, commandLine, throttled ? Throttle : null);
        }
        catch
        {
            if (throttled)
            {
                Throttle.Release();
            }

            throw;
        }
    }
}

/// <summary>A CLI child process that is running: wait for it, or kill it at an instant of the test's choosing.</summary>
public sealed class RunningCli : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _commandLine;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private SemaphoreSlim? _slot;
    private bool _killedByTest;

    internal RunningCli(Process process, string commandLine, SemaphoreSlim? slot)
    {
        _process = process;
        _commandLine = commandLine;
        _slot = slot;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    /// <summary>The child's process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>True once the child has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>How long the child has been running.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>
    /// Sends SIGKILL (a crash: no finally blocks, no flushes). Returns false when the child had already exited, so the
    /// kill changed nothing.
    /// </summary>
    public bool KillNow()
    {
        try
        {
            if (_process.HasExited)
            {
                return false;
            }

            // Process.Kill() is SIGKILL on Unix. `dotnet app.dll` runs the app in this very process (no child).
            _process.Kill();
            _killedByTest = true;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sends SIGTERM (a graceful stop request, as a service manager sends) through <c>kill -TERM</c>. Returns false
    /// when the child had already exited.
    /// </summary>
    public async Task<bool> TerminateNowAsync()
    {
        if (_process.HasExited)
        {
            return false;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync();
        return kill.ExitCode == 0;
    }

    /// <summary>Waits for the child to exit; kills it at <paramref name="timeout"/> and throws with what it printed.</summary>
    public async Task<CliResult> WaitAsync(TimeSpan timeout)
    {
        try
        {
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
                var partial = new CliResult(_commandLine, _process.ExitCode, await _stdout, await _stderr, _clock.Elapsed, true);
                throw new TimeoutException($"The CLI did not finish within {timeout.TotalSeconds:0} s and was killed.\n{partial}");
            }

            return new CliResult(_commandLine, _process.ExitCode, await _stdout, await _stderr, _clock.Elapsed, _killedByTest);
        }
        finally
        {
            ReleaseSlot();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (KillNow())
        {
            await _process.WaitForExitAsync();
        }

        ReleaseSlot();
        _process.Dispose();
    }

    private void ReleaseSlot() => Interlocked.Exchange(ref _slot, null)?.Release();
}
