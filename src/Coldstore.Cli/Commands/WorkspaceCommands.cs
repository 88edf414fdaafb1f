using System.CommandLine;
using Coldstore.Domain;
using Coldstore.Services;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore workspace …</c>: manage workspaces in the state store.</summary>
internal static class WorkspaceCommands
{
    public static Command Create(CommandContext context)
    {
        var workspace = new Command("workspace", "Manage workspaces.");
        workspace.Subcommands.Add(CreateCommand(context));
        return workspace;
    }

    private static Command CreateCommand(CommandContext context)
    {
        var name = new Option<string>("--name") { Description = "The workspace's name (unique)", Required = true };
        var id = new Option<string?>("--id") { Description = "A UUID to use instead of a random one" };
        var externalId = new Option<string?>("--external-id") { Description = "The host application's own id" };
        var command = new Command("create", "Create a workspace (Active, events hot) and print its id.") { name, id, externalId };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var idText = parseResult.GetValue(id);
            Guid? chosenId = idText is null ? null : ColdstoreService.ParseWorkspaceId(idText, "create-workspace");
            var created = await runtime.Service.CreateWorkspaceAsync(
                new NewWorkspace(parseResult.GetValue(name)!, chosenId, parseResult.GetValue(externalId)),
                cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new { id = created.Id, name = created.Name, status = created.Status, storage = created.Storage.ToText() });
            }
            else
            {
                output.WriteResult(created.Id.ToString("D"));
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }
}
