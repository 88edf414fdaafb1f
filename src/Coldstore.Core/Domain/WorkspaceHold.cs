namespace Coldstore.Domain;

/// <summary>
/// A legal hold on a workspace's archives: while it stands, the retention rule purges none of them. It outlives the
/// workspace's row (an application may delete that), so it is keyed by the id alone.
/// </summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Reason">Why, as the operator gave it (a case number, a request).</param>
/// <param name="PlacedAt">When it was placed or last changed (UTC, the state store's clock).</param>
public sealed record WorkspaceHold(Guid WorkspaceId, string Reason, DateTime PlacedAt);
