namespace Coldstore.State.Sqlite;

/// <summary>
/// Every statement the SQLite state store runs, as text. Nothing here touches a connection: the shared
/// <see cref="Relational.RelationalStore"/> executes these (through <see cref="SqliteDialect"/>) with bound
/// parameters, and the tests check their shape.
/// </summary>
/// <remarks>
/// Same tables and quoted camelCase columns as the Postgres store. Ids are lower-case UUID text, instants are
/// UTC text in the fixed-width form of <see cref="StateTime.Format"/>, and "now" always comes from SQLite's clock.
/// </remarks>
internal static class SqliteSql
{
    /// <summary>The database clock as stored text (UTC, milliseconds).</summary>
    public const string Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

    /// <summary>
    /// Pragmas run on every connection as it opens. Why busy_timeout: concurrent processes on one file then wait for
    /// the write lock instead of failing with SQLITE_BUSY. Why synchronous=NORMAL: in WAL mode it loses no committed
    /// transaction on a process crash, only possibly the last ones on power loss, and saves an fsync per commit.
    /// </summary>
    public static string ConnectionPragmas(TimeSpan busyTimeout) =>
        $"PRAGMA busy_timeout = {(long)busyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL;";

    /// <summary>
    /// Switches the file to write-ahead logging, once (it persists in the file): readers no longer block the writer.
    /// </summary>
    public const string UseWal = "PRAGMA journal_mode = WAL";

    /// <summary>The table of applied migration versions.</summary>
    public const string CreateMigrationTable = $"""
        CREATE TABLE IF NOT EXISTS "ColdstoreMigration" (
            "version" INTEGER NOT NULL PRIMARY KEY,
            "name" TEXT NOT NULL,
            "appliedAt" TEXT NOT NULL DEFAULT ({Now})
        )
        """;

    /// <summary>True (1) when the migration table exists.</summary>
    public const string MigrationTableExists =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ColdstoreMigration')";

    /// <summary>True (1) when the migration <c>@version</c> is recorded.</summary>
    public const string IsMigrationApplied = """SELECT EXISTS (SELECT 1 FROM "ColdstoreMigration" WHERE "version" = @version)""";

    /// <summary>Records the migration <c>@version</c> named <c>@name</c>.</summary>
    public const string RecordMigration = """INSERT INTO "ColdstoreMigration" ("version", "name") VALUES (@version, @name)""";

    /// <summary>The applied versions, ascending.</summary>
    public const string AppliedMigrations = """SELECT "version" FROM "ColdstoreMigration" ORDER BY "version" """;

    /// <summary>The workspace columns in the order the store reads them.</summary>
    public const string WorkspaceColumns = """
        "id", "name", "status", "coldstoreStorage", "externalId", "parentWorkspaceId", "createdAt", "updatedAt"
        """;

    /// <summary>Creates a workspace, Active and hot. The id is always supplied: SQLite cannot make UUIDs.</summary>
    public const string InsertWorkspace = $"""
        INSERT INTO "Workspace" ("id", "name", "externalId", "parentWorkspaceId", "type", "status", "coldstoreStorage", "createdAt", "updatedAt")
        VALUES (@id, @name, @externalId, @parentWorkspaceId,
                CASE WHEN @parentWorkspaceId IS NULL THEN 'Root' ELSE 'Child' END,
                'Active', 'hot', {Now}, {Now})
        RETURNING {WorkspaceColumns}
        """;

    /// <summary>One workspace by <c>@id</c>.</summary>
    public const string SelectWorkspace = $"""SELECT {WorkspaceColumns} FROM "Workspace" WHERE "id" = @id""";

    /// <summary>All workspaces, oldest first.</summary>
    public const string SelectWorkspaces = $"""SELECT {WorkspaceColumns} FROM "Workspace" ORDER BY "createdAt", "id" """;

    /// <summary>Compare-and-set of the storage column; like the Postgres store it leaves <c>updatedAt</c> to the host.</summary>
    public const string SetStorage = """
        UPDATE "Workspace" SET "coldstoreStorage" = @desired
        WHERE "id" = @id AND "coldstoreStorage" = @expected
        """;

