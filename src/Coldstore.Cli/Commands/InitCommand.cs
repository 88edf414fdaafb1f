using System.CommandLine;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore init</c>: migrate the state store and create missing ClickHouse tables. Idempotent.</summary>
internal static class InitCommand
{
    public static Command Create(CommandContext context)
    {
        var command = new Command("init", "Create the state schema and the ClickHouse tables that are missing (safe to rerun).");
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, requireInitialized: false, async (runtime, output) =>
        {
            var result = await runtime.Service.InitializeAsync(cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    clickHouse = runtime.ClickHouse.Description,
                    state = runtime.State.Description,
                    archive = runtime.Archive.Description,
                    database = runtime.Service.Tables.Database,
                    stateMigrations = result.StateMigrations,
                });
            }
            else
            {
                output.Info($"[green]Initialized.[/] ClickHouse: {Spectre.Console.Markup.Escape(runtime.ClickHouse.Description)}");
                output.Info($"State: {Spectre.Console.Markup.Escape(runtime.State.Description)} (migrations {string.Join(", ", result.StateMigrations)})");
                output.Info($"Archive: {Spectre.Console.Markup.Escape(runtime.Archive.Description)}");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }
}
