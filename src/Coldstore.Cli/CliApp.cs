using System.CommandLine;
using Coldstore.Cli.Commands;

namespace Coldstore.Cli;

/// <summary>Builds the command tree and runs it. Tests call <see cref="RunAsync"/> in process with captured writers.</summary>
internal static class CliApp
{
    /// <summary>Parses and runs a command line; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var options = new GlobalOptions();
        var root = new RootCommand("Coldstore: reversible per-tenant cold storage of ClickHouse event data.");
        options.AddTo(root);
        var context = new CommandContext(options, stdout, stderr);
        root.Subcommands.Add(InitCommand.Create(context));
        root.Subcommands.Add(WorkspaceCommands.Create(context));
        root.Subcommands.Add(IngestCommand.Create(context));
        root.Subcommands.Add(StatusCommand.Create(context));
        root.Subcommands.Add(ArchiveCommands.Archive(context));
        root.Subcommands.Add(ArchiveCommands.Restore(context));
        root.Subcommands.Add(ArchiveCommands.Verify(context));
        root.Subcommands.Add(ArchiveCommands.Checksum(context));

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

        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        return await parseResult.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }
}