    /// <summary>
    /// The condition that fences a write made under a lease: the lease of the workspace <paramref name="workspaceParameter"/>
    /// names still has the token <c>@leaseToken</c> and has not expired on SQLite's clock. Writers run in
    /// <c>BEGIN IMMEDIATE</c> transactions, so no takeover can commit between this check and the write it guards.
    /// </summary>
    private static string LeaseHeldWhere(string workspaceParameter) => $"""
        EXISTS (SELECT 1 FROM "ColdstoreLease"
                WHERE "workspaceId" = {workspaceParameter} AND "token" = @leaseToken AND "expiresAt" > {Now})
        """;

    /// <summary>True (1) while the lease <c>@leaseToken</c> of <c>@workspaceId</c> is held (why a fenced write changed nothing).</summary>
    public static readonly string LeaseHeld = "SELECT " + LeaseHeldWhere("@workspaceId");

    /// <summary><see cref="SetStorage"/>, only while the lease <c>@leaseToken</c> of <c>@id</c> is held, in the same statement.</summary>
    public static readonly string SetStorageFenced = SetStorage + "\n  AND " + LeaseHeldWhere("@id");

    /// <summary>
    /// Writes a lifecycle transition's identity columns and stamps <c>updatedAt</c> from the database clock; returns
    /// the row as it now is. Run inside the write transaction that read the row, so nobody changed it in between.
    /// </summary>
    public const string UpdateWorkspaceStatus = $"""
        UPDATE "Workspace"
        SET "status" = @status, "name" = @name, "externalId" = @externalId, "updatedAt" = {Now}
        WHERE "id" = @id
        RETURNING {WorkspaceColumns}
        """;

    /// <summary>The ledger columns in the order the store reads them.</summary>
    public const string ArchiveColumns = """
        "archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk"
        """;

    /// <summary>Inserts a ledger row; both timestamps come from the database clock.</summary>
    public const string InsertArchive = $"""
        INSERT INTO "ColdstoreArchive" ("archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk")
        VALUES (@archiveId, @workspaceId, @state, @cutoff, @objectPrefix, @rowCount, @checksum, @bytes, @internalEventRows, {Now}, {Now}, @lastError, @restoreBaseline, @chunk)
        """;

    /// <summary><see cref="InsertArchive"/> made under a lease: only while the lease <c>@leaseToken</c> of <c>@workspaceId</c> is held.</summary>
    public static readonly string InsertArchiveFenced = $"""
        INSERT INTO "ColdstoreArchive" ("archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes", "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk")
        SELECT @archiveId, @workspaceId, @state, @cutoff, @objectPrefix, @rowCount, @checksum, @bytes, @internalEventRows, {Now}, {Now}, @lastError, @restoreBaseline, @chunk
        WHERE {LeaseHeldWhere("@workspaceId")}
        """;

    /// <summary>Replaces a ledger row's mutable fields.</summary>
    public const string UpdateArchive = $"""
        UPDATE "ColdstoreArchive"
        SET "state" = @state, "rowCount" = @rowCount, "checksum" = @checksum, "bytes" = @bytes,
            "internalEventRows" = @internalEventRows, "lastError" = @lastError, "restoreBaseline" = @restoreBaseline, "chunk" = @chunk, "updatedAt" = {Now}
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
    public const string InsertErasure = $"""
        INSERT INTO "ColdstoreErasure" ("erasureId", "workspaceId", "requestedBy", "requestedAt", "identities", "state", "progress", "updatedAt")
        VALUES (@erasureId, @workspaceId, @requestedBy, {Now}, @identities, @state, @progress, {Now})
        """;

    /// <summary>Replaces a pending erasure's state, progress and error, only while the lease <c>@leaseToken</c> is held.</summary>
    public static readonly string UpdateErasureFenced = $"""
        UPDATE "ColdstoreErasure"
        SET "state" = @state, "progress" = @progress, "lastError" = @lastError, "updatedAt" = {Now},
            "appliedAt" = CASE WHEN @state = 'applied' THEN {Now} ELSE NULL END
        WHERE "erasureId" = @erasureId AND "workspaceId" = @workspaceId AND "state" = 'pending'
          AND {LeaseHeldWhere("@workspaceId")}
        """;

    /// <summary>One erasure by <c>@erasureId</c>.</summary>
    public const string SelectErasure = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "erasureId" = @erasureId""";

