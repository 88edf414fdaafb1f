using System.CommandLine;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore archive|restore|verify|checksum ID</c>: move a workspace's events and prove it.</summary>
internal static class ArchiveCommands
{
    public static Command Archive(CommandContext context) => Operation(
        context,
        "archive",
        "Move the workspace's hot events into a new verified archive, then delete them from the hot tables.",
        (service, id, progress, ct) => service.ColdStoreWorkspaceEventsAsync(id, progress, ct));

    public static Command Restore(CommandContext context) => Operation(
        context,
        "restore",
        "Bring every archive of the workspace back into the hot tables, verify, then delete the archives.",
        (service, id, progress, ct) => service.RestoreWorkspaceEventsAsync(id, progress, ct));

    public static Command Verify(CommandContext context)
    {
        var id = WorkspaceArgument();
        var command = new Command("verify", "Re-read every archive of the workspace and compare it with its manifest and ledger row.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "verify");
            var checks = await runtime.Service.VerifyWorkspaceArchivesAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            var ok = checks.All(c => c.Ok);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    workspaceId,
                    ok,
                    archives = checks.Select(c => new { archiveId = c.ArchiveId, state = c.State.ToText(), rows = c.Rows, bytes = c.Bytes, ok = c.Ok, problem = c.Problem }),
                });
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumn("Archive").AddColumn("State").AddColumn(new TableColumn("Rows").RightAligned())
                    .AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Result");
                foreach (var c in checks)
                {
                    table.AddRow(c.ArchiveId.ToString("D"), c.State.ToText(), c.Rows.ToString("N0", CultureInfo.InvariantCulture),
                        c.Bytes.ToString("N0", CultureInfo.InvariantCulture), c.Ok ? "[green]ok[/]" : $"[red]{Markup.Escape(c.Problem ?? "failed")}[/]");
                }

                output.Console.Write(table);
                output.Info(checks.Count == 0 ? "No archives to verify." : ok ? "[green]Every archive matches its manifest.[/]" : "[red]Some archives do not match.[/]");
            }

            return ok ? ExitCodes.Ok : ExitCodes.Failed;
        }, cancellationToken));
        return command;
    }

    public static Command Checksum(CommandContext context)
    {
        var id = WorkspaceArgument();
        var command = new Command("checksum", "Print full-row checksums of the workspace's rows in user_events_v2 and internal_events.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "checksum");
            var sums = await runtime.Service.GetWorkspaceChecksumsAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    workspaceId,
                    eventRows = sums.EventRows,
                    eventChecksum = sums.EventChecksum.ToString(CultureInfo.InvariantCulture),
                    internalEventRows = sums.InternalEventRows,
                    internalEventChecksum = sums.InternalEventChecksum.ToString(CultureInfo.InvariantCulture),
                });
            }
            else
            {
                output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                    $"user_events_v2: {sums.EventRows} rows, checksum {sums.EventChecksum}; internal_events: {sums.InternalEventRows} rows, checksum {sums.InternalEventChecksum}"));
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    internal static Argument<string> WorkspaceArgument() => new("id") { Description = "The workspace id" };

    private static Command Operation(
        CommandContext context,
        string name,
        string description,
        Func<ColdstoreService, Guid, IProgress<OperationProgress>, CancellationToken, Task<OperationResult>> run)
    {
        var id = WorkspaceArgument();
        var command = new Command(name, description) { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), name);
            var result = await output.WithProgressAsync($"{name} {workspaceId}", progress => run(runtime.Service, workspaceId, progress, cancellationToken)).ConfigureAwait(false);
            Print(output, result);
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    internal static void Print(CliOutput output, OperationResult result)
    {
        if (output.IsJson)
        {
            output.WriteJson(new
            {
                workspaceId = result.WorkspaceId,
                operation = result.Operation,
                rows = result.Rows,
                bytes = result.Bytes,
                // Text, so that no JSON reader rounds a 64-bit checksum.
                checksum = result.Checksum.ToString(CultureInfo.InvariantCulture),
                storage = result.Storage.ToText(),
                durationMs = (long)result.Duration.TotalMilliseconds,
                archives = result.Archives.Select(a => new
                {
                    archiveId = a.ArchiveId,
                    state = a.State.ToText(),
                    cutoff = a.Cutoff,
                    rows = a.Rows,
                    bytes = a.Bytes,
                    checksum = a.Checksum.ToString(CultureInfo.InvariantCulture),
                    internalEventRows = a.InternalEventRows,
                    objectPrefix = a.ObjectPrefix,
                }),
                steps = result.Steps.Select(s => new { name = s.Name, durationMs = (long)s.Duration.TotalMilliseconds, detail = s.Detail }),
            });
            return;
        }

        var table = new Table().Border(TableBorder.Simple).AddColumn("Step").AddColumn(new TableColumn("Time").RightAligned()).AddColumn("Detail");
        foreach (var step in result.Steps)
        {
            table.AddRow(Markup.Escape(step.Name), $"{step.Duration.TotalSeconds:F2} s", Markup.Escape(step.Detail ?? string.Empty));
        }

        output.Console.Write(table);
        output.Info(string.Create(CultureInfo.InvariantCulture,
            $"[green]{result.Operation}[/] {result.WorkspaceId}: {result.Rows:N0} rows, {result.Bytes:N0} bytes, checksum {result.Checksum}; storage now [bold]{result.Storage.ToText()}[/] ({result.Duration.TotalSeconds:F1} s)."));
    }
}
