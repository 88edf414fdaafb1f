using Coldstore.Cli;

namespace Coldstore.Tests;

/// <summary>What one in-process run of the CLI produced.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The non-empty lines written to stderr.</summary>
    public IReadOnlyList<string> StderrLines =>
        Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>For assertion messages: everything the run printed.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the CLI in this process with captured output, exactly as <c>Program</c> does with the console.</summary>
public static class Cli
{
    public static async Task<CliResult> RunAsync(IEnumerable<string> args)
    {
        using var stdout = new StringWriter { NewLine = "\n" };
        using var stderr = new StringWriter { NewLine = "\n" };
        var code = await CliApp.RunAsync(args.ToArray(), stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// Runs the CLI as if stderr were an interactive ANSI terminal, so progress displays are drawn live into the
    /// captured stderr, escape sequences and all.
    /// </summary>
    public static async Task<CliResult> RunOnTerminalAsync(IEnumerable<string> args)
    {
        using var stdout = new StringWriter { NewLine = "\n" };
        using var stderr = new StringWriter { NewLine = "\n" };
        // The display redraws from its own thread while the command logs from others; a real console serializes
        // writes the same way, and a bare StringWriter would not.
        var terminal = TextWriter.Synchronized(stderr);
        var code = await CliApp.RunAsync(args.ToArray(), stdout, terminal, new CliTerminal(Width: 120, Height: 50));
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }
}