    /// <summary>Every pending erasure, oldest first.</summary>
    public const string SelectPendingErasures = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "state" = 'pending' ORDER BY rowid """;

    /// <summary>A workspace's erasures, oldest first.</summary>
    public const string SelectErasures = $"""SELECT {ErasureColumns} FROM "ColdstoreErasure" WHERE "workspaceId" = @workspaceId ORDER BY rowid """;

    /// <summary>Places or replaces a legal hold; the time is the database's.</summary>
    public const string PlaceHold = $"""
        INSERT INTO "ColdstoreHold" ("workspaceId", "reason", "placedAt") VALUES (@workspaceId, @reason, {Now})
        ON CONFLICT ("workspaceId") DO UPDATE SET "reason" = excluded."reason", "placedAt" = excluded."placedAt"
        RETURNING "workspaceId", "reason", "placedAt"
        """;

    /// <summary>Lifts a legal hold.</summary>
    public const string ReleaseHold = """DELETE FROM "ColdstoreHold" WHERE "workspaceId" = @workspaceId""";

    /// <summary>Every legal hold.</summary>
    public const string SelectHolds = """SELECT "workspaceId", "reason", "placedAt" FROM "ColdstoreHold" ORDER BY "workspaceId" """;

    /// <summary>Every ledger row, ordered by workspace, then oldest first.</summary>
    public const string SelectAllArchives = $"""
        SELECT {ArchiveColumns} FROM "ColdstoreArchive"
        ORDER BY "workspaceId", "createdAt", rowid
        """;

    /// <summary>A workspace's ledger rows in insertion order (the rowid breaks ties within a millisecond).</summary>
    public const string SelectArchives = $"""
        SELECT {ArchiveColumns} FROM "ColdstoreArchive"
        WHERE "workspaceId" = @workspaceId
        ORDER BY "createdAt", rowid
        """;

    /// <summary>
    /// Takes the lease in one statement: inserts it when absent, or overwrites it only when the holder's lease expired
    /// on the database clock; returns a row only when taken. <c>@duration</c> is a date modifier such as
    /// <c>+30.000 seconds</c> (see <see cref="StateTime.Modifier"/>).
    /// </summary>
    public const string AcquireLease = $"""
        INSERT INTO "ColdstoreLease" ("workspaceId", "owner", "token", "acquiredAt", "expiresAt", "previousOwner")
        VALUES (@workspaceId, @owner, @token, {Now}, strftime('%Y-%m-%d %H:%M:%f', 'now', @duration), NULL)
        ON CONFLICT ("workspaceId") DO UPDATE
            SET "owner" = excluded."owner", "token" = excluded."token",
                "acquiredAt" = excluded."acquiredAt", "expiresAt" = excluded."expiresAt", "previousOwner" = "ColdstoreLease"."owner"
            WHERE "ColdstoreLease"."expiresAt" < {Now}
        RETURNING "workspaceId", "owner", "token", "expiresAt", "previousOwner"
        """;

    /// <summary>Who holds the lease of <c>@workspaceId</c>.</summary>
    public const string SelectLeaseHolder = """SELECT "workspaceId", "owner", "expiresAt" FROM "ColdstoreLease" WHERE "workspaceId" = @workspaceId""";

    /// <summary>Extends a lease only while its token is current (fencing).</summary>
    public const string RenewLease = """
        UPDATE "ColdstoreLease" SET "expiresAt" = strftime('%Y-%m-%d %H:%M:%f', 'now', @duration)
        WHERE "workspaceId" = @workspaceId AND "token" = @token
        RETURNING "workspaceId", "owner", "token", "expiresAt"
        """;

    /// <summary>Deletes a lease only while its token is current.</summary>
    public const string ReleaseLease = """DELETE FROM "ColdstoreLease" WHERE "workspaceId" = @workspaceId AND "token" = @token""";
}
