using System.CommandLine;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Services;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore erase --workspace ID --user U… [--anonymous-id A…]</c>: erase users from a workspace's hot and cold data.</summary>
internal static class EraseCommand
{
    public static Command Create(CommandContext context)
    {
        var workspace = new Option<string>("--workspace") { Description = "The workspace id", Required = true };
        var users = new Option<string[]>("--user") { Description = "A user_id whose events are erased (repeat for several)", AllowMultipleArgumentsPerToken = false };
        var anonymous = new Option<string[]>("--anonymous-id") { Description = "An anonymous_id whose events are erased (repeat for several)", AllowMultipleArgumentsPerToken = false };
        var requestedBy = new Option<string>("--requested-by")
        {
            Description = "Who asks (kept in the ledger with the erasure): an operator or a ticket; default the OS user",
            DefaultValueFactory = _ => Environment.UserName,
        };
        var pending = new Option<bool>("--pending") { Description = "Name no user: apply the workspace's pending erasures (recorded while it was busy, or interrupted)" };
        var command = new Command("erase",
            "Erase users from a workspace: their events leave user_events_v2 and internal_events, and every archive (objects holding them are rewritten, verified and swapped). The ledger keeps who and when, and salted hashes of the ids only.")
        {
            workspace, users, anonymous, requestedBy, pending,
        };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(workspace), "erase");
            var userIds = parseResult.GetValue(users) ?? [];
            var anonymousIds = parseResult.GetValue(anonymous) ?? [];
            var onlyPending = parseResult.GetValue(pending);
            if (onlyPending && userIds.Length + anonymousIds.Length > 0)
            {
                output.Error($"Workspace {workspaceId}, step erase: --pending applies what is recorded and names no user; run it without --user and --anonymous-id. Nothing was recorded.");
                return ExitCodes.UsageOrConfiguration;
            }

            var request = new ErasureRequest(userIds, anonymousIds, parseResult.GetValue(requestedBy) ?? Environment.UserName);
            var result = await output.WithProgressAsync($"erase {workspaceId}", progress => onlyPending
                ? runtime.Service.ApplyPendingErasuresAsync(workspaceId, progress, cancellationToken)
                : runtime.Service.EraseUsersAsync(workspaceId, request, progress, cancellationToken)).ConfigureAwait(false);
            var applied = result.AlsoApplied.Concat(result.Erasure is { } e ? [e] : []).ToList();
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    workspaceId,
                    erasureId = result.Erasure?.ErasureId,
                    state = result.Erasure?.State.ToText(),
                    pendingBecause = result.PendingBecause,
                    erasures = applied.Select(Describe),
                    durationMs = (long)result.Duration.TotalMilliseconds,
                });
            }
            else
            {
                foreach (var erasure in applied)
                {
                    output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                        $"Erasure {erasure.ErasureId} of workspace {workspaceId}: {erasure.State.ToText()}; {erasure.Progress.ArchivedRowsErased} archived rows erased from {erasure.Progress.Archives.Count} archives{(erasure.Progress.HotRowsDeleted ? ", hot rows deleted" : string.Empty)}"));
                }

                if (result.PendingBecause is { } why)
                {
                    output.Error($"Workspace {workspaceId}, step erase: the erasure is recorded and still pending. {why}");
                }
                else if (applied.Count == 0)
                {
                    output.WriteResult($"Workspace {workspaceId}: no pending erasure");
                }
            }

            // Recorded but not applied yet: a script must not take the users for erased.
            return result.PendingBecause is null ? ExitCodes.Ok : ExitCodes.Conflict;
        }, cancellationToken));
        return command;
    }

    /// <summary>An erasure as <c>erase --json</c> and <c>archives --json</c> show it: hashes stay in the ledger, ids never appear.</summary>
    public static object Describe(ErasureRecord erasure) => new
    {
        erasureId = erasure.ErasureId,
        state = erasure.State.ToText(),
        requestedBy = erasure.RequestedBy,
        requestedAt = erasure.RequestedAt,
        appliedAt = erasure.AppliedAt,
        userIds = erasure.Identities.UserIdHashes.Count,
        anonymousIds = erasure.Identities.AnonymousIdHashes.Count,
        hotRowsDeleted = erasure.Progress.HotRowsDeleted,
        archivedRowsErased = erasure.Progress.ArchivedRowsErased,
        archives = erasure.Progress.Archives.Select(a => new { archiveId = a.ArchiveId, rowsErased = a.RowsErased, step = a.Step.ToString().ToLowerInvariant() }),
        lastError = erasure.LastError,
    };
}
