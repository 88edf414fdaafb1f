using System.CommandLine;
using Coldstore.Domain;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore status [ID]</c>: where each workspace's events are.</summary>
internal static class StatusCommand
{
    public static Command Create(CommandContext context)
    {
        var id = new Argument<string?>("id") { Description = "One workspace id (default: all)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("status", "Show each workspace's status, storage state and hot row count.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var idText = parseResult.GetValue(id);
            Guid? workspaceId = idText is null ? null : ColdstoreService.ParseWorkspaceId(idText, "status");
            var reports = await runtime.Service.GetStatusAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                // Field names are a contract: later versions add fields, never rename them.
                output.WriteJson(reports.Select(r => new
                {
                    id = r.Id,
                    name = r.Name,
                    status = r.Status,
                    storage = r.Storage.ToText(),
                    hotRows = r.HotRows,
                    archives = r.Archives,
                    archivedRows = r.ArchivedRows,
                    archivedBytes = r.ArchivedBytes,
                    pendingDeletes = r.PendingDeletes,
                    lastError = r.LastError,
                }));
                return ExitCodes.Ok;
            }

            var table = new Table().Border(TableBorder.Rounded)
                .AddColumn("Workspace").AddColumn("Name").AddColumn("Status").AddColumn("Storage").AddColumn(new TableColumn("Hot rows").RightAligned())
                .AddColumn(new TableColumn("Archives").RightAligned()).AddColumn(new TableColumn("Archived rows").RightAligned())
                .AddColumn(new TableColumn("Archived bytes").RightAligned()).AddColumn(new TableColumn("Pending deletes").RightAligned());
            foreach (var r in reports)
            {
                var culture = System.Globalization.CultureInfo.InvariantCulture;
                table.AddRow(
                    r.Id.ToString("D"), Markup.Escape(r.Name), r.Status.ToString(), StorageMarkup(r.Storage),
                    r.HotRows.ToString("N0", culture), r.Archives.ToString(culture), r.ArchivedRows.ToString("N0", culture),
                    r.ArchivedBytes.ToString("N0", culture), r.PendingDeletes.ToString(culture));
            }

            output.Console.Write(table);
            foreach (var r in reports.Where(r => r.LastError is not null))
            {
                output.Info($"[red]{r.Id:D}[/]: last error: {Markup.Escape(r.LastError!)}");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    private static string StorageMarkup(StorageState storage) => storage switch
    {
        StorageState.Hot => "[red]hot[/]",
        StorageState.Cold => "[blue]cold[/]",
        _ => $"[yellow]{storage.ToText()}[/]",
    };
}
