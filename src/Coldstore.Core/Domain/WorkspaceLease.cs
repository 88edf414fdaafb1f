namespace Coldstore.Domain;

/// <summary>
/// Proof that one process may operate on one workspace until <see cref="ExpiresAt"/>.
/// The <see cref="Token"/> fences out a holder whose lease expired and was taken over.
/// </summary>
/// <param name="WorkspaceId">The workspace the lease covers.</param>
/// <param name="Owner">Who holds it (host name and process id), for operators.</param>
/// <param name="Token">A fresh value per acquisition; renew and release must present it.</param>
/// <param name="ExpiresAt">When the lease lapses unless renewed, on the state store's clock (UTC).</param>
public sealed record WorkspaceLease(Guid WorkspaceId, string Owner, Guid Token, DateTime ExpiresAt);

/// <summary>Who holds a lease that could not be acquired, for the conflict message.</summary>
/// <param name="WorkspaceId">The workspace the lease covers.</param>
/// <param name="Owner">The current holder.</param>
/// <param name="ExpiresAt">When it lapses unless renewed (UTC).</param>
public sealed record LeaseHolder(Guid WorkspaceId, string Owner, DateTime ExpiresAt);
