namespace Coldstore.State.Postgres;

/// <summary>
/// Every statement the Postgres state store runs, as text. Nothing here touches a connection: the shared
/// <see cref="Relational.RelationalStore"/> executes these (through <see cref="PostgresDialect"/>) with bound
/// parameters, and the tests check their shape.
/// </summary>
/// <remarks>
/// Names are unqualified on purpose: the connection's search path decides the schema, so Dittofeed's own
/// <c>public."Workspace"</c> is found as-is and tests can isolate themselves in a schema of their own.
/// Identifiers are quoted camelCase to match Dittofeed's Prisma-made tables.
/// </remarks>
internal static class PostgresSql
{
    /// <summary>
    /// Serialises migrators for the schema the search path points at, until the transaction ends.
    /// Why the schema in the key: two test schemas in one database need not wait for each other, while two
    /// processes migrating the same schema must. <c>coalesce</c> because a strict function given NULL returns NULL
    /// without locking anything.
    /// </summary>
    public const string LockMigrations =
        "SELECT pg_advisory_xact_lock(1131375716, hashtext(coalesce(current_schema(), '')))";

    /// <summary>The table of applied migration versions.</summary>
    public const string CreateMigrationTable = """
        CREATE TABLE IF NOT EXISTS "ColdstoreMigration" (
            "version" integer PRIMARY KEY,
            "name" text NOT NULL,
            "appliedAt" timestamptz(3) NOT NULL DEFAULT now()
        )
        """;

    /// <summary>True when the migration table exists (reading it before the first migration must not fail).</summary>
    public const string MigrationTableExists = """SELECT to_regclass('"ColdstoreMigration"') IS NOT NULL""";

    /// <summary>True when the migration <c>@version</c> is recorded.</summary>
    public const string IsMigrationApplied = """SELECT EXISTS (SELECT 1 FROM "ColdstoreMigration" WHERE "version" = @version)""";

    /// <summary>Records the migration <c>@version</c> named <c>@name</c>.</summary>
    public const string RecordMigration = """INSERT INTO "ColdstoreMigration" ("version", "name") VALUES (@version, @name)""";

    /// <summary>The applied versions, ascending.</summary>
    public const string AppliedMigrations = """SELECT "version" FROM "ColdstoreMigration" ORDER BY "version" """;

    /// <summary>
    /// The workspace columns in the order <see cref="PostgresStore"/> reads them. The status enum is read as text
    /// so no enum type mapping is needed on the data source.
    /// </summary>
    public const string WorkspaceColumns = """
        "id", "name", "status"::text, "coldstoreStorage", "externalId", "parentWorkspaceId", "createdAt", "updatedAt"
        """;

    /// <summary>
    /// Creates a workspace, Active and hot. <c>@id</c> may be NULL for a random one.
    /// Why <c>now() AT TIME ZONE 'UTC'</c>: Dittofeed's timestamps are <c>timestamp</c> without zone and hold UTC;
    /// the column default would store the session's local time instead.
    /// </summary>
    public const string InsertWorkspace = $"""
        INSERT INTO "Workspace" ("id", "name", "externalId", "parentWorkspaceId", "type", "status", "coldstoreStorage", "createdAt", "updatedAt")
        VALUES (coalesce(@id, gen_random_uuid()), @name, @externalId, @parentWorkspaceId,
                (CASE WHEN @parentWorkspaceId IS NULL THEN 'Root' ELSE 'Child' END)::"WorkspaceType",
                'Active', 'hot', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
        RETURNING {WorkspaceColumns}
        """;

    /// <summary>One workspace by <c>@id</c>.</summary>
    public const string SelectWorkspace = $"""SELECT {WorkspaceColumns} FROM "Workspace" WHERE "id" = @id""";

    /// <summary>All workspaces, oldest first.</summary>
    public const string SelectWorkspaces = $"""SELECT {WorkspaceColumns} FROM "Workspace" ORDER BY "createdAt", "id" """;

    /// <summary>
    /// Compare-and-set of the storage column. Leaves Dittofeed's <c>updatedAt</c> alone: that column tells users when
    /// they changed the workspace, and Coldstore moving events is not such a change.
    /// </summary>
    public const string SetStorage = """
        UPDATE "Workspace" SET "coldstoreStorage" = @desired
        WHERE "id" = @id AND "coldstoreStorage" = @expected
        """;

    /// <summary>
    /// The condition that fences a write made under a lease: the lease of the workspace <paramref name="workspaceParameter"/>
    /// names still has the token <c>@leaseToken</c> and has not expired on the database clock. Why <c>FOR SHARE</c>: it
    /// locks the lease row until the write commits, so a takeover (the upsert of <see cref="AcquireLease"/>) waits for
    /// a write that found the lease held, and a write that starts after a takeover committed re-reads the row and sees
    /// the new token. Without it a write could commit after the lease it checked had been taken over.
    /// </summary>
    private static string LeaseHeldWhere(string workspaceParameter) => $"""
        EXISTS (SELECT 1 FROM "ColdstoreLease"
                WHERE "workspaceId" = {workspaceParameter} AND "token" = @leaseToken AND "expiresAt" > now()
                FOR SHARE)
        """;

