using System.CommandLine;
using System.Globalization;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore hold ID --reason TEXT</c>, <c>release ID</c>, <c>purge [--dry-run]</c>: retention and legal holds.</summary>
internal static class RetentionCommands
{
    public static Command Hold(CommandContext context)
    {
        var id = ArchiveCommands.WorkspaceArgument();
        var reason = new Option<string>("--reason") { Description = "Why (a case or request reference); kept with the hold", Required = true };
        var command = new Command("hold", "Put a legal hold on the workspace's archives: no retention purge touches them until it is released.") { id, reason };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "hold");
            var hold = await runtime.Service.PlaceHoldAsync(workspaceId, parseResult.GetValue(reason) ?? string.Empty, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new { workspaceId, held = true, reason = hold.Reason, placedAt = hold.PlacedAt });
            }
            else
            {
                output.WriteResult($"Workspace {workspaceId} is on hold: {hold.Reason}");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Release(CommandContext context)
    {
        var id = ArchiveCommands.WorkspaceArgument();
        var command = new Command("release", "Lift the workspace's legal hold; the retention rule applies to its archives again.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "release");
            var released = await runtime.Service.ReleaseHoldAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new { workspaceId, released });
            }
            else
            {
                output.WriteResult(released ? $"Workspace {workspaceId}: hold released" : $"Workspace {workspaceId} had no hold");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Purge(CommandContext context)
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "List what the retention rule would purge, and purge nothing" };
        var command = new Command("purge", "Apply the retention rule now: purge archives of workspaces Tombstoned (or deleted) longer than COLDSTORE_PURGE_TOMBSTONED_AFTER_DAYS, unless held.") { dryRun };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var dry = parseResult.GetValue(dryRun);
            var outcomes = await runtime.Service.PurgeArchivesAsync(dry, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    dryRun = dry,
                    archives = outcomes.Select(o => new
                    {
                        workspaceId = o.WorkspaceId, archiveId = o.ArchiveId, rows = o.Rows, bytes = o.Bytes, reason = o.Reason, purged = o.Purged, error = o.Error,
                    }),
                });
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumn("Workspace").AddColumn("Archive").AddColumn(new TableColumn("Rows").RightAligned())
                    .AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Why").AddColumn("Result");
                foreach (var o in outcomes)
                {
                    table.AddRow(o.WorkspaceId.ToString("D"), o.ArchiveId.ToString("D"), o.Rows.ToString("N0", CultureInfo.InvariantCulture),
                        o.Bytes.ToString("N0", CultureInfo.InvariantCulture), Markup.Escape(o.Reason),
                        dry ? "would purge" : o.Purged ? "[green]purged[/]" : $"[red]{Markup.Escape(o.Error ?? "kept")}[/]");
                }

                if (outcomes.Count > 0)
                {
                    output.Console.Write(table);
                }

                output.WriteResult(dry
                    ? string.Create(CultureInfo.InvariantCulture, $"{outcomes.Count} archives of {outcomes.Select(o => o.WorkspaceId).Distinct().Count()} workspaces would be purged ({outcomes.Sum(o => o.Rows)} rows, {outcomes.Sum(o => o.Bytes)} bytes)")
                    : string.Create(CultureInfo.InvariantCulture, $"{outcomes.Count(o => o.Purged)} archives purged ({outcomes.Where(o => o.Purged).Sum(o => o.Rows)} rows, {outcomes.Where(o => o.Purged).Sum(o => o.Bytes)} bytes); {outcomes.Count(o => !o.Purged)} failed"));
            }

            return outcomes.Any(o => o.Error is not null) ? ExitCodes.Failed : ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }
}
