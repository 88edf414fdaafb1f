using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Services;

/// <summary>Reads every operation needs from the state store, with the errors people see.</summary>
internal static class StateStoreExtensions
{
    /// <summary>Reads a workspace or fails with a not-found error that names it and the step.</summary>
    public static async Task<Workspace> RequireWorkspaceAsync(this IStateStore state, Guid workspaceId, string step, CancellationToken cancellationToken) =>
        await state.GetWorkspaceAsync(workspaceId, cancellationToken).ConfigureAwait(false)
        ?? throw new WorkspaceOperationException(
            workspaceId,
            step,
            $"Workspace {workspaceId} does not exist; `coldstore status` lists the workspaces there are.",
            WorkspaceErrorKind.NotFound);
}