    /// <summary>True while the lease <c>@leaseToken</c> of <c>@workspaceId</c> is held (why a fenced write changed nothing).</summary>
    public static readonly string LeaseHeld = "SELECT " + LeaseHeldWhere("@workspaceId");

    /// <summary><see cref="SetStorage"/>, only while the lease <c>@leaseToken</c> of <c>@id</c> is held, in the same statement.</summary>
    public static readonly string SetStorageFenced = SetStorage + "\n  AND " + LeaseHeldWhere("@id");

    /// <summary>
    /// One workspace by <c>@id</c>, row-locked until the transaction ends. Why a lock: a lifecycle change reads the
    /// status, decides, then writes; without it two racing changes could both decide from the same old status.
    /// </summary>
    public const string SelectWorkspaceForUpdate = $"""SELECT {WorkspaceColumns} FROM "Workspace" WHERE "id" = @id FOR UPDATE""";

    /// <summary>
    /// Writes a lifecycle transition's identity columns and stamps <c>updatedAt</c> from the database clock (UTC,
    /// like <see cref="InsertWorkspace"/>; the <c>timestamp(3)</c> column keeps milliseconds). Returns the row as
    /// it now is. The status is bound as text and cast, so no enum type mapping is needed on the data source.
    /// </summary>
    public const string UpdateWorkspaceStatus = $"""
        UPDATE "Workspace"
        SET "status" = @status::"WorkspaceStatus", "name" = @name, "externalId" = @externalId,
            "updatedAt" = now() AT TIME ZONE 'UTC'
        WHERE "id" = @id
        RETURNING {WorkspaceColumns}
        """;

    /// <summary>The channel the <c>Workspace</c> trigger of migration 5 notifies; the payload is the workspace id.</summary>
    public const string WorkspaceChannel = "coldstore_workspace";

    /// <summary>Subscribes the session to <see cref="WorkspaceChannel"/> (a channel name cannot be a bound parameter).</summary>
    public const string ListenWorkspaceChanges = "LISTEN " + WorkspaceChannel;

    /// <summary>The ledger columns in the order <see cref="PostgresStore"/> reads them.</summary>
    public const string ArchiveColumns = """
        "archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk"
        """;

    /// <summary>Inserts a ledger row; both timestamps come from the database clock.</summary>
    public const string InsertArchive = $"""
        INSERT INTO "ColdstoreArchive" ("archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk")
        VALUES (@archiveId, @workspaceId, @state, @cutoff, @objectPrefix, @rowCount, @checksum, @bytes, @internalEventRows, now(), now(), @lastError, @restoreBaseline, @chunk)
        RETURNING {ArchiveColumns}
        """;

    /// <summary>
    /// <see cref="InsertArchive"/> made under a lease: the row is inserted only while the lease <c>@leaseToken</c> of
    /// <c>@workspaceId</c> is held, in the same statement.
    /// </summary>
    public static readonly string InsertArchiveFenced = $"""
        INSERT INTO "ColdstoreArchive" ("archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk")
        SELECT @archiveId, @workspaceId, @state, @cutoff, @objectPrefix, @rowCount, @checksum, @bytes, @internalEventRows, now(), now(), @lastError, @restoreBaseline, @chunk
        WHERE {LeaseHeldWhere("@workspaceId")}
        """;

    /// <summary>Replaces a ledger row's mutable fields; the id, workspace, cutoff, prefix and creation time never change.</summary>
    public const string UpdateArchive = """
        UPDATE "ColdstoreArchive"
        SET "state" = @state, "rowCount" = @rowCount, "checksum" = @checksum, "bytes" = @bytes,
            "internalEventRows" = @internalEventRows, "lastError" = @lastError, "restoreBaseline" = @restoreBaseline, "chunk" = @chunk, "updatedAt" = now()
        WHERE "archiveId" = @archiveId AND "workspaceId" = @workspaceId
        """;

    /// <summary>
    /// <see cref="UpdateArchive"/> made under a lease: only while the row is in state <c>@expected</c> and the lease
    /// <c>@leaseToken</c> of <c>@workspaceId</c> is held, in the same statement.
    /// </summary>
    public static readonly string UpdateArchiveFenced = UpdateArchive + "\n  AND \"state\" = @expected AND " + LeaseHeldWhere("@workspaceId");

    /// <summary>One ledger row by <c>@archiveId</c>.</summary>
    public const string SelectArchive = $"""SELECT {ArchiveColumns} FROM "ColdstoreArchive" WHERE "archiveId" = @archiveId""";


    /// <summary>The columns of an erasure, in the order the store reads them.</summary>
    public const string ErasureColumns = """
        "erasureId", "workspaceId", "requestedBy", "requestedAt", "identities", "state", "progress", "updatedAt", "appliedAt", "lastError"
        """;

