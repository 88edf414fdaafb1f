using System.Diagnostics;
using System.Globalization;
using Coldstore.ClickHouse.Chdb;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Tests.Chdb;

/// <summary>
/// Runs this test assembly as a separate process, for what cannot happen inside the test host: a second
/// engine on another directory, being killed mid-write, exiting without cleanup, a crash-prone signal test.
/// </summary>
internal static class ChildProcess
{
    public sealed record Outcome(int ExitCode, string Output, string Error);

    /// <summary>Starts <c>dotnet Coldstore.ClickHouse.Tests.dll {mode} {args}</c> and returns the process.</summary>
    public static Process Start(string mode, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        info.ArgumentList.Add(mode);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("Could not start a child process.");
    }

    /// <summary>Runs a child to completion (killing it after <paramref name="timeout"/>).</summary>
    public static async Task<Outcome> RunAsync(string mode, TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment = null, params string[] arguments)
    {
        using var process = Start(mode, environment, arguments);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"Child '{mode}' did not exit within {timeout}. Output so far: {await output} {await error}");
        }

        return new Outcome(process.ExitCode, await output, await error);
    }

    /// <summary>The child side: what each mode does. Returns the exit code.</summary>
    public static async Task<int> MainAsync(string[] args)
    {
        var mode = args[0];
        switch (mode)
        {
            case "open":
            {
                // Opens the engine (used to show the library error message from a clean process).
                await using var client = ChdbClickHouseClient.Open(args[1]);
                return 0;
            }

            case "write-and-wait":
            {
                // Writes, reports, then waits to be killed with no chance to clean up.
                var client = ChdbClickHouseClient.Open(args[1]);
                await client.ExecuteAsync(new ClickHouseQuery("CREATE TABLE IF NOT EXISTS default.survivor (n UInt64) ENGINE = MergeTree ORDER BY n"));
                await client.ExecuteAsync(new ClickHouseQuery("INSERT INTO default.survivor SELECT number FROM numbers(1000)"));
                Console.WriteLine("written");
                await Console.Out.FlushAsync();

                // Keep the engine busy writing while the parent kills us.
                while (true)
                {
                    await client.ExecuteAsync(new ClickHouseQuery("INSERT INTO default.survivor SELECT number + 1000000 FROM numbers(100000)"));
                }
            }

            case "count":
            {
                await using var client = ChdbClickHouseClient.Open(args[1]);
                var count = await client.ScalarAsync(new ClickHouseQuery("SELECT count() FROM default.survivor WHERE n < 1000"));
                Console.WriteLine(Convert.ToString(count, CultureInfo.InvariantCulture));
                return 0;
            }

            case "exit-without-dispose":
            {
                // Leaves a client open, with an idle second one, and returns from Main.
                var client = ChdbClickHouseClient.Open(args[1]);
                _ = ChdbClickHouseClient.Open(args[1]);
                await client.ExecuteAsync(new ClickHouseQuery("CREATE TABLE default.t (n UInt64) ENGINE = MergeTree ORDER BY n"));
                await client.ExecuteAsync(new ClickHouseQuery("INSERT INTO default.t SELECT number FROM numbers(10)"));
                Console.WriteLine("done");
                return 0;
            }

            case "null-reference":
            {
                await using var client = ChdbClickHouseClient.Open(args[1]);
                await client.ScalarAsync(new ClickHouseQuery("SELECT 1"));
                Console.WriteLine(SignalProbe.CatchNullReference() ? "caught" : "not caught");
                Console.WriteLine(SignalProbe.CatchDivideByZero() ? "caught" : "not caught");
                return 0;
            }

            default:
                await Console.Error.WriteLineAsync($"Unknown child mode '{mode}'.");
                return 64;
        }
    }
}

/// <summary>Provokes the hardware faults .NET turns into exceptions through its own signal handlers.</summary>
internal static class SignalProbe
{
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int LengthOf(string? text) => text!.Length;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int Divide(int a, int b) => a / b;

    /// <summary>Dereferences null (a SIGSEGV the runtime must turn into an exception).</summary>
    public static bool CatchNullReference()
    {
        try
        {
            return LengthOf(null) < 0;
        }
        catch (NullReferenceException)
        {
            return true;
        }
    }

    /// <summary>Divides by zero (a SIGFPE on x64 the runtime must turn into an exception).</summary>
    public static bool CatchDivideByZero()
    {
        try
        {
            return Divide(1, 0) < 0;
        }
        catch (DivideByZeroException)
        {
            return true;
        }
    }
}
