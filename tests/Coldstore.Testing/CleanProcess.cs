using System.Diagnostics;

namespace Coldstore.Testing;

/// <summary>
/// Runs a program as a user's shell would: without any <c>COLDSTORE_*</c> variable of the test run (so it sees the
/// defaults, or only what the test sets), its output captured, killed with its children if it outlives a timeout.
/// </summary>
public static class CleanProcess
{
    /// <summary>What a run printed and how it ended.</summary>
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr)
    {
        /// <inheritdoc />
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/> in <paramref name="workingDirectory"/>.</summary>
    /// <param name="program">The program (a path, or a name on PATH).</param>
    /// <param name="workingDirectory">Where it runs.</param>
    /// <param name="timeout">How long it may take before it is killed and the run fails.</param>
    /// <param name="environment">Variables to set (after the <c>COLDSTORE_*</c> ones are removed).</param>
    /// <param name="args">Its arguments.</param>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/>; the message carries its stderr.</exception>
    public static async Task<Outcome> RunAsync(
        string program, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("COLDSTORE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var cancel = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout.TotalMinutes} minutes. stderr: {await stderr}");
            }
        }

        return new Outcome(process.ExitCode, await stdout, await stderr);
    }
}
