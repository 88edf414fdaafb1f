namespace Coldstore.Domain;

/// <summary>A tenant of the host application, as Coldstore reads it from the <c>Workspace</c> table.</summary>
/// <param name="Id">The workspace's UUID; its text form is ClickHouse's <c>workspace_id</c>.</param>
/// <param name="Name">The display name (prefixed with <c>DfTombstoned-</c> while tombstoned).</param>
/// <param name="Status">The lifecycle status that says where the events should be.</param>
/// <param name="Storage">Where the events actually are.</param>
/// <param name="ExternalId">The host application's own id, if any.</param>
/// <param name="ParentWorkspaceId">The parent workspace for child workspaces.</param>
/// <param name="CreatedAt">When the row was created (UTC).</param>
/// <param name="UpdatedAt">When the row was last changed (UTC).</param>
public sealed record Workspace(
    Guid Id,
    string Name,
    WorkspaceStatus Status,
    StorageState Storage,
    string? ExternalId,
    Guid? ParentWorkspaceId,
    DateTime CreatedAt,
    DateTime UpdatedAt);

/// <summary>What is needed to create a workspace.</summary>
/// <param name="Name">The display name; unique among siblings.</param>
/// <param name="Id">A chosen id, or null to let the store pick a random UUID.</param>
/// <param name="ExternalId">The host application's own id, if any.</param>
/// <param name="ParentWorkspaceId">The parent workspace for child workspaces.</param>
public sealed record NewWorkspace(string Name, Guid? Id = null, string? ExternalId = null, Guid? ParentWorkspaceId = null);
