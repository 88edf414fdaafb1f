namespace Coldstore.State.Relational;

/// <summary>
/// The statements of one dialect, by what they do. Each dialect fills this from its own SQL class (constants the tests
/// check), so the shared store runs the same steps with the text its database needs. Every value is bound as a
/// parameter with the names given here.
/// </summary>
internal sealed record StateStatements
{
    /// <summary>Run first in each migration's transaction to serialise migrators, or null when the write transaction already does.</summary>
    public string? LockMigrations { get; init; }

    /// <summary>Creates the table of applied migration versions.</summary>
    public required string CreateMigrationTable { get; init; }

    /// <summary>True when the migration table exists.</summary>
    public required string MigrationTableExists { get; init; }

    /// <summary>True when migration <c>@version</c> is recorded.</summary>
    public required string IsMigrationApplied { get; init; }

    /// <summary>Records migration <c>@version</c> named <c>@name</c>.</summary>
    public required string RecordMigration { get; init; }

    /// <summary>The applied versions, ascending.</summary>
    public required string AppliedMigrations { get; init; }

    /// <summary>Creates a workspace (<c>@id</c>, <c>@name</c>, <c>@externalId</c>, <c>@parentWorkspaceId</c>), returning it.</summary>
    public required string InsertWorkspace { get; init; }

    /// <summary>One workspace by <c>@id</c>.</summary>
    public required string SelectWorkspace { get; init; }

    /// <summary>All workspaces, oldest first.</summary>
    public required string SelectWorkspaces { get; init; }

    /// <summary>One workspace by <c>@id</c>, locked against other writers until the transaction ends.</summary>
    public required string SelectWorkspaceForUpdate { get; init; }

    /// <summary>Writes a lifecycle transition (<c>@status</c>, <c>@name</c>, <c>@externalId</c>) of <c>@id</c>, returning the row.</summary>
    public required string UpdateWorkspaceStatus { get; init; }

    /// <summary>Compare-and-set of the storage column of <c>@id</c> from <c>@expected</c> to <c>@desired</c>.</summary>
    public required string SetStorage { get; init; }

    /// <summary><see cref="SetStorage"/>, also only while the lease <c>@leaseToken</c> of <c>@id</c> is held.</summary>
    public required string SetStorageFenced { get; init; }

    /// <summary>Inserts a ledger row.</summary>
    public required string InsertArchive { get; init; }

    /// <summary><see cref="InsertArchive"/>, only while the lease <c>@leaseToken</c> of <c>@workspaceId</c> is held.</summary>
    public required string InsertArchiveFenced { get; init; }

    /// <summary>Replaces a ledger row's mutable fields.</summary>
    public required string UpdateArchive { get; init; }

    /// <summary><see cref="UpdateArchive"/>, only while the row's state is <c>@expected</c> and the lease <c>@leaseToken</c> is held.</summary>
    public required string UpdateArchiveFenced { get; init; }

    /// <summary>One ledger row by <c>@archiveId</c>.</summary>
    public required string SelectArchive { get; init; }

    /// <summary>A workspace's ledger rows in insertion order.</summary>
    public required string SelectArchives { get; init; }

    /// <summary>Every ledger row, ordered by workspace, then oldest first.</summary>
    public required string SelectAllArchives { get; init; }

    /// <summary>Records an erasure from <c>@erasureId, @workspaceId, @requestedBy, @identities, @state, @progress</c>.</summary>
    public required string InsertErasure { get; init; }

    /// <summary>Updates a pending erasure's <c>@state, @progress, @lastError</c> while the lease <c>@leaseToken</c> is held.</summary>
    public required string UpdateErasureFenced { get; init; }

    /// <summary>One erasure by <c>@erasureId</c>.</summary>
    public required string SelectErasure { get; init; }

    /// <summary>A workspace's erasures by <c>@workspaceId</c>, oldest first.</summary>
    public required string SelectErasures { get; init; }

    /// <summary>Every pending erasure, oldest first.</summary>
    public required string SelectPendingErasures { get; init; }

    /// <summary>Places (or replaces the reason of) the hold of <c>@workspaceId</c> with <c>@reason</c>, returning the row.</summary>
    public required string PlaceHold { get; init; }

    /// <summary>Deletes the hold of <c>@workspaceId</c>.</summary>
    public required string ReleaseHold { get; init; }

    /// <summary>Every hold, by workspace id.</summary>
    public required string SelectHolds { get; init; }

    /// <summary>Takes the lease of <c>@workspaceId</c> for <c>@owner</c> with <c>@token</c> for <c>@duration</c>; returns a row only when taken.</summary>
    public required string AcquireLease { get; init; }

    /// <summary>Who holds the lease of <c>@workspaceId</c>.</summary>
    public required string SelectLeaseHolder { get; init; }

    /// <summary>True while the lease <c>@leaseToken</c> of <c>@workspaceId</c> is held and unexpired on the database clock.</summary>
    public required string LeaseHeld { get; init; }

    /// <summary>Extends the lease of <c>@workspaceId</c> while its token is <c>@token</c>.</summary>
    public required string RenewLease { get; init; }

    /// <summary>Deletes the lease of <c>@workspaceId</c> while its token is <c>@token</c>.</summary>
    public required string ReleaseLease { get; init; }
}
