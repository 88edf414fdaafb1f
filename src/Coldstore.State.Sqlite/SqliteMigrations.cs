using Coldstore.State.Relational;

namespace Coldstore.State.Sqlite;

/// <summary>
/// Coldstore's SQLite migrations: the Postgres schema in SQLite's terms. Enums become TEXT with CHECK constraints;
/// uuid becomes TEXT; timestamps become fixed-width UTC TEXT. Each is applied in its own <c>BEGIN IMMEDIATE</c>
/// transaction. Never edit a shipped migration: add a new version.
/// </summary>
internal static class SqliteMigrations
{
    private const string Now = SqliteSql.Now;

    /// <summary>All migrations, ascending.</summary>
    public static IReadOnlyList<StateMigration> All { get; } =
    [
        new(1, "dittofeed-workspace",
        [
            // SQLite has no NULLS NOT DISTINCT: two root workspaces (parent NULL) would never collide on a plain
            // (parentWorkspaceId, name) index, so the name index is on ifnull(parentWorkspaceId, '') instead.
            // The external-id index keeps Dittofeed's NULLs-distinct meaning.
            new($"""
                CREATE TABLE "Workspace" (
                    "id" TEXT NOT NULL PRIMARY KEY CHECK (length("id") = 36),
                    "name" TEXT NOT NULL,
                    "createdAt" TEXT NOT NULL DEFAULT ({Now}),
                    "updatedAt" TEXT NOT NULL DEFAULT ({Now}),
                    "domain" TEXT,
                    "type" TEXT DEFAULT 'Root' CHECK ("type" IN ('Root', 'Child', 'Parent')),
                    "externalId" TEXT,
                    "parentWorkspaceId" TEXT REFERENCES "Workspace" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
                    "status" TEXT NOT NULL DEFAULT 'Active' CHECK ("status" IN ('Active', 'Tombstoned', 'Paused'))
                );
                CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_externalId_key"
                    ON "Workspace" ("parentWorkspaceId", "externalId");
                CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_name_key"
                    ON "Workspace" (ifnull("parentWorkspaceId", ''), "name");
                """,
                SkipWhen: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Workspace')"),
        ]),

        new(2, "workspace-storage-column",
        [
            // ADD COLUMN with a constant default does not rewrite the rows: existing ones read as 'hot'.
            new("""
                ALTER TABLE "Workspace" ADD COLUMN "coldstoreStorage" TEXT NOT NULL DEFAULT 'hot'
                    CHECK ("coldstoreStorage" IN ('hot', 'archiving', 'cold', 'restoring'))
                """,
                SkipWhen: "SELECT EXISTS (SELECT 1 FROM pragma_table_info('Workspace') WHERE name = 'coldstoreStorage')"),
        ]),

        new(3, "archive-ledger",
        [
            // ON DELETE RESTRICT: the ledger is the only record of where archived events are; see the Postgres store.
            // The checksum is a UInt64 kept as its decimal text: exact for all 2^64 values and readable in the sqlite3
            // shell. The CHECK admits only 1-20 digits not above 18446744073709551615 (equal-length texts compare as numbers).
            new("""
                CREATE TABLE IF NOT EXISTS "ColdstoreArchive" (
                    "archiveId" TEXT NOT NULL PRIMARY KEY,
                    "workspaceId" TEXT NOT NULL REFERENCES "Workspace" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
                    "state" TEXT NOT NULL
                        CHECK ("state" IN ('copying', 'verified', 'deleting', 'archived', 'restoring', 'restored', 'abandoned')),
                    "cutoff" TEXT NOT NULL,
                    "objectPrefix" TEXT NOT NULL,
                    "rowCount" INTEGER CHECK ("rowCount" >= 0),
                    "checksum" TEXT CHECK ("checksum" IS NULL OR (
                        typeof("checksum") = 'text'
                        AND length("checksum") BETWEEN 1 AND 20
                        AND "checksum" NOT GLOB '*[^0-9]*'
                        AND (length("checksum") < 20 OR "checksum" <= '18446744073709551615'))),
                    "bytes" INTEGER CHECK ("bytes" >= 0),
                    "internalEventRows" INTEGER CHECK ("internalEventRows" >= 0),
                    "createdAt" TEXT NOT NULL,
                    "updatedAt" TEXT NOT NULL,
                    "lastError" TEXT
                );
                CREATE INDEX IF NOT EXISTS "ColdstoreArchive_workspaceId_createdAt_idx"
                    ON "ColdstoreArchive" ("workspaceId", "createdAt");
                CREATE INDEX IF NOT EXISTS "ColdstoreArchive_createdAt_idx"
                    ON "ColdstoreArchive" ("createdAt");
                CREATE UNIQUE INDEX IF NOT EXISTS "ColdstoreArchive_one_in_flight_key"
                    ON "ColdstoreArchive" ("workspaceId") WHERE "state" IN ('copying', 'verified', 'deleting', 'restoring');
                """),
        ]),

        new(4, "workspace-lease",
        [
            new("""
                CREATE TABLE IF NOT EXISTS "ColdstoreLease" (
                    "workspaceId" TEXT NOT NULL PRIMARY KEY REFERENCES "Workspace" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
                    "owner" TEXT NOT NULL,
                    "token" TEXT NOT NULL,
                    "acquiredAt" TEXT NOT NULL,
                    "expiresAt" TEXT NOT NULL
                )
                """),
        ]),

        // SQLite has no LISTEN/NOTIFY: its store is polled only. The version is still recorded so both engines
        // count the same migrations and a version number means the same change on either.
        new(5, "workspace-change-notify", []),

        // See the Postgres migration of the same number.
        new(6, "archive-restore-baseline",
        [
            new("""ALTER TABLE "ColdstoreArchive" ADD COLUMN "restoreBaseline" TEXT"""),
        ]),

        // See the Postgres migration of the same number.
        new(7, "archive-chunk",
        [
            new("""ALTER TABLE "ColdstoreArchive" ADD COLUMN "chunk" TEXT"""),
        ]),

        // See the Postgres migration of the same number. SQLite cannot drop a foreign key or change a CHECK in place:
        // the ledger is rebuilt with the same rows (in rowid order, which breaks ties of createdAt) and indexes.
        new(8, "archive-retention",
        [
            new("""
                CREATE TABLE "ColdstoreArchive_v8" (
                    "archiveId" TEXT NOT NULL PRIMARY KEY,
                    "workspaceId" TEXT NOT NULL,
                    "state" TEXT NOT NULL
                        CHECK ("state" IN ('copying', 'verified', 'deleting', 'archived', 'restoring', 'restored', 'abandoned', 'purged')),
                    "cutoff" TEXT NOT NULL,
                    "objectPrefix" TEXT NOT NULL,
                    "rowCount" INTEGER CHECK ("rowCount" >= 0),
                    "checksum" TEXT CHECK ("checksum" IS NULL OR (
                        typeof("checksum") = 'text'
                        AND length("checksum") BETWEEN 1 AND 20
                        AND "checksum" NOT GLOB '*[^0-9]*'
                        AND (length("checksum") < 20 OR "checksum" <= '18446744073709551615'))),
                    "bytes" INTEGER CHECK ("bytes" >= 0),
                    "internalEventRows" INTEGER CHECK ("internalEventRows" >= 0),
                    "createdAt" TEXT NOT NULL,
                    "updatedAt" TEXT NOT NULL,
                    "lastError" TEXT,
                    "restoreBaseline" TEXT,
                    "chunk" TEXT
                );
                INSERT INTO "ColdstoreArchive_v8" ("archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes",
                    "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk")
                SELECT "archiveId", "workspaceId", "state", "cutoff", "objectPrefix", "rowCount", "checksum", "bytes",
                    "internalEventRows", "createdAt", "updatedAt", "lastError", "restoreBaseline", "chunk"
                FROM "ColdstoreArchive" ORDER BY rowid;
                DROP TABLE "ColdstoreArchive";
                ALTER TABLE "ColdstoreArchive_v8" RENAME TO "ColdstoreArchive";
                CREATE INDEX "ColdstoreArchive_workspaceId_createdAt_idx" ON "ColdstoreArchive" ("workspaceId", "createdAt");
                CREATE INDEX "ColdstoreArchive_createdAt_idx" ON "ColdstoreArchive" ("createdAt");
                CREATE UNIQUE INDEX "ColdstoreArchive_one_in_flight_key"
                    ON "ColdstoreArchive" ("workspaceId") WHERE "state" IN ('copying', 'verified', 'deleting', 'restoring');
                CREATE TABLE IF NOT EXISTS "ColdstoreHold" (
                    "workspaceId" TEXT NOT NULL PRIMARY KEY,
                    "reason" TEXT NOT NULL,
                    "placedAt" TEXT NOT NULL
                );
                """),
        ]),

        // See the Postgres migration of the same number; rowid keeps the order of recording.
        new(9, "erasure",
        [
            new("""
                CREATE TABLE IF NOT EXISTS "ColdstoreErasure" (
                    "erasureId" TEXT NOT NULL PRIMARY KEY,
                    "workspaceId" TEXT NOT NULL,
                    "requestedBy" TEXT NOT NULL,
                    "requestedAt" TEXT NOT NULL,
                    "identities" TEXT NOT NULL,
                    "state" TEXT NOT NULL CHECK ("state" IN ('pending', 'applied')),
                    "progress" TEXT NOT NULL,
                    "updatedAt" TEXT NOT NULL,
                    "appliedAt" TEXT,
                    "lastError" TEXT
                );
                CREATE INDEX IF NOT EXISTS "ColdstoreErasure_workspaceId_idx" ON "ColdstoreErasure" ("workspaceId");
                """),
        ]),

        // See the Postgres migration of the same number.
        new(10, "lease-takeover",
        [
            new("""ALTER TABLE "ColdstoreLease" ADD COLUMN "previousOwner" TEXT"""),
        ]),
    ];
}