    /// <summary>Records an erasure; its times are the database's.</summary>
    public const string InsertErasure = """
        INSERT INTO "ColdstoreErasure" ("erasureId", "workspaceId", "requestedBy", "requestedAt", "identities", "state", "progress", "updatedAt")
        VALUES (@erasureId, @workspaceId, @requestedBy, now(), @identities, @state, @progress, now())
        """;

    /// <summary>Replaces a pending erasure's state, progress and error, only while the lease <c>@leaseToken</c> is held.</summary>
    public static readonly string UpdateErasureFenced = $"""
        UPDATE "ColdstoreErasure"
        SET "state" = @state, "progress" = @progress, "lastError" = @lastError, "updatedAt" = now(),
            "appliedAt" = CASE WHEN @state = 'applied' THEN now() ELSE NULL END
        WHERE "erasureId" = @erasureId AND "workspaceId" = @workspaceId AND "state" = 'pending'
          AND {LeaseHeldWhere("@workspaceId")}
        """;

    /// <summary>One erasure by <c>@erasureId</c>.</summary>
    public const string SelectErasure = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "erasureId" = @erasureId""";

    /// <summary>Every pending erasure, oldest first.</summary>
    public const string SelectPendingErasures = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "state" = 'pending' ORDER BY "seq" """;

    /// <summary>A workspace's erasures, oldest first.</summary>
    public const string SelectErasures = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "workspaceId" = @workspaceId ORDER BY "seq" """;

    /// <summary>Places or replaces a legal hold; the time is the database's.</summary>
    public const string PlaceHold = """
        INSERT INTO "ColdstoreHold" ("workspaceId", "reason", "placedAt") VALUES (@workspaceId, @reason, now())
        ON CONFLICT ("workspaceId") DO UPDATE SET "reason" = EXCLUDED."reason", "placedAt" = EXCLUDED."placedAt"
        RETURNING "workspaceId", "reason", "placedAt"
        """;

    /// <summary>Lifts a legal hold.</summary>
    public const string ReleaseHold = """DELETE FROM "ColdstoreHold" WHERE "workspaceId" = @workspaceId""";

    /// <summary>Every legal hold.</summary>
    public const string SelectHolds = """SELECT "workspaceId", "reason", "placedAt" FROM "ColdstoreHold" ORDER BY "workspaceId" """;

    /// <summary>Every ledger row, ordered by workspace, then oldest first.</summary>
    public const string SelectAllArchives = $"""
        SELECT {ArchiveColumns} FROM "ColdstoreArchive"
        ORDER BY "workspaceId", "createdAt", "seq"
        """;

    /// <summary>A workspace's ledger rows in insertion order (<c>seq</c> breaks ties within a millisecond).</summary>
    public const string SelectArchives = $"""
        SELECT {ArchiveColumns} FROM "ColdstoreArchive"
        WHERE "workspaceId" = @workspaceId
        ORDER BY "createdAt", "seq"
        """;

    /// <summary>
    /// Takes the lease in one statement: inserts it when absent, or overwrites it only when the holder's lease
    /// expired on the database clock. Returns a row only when taken. Why one upsert: a read-then-write would let two
    /// racers both see "free"; the conflict arbiter on the primary key serialises them instead.
    /// </summary>
    public const string AcquireLease = """
        INSERT INTO "ColdstoreLease" AS l ("workspaceId", "owner", "token", "acquiredAt", "expiresAt", "previousOwner")
        VALUES (@workspaceId, @owner, @token, now(), now() + @duration, NULL)
        ON CONFLICT ("workspaceId") DO UPDATE
            SET "owner" = EXCLUDED."owner", "token" = EXCLUDED."token",
                "acquiredAt" = EXCLUDED."acquiredAt", "expiresAt" = EXCLUDED."expiresAt", "previousOwner" = l."owner"
            WHERE l."expiresAt" < now()
        RETURNING "workspaceId", "owner", "token", "expiresAt", "previousOwner"
        """;

    /// <summary>Who holds the lease of <c>@workspaceId</c>.</summary>
    public const string SelectLeaseHolder = """SELECT "workspaceId", "owner", "expiresAt" FROM "ColdstoreLease" WHERE "workspaceId" = @workspaceId""";

    /// <summary>
    /// Extends a lease only while its token is current (fencing). A holder whose lease lapsed but was not taken over
    /// may renew: nobody else held the workspace in between.
    /// </summary>
    public const string RenewLease = """
        UPDATE "ColdstoreLease" SET "expiresAt" = now() + @duration
        WHERE "workspaceId" = @workspaceId AND "token" = @token
        RETURNING "workspaceId", "owner", "token", "expiresAt"
        """;

    /// <summary>Deletes a lease only while its token is current, so a late release cannot free a successor's lease.</summary>
    public const string ReleaseLease = """DELETE FROM "ColdstoreLease" WHERE "workspaceId" = @workspaceId AND "token" = @token""";
}
