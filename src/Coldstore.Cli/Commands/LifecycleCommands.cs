using System.CommandLine;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Services;

namespace Coldstore.Cli.Commands;

/// <summary>
/// <c>coldstore tombstone|activate|pause|resume ID [--no-wait]</c>: Dittofeed's lifecycle changes, which also move
/// the workspace's events to where the new status says they belong.
/// </summary>
internal static class LifecycleCommands
{
    public static IEnumerable<Command> Create(CommandContext context) =>
    [
        Lifecycle(context, WorkspaceTransition.Tombstone,
            "Tombstone the workspace (name and externalId get the DfTombstoned- prefix), then move its events to cold storage."),
        Lifecycle(context, WorkspaceTransition.Activate,
            "Activate a tombstoned workspace (the prefix is stripped; exit 3 if the name or externalId was taken meanwhile), then restore its events."),
        Lifecycle(context, WorkspaceTransition.Pause,
            "Pause the workspace, then move its events to cold storage."),
        Lifecycle(context, WorkspaceTransition.Resume,
            "Resume a paused workspace, then restore its events."),
    ];

    private static Command Lifecycle(CommandContext context, WorkspaceTransition transition, string description)
    {
        var name = transition.StepName();
        var id = ArchiveCommands.WorkspaceArgument();
        var noWait = new Option<bool>("--no-wait")
        {
            Description = "Only change the status; leave moving the events to `coldstore worker`",
        };
        var command = new Command(name, description) { id, noWait };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), name);
            var moveEvents = !parseResult.GetValue(noWait);
            var result = await output.WithProgressAsync($"{name} {workspaceId}",
                progress => runtime.Service.ChangeWorkspaceLifecycleAsync(workspaceId, transition, moveEvents, progress, cancellationToken)).ConfigureAwait(false);
            Print(output, result);
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    private static void Print(CliOutput output, LifecycleResult result)
    {
        var before = result.Change.Before;
        var after = result.Change.After;
        var operation = result.Reconcile?.Operation;
        if (output.IsJson)
        {
            output.WriteJson(new
            {
                workspaceId = after.Id,
                transition = result.Transition.StepName(),
                changed = result.Change.Changed,
                before = new { status = before.Status, name = before.Name, externalId = before.ExternalId },
                after = new { status = after.Status, name = after.Name, externalId = after.ExternalId },
                coldStorage = result.ColdStorageEnabled,
                // "worker" when the move was left to the worker, "off" when cold storage is off.
                moved = !result.ColdStorageEnabled ? "off" : result.Reconcile is null ? "worker" : result.Reconcile.Action,
                storage = result.Storage.ToText(),
                desiredStorage = WorkspaceLifecycle.DesiredStorage(after.Status).ToText(),
                rows = operation?.Rows ?? 0,
                bytes = operation?.Bytes ?? 0,
                checksum = (operation?.Checksum ?? 0).ToString(CultureInfo.InvariantCulture),
                durationMs = (long)(operation?.Duration.TotalMilliseconds ?? 0),
            });
            return;
        }

        if (operation is not null)
        {
            ArchiveCommands.Print(output, operation);
        }

        var status = result.Change.Changed ? $"status {before.Status} → [bold]{after.Status}[/]" : $"status already [bold]{after.Status}[/]";
        var renamed = before.Name == after.Name ? string.Empty : $", name now '{Spectre.Console.Markup.Escape(after.Name)}'";
        var events = !result.ColdStorageEnabled ? "cold storage is off, so the events stay where they are"
            : result.Reconcile is null ? "the worker will move the events"
            : $"events are [bold]{result.Storage.ToText()}[/]";
        output.Info($"[green]{result.Transition.StepName()}[/] {after.Id}: {status}{renamed}; {events}.");
    }
}
