using System.CommandLine;
using Coldstore.Cli.Commands;

namespace Coldstore.Cli;

/// <summary>Builds the command tree and runs it. Tests call <see cref="RunAsync"/> in process with captured writers.</summary>
internal static class CliApp
{
    /// <summary>How long a command may take to stop after Ctrl+C or SIGTERM before the process ends anyway.</summary>
    public static readonly TimeSpan ShutdownBound = TimeSpan.FromSeconds(60);

    /// <summary>Parses and runs a command line; returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default) =>
        RunAsync(args, stdout, stderr, terminal: null, cancellationToken);

    /// <summary>
    /// Parses and runs a command line, drawing on <paramref name="terminal"/> (stderr taken for an interactive terminal
    /// of that size) when given, so that tests see live displays exactly as a person would.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CliTerminal? terminal, CancellationToken cancellationToken = default)
    {
        var options = new GlobalOptions();
        var root = new RootCommand("Coldstore: reversible per-tenant cold storage of ClickHouse event data.");
        options.AddTo(root);
        var context = new CommandContext(options, stdout, stderr, terminal);
        root.Subcommands.Add(InitCommand.Create(context));
        root.Subcommands.Add(WorkspaceCommands.Create(context));
        root.Subcommands.Add(IngestCommand.Create(context));
        root.Subcommands.Add(StatusCommand.Create(context));
        root.Subcommands.Add(ArchiveCommands.Archive(context));
        root.Subcommands.Add(ArchiveCommands.Restore(context));
        root.Subcommands.Add(ArchiveCommands.Verify(context));
        root.Subcommands.Add(ArchiveCommands.Checksum(context));
        root.Subcommands.Add(ArchiveCommands.Archives(context));
        root.Subcommands.Add(QueryCommand.Create(context));
        root.Subcommands.Add(EraseCommand.Create(context));
        root.Subcommands.Add(RetentionCommands.Hold(context));
        root.Subcommands.Add(RetentionCommands.Release(context));
        root.Subcommands.Add(RetentionCommands.Purge(context));
        root.Subcommands.Add(DemoCommand.Create(context));
        foreach (var lifecycle in LifecycleCommands.Create(context))
        {
            root.Subcommands.Add(lifecycle);
        }

        root.Subcommands.Add(WorkerCommand.Create(context));

        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            foreach (var error in parseResult.Errors)
            {
                await stderr.WriteLineAsync($"coldstore: {error.Message}").ConfigureAwait(false);
            }

            await stderr.WriteLineAsync("Run `coldstore --help` for usage.").ConfigureAwait(false);
            return ExitCodes.UsageOrConfiguration;
        }

        var invocation = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            EnableDefaultExceptionHandler = false,
            // Ctrl+C and SIGTERM cancel the command's token; every operation then stops at its next step and releases
            // its lease. This is the hard bound on that: a statement still running after it is abandoned with the
            // process, which is safe (every step resumes), only slower to pick up because its lease must lapse.
            ProcessTerminationTimeout = ShutdownBound,
        };
        return await parseResult.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }
}
