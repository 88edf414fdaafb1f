using Coldstore.State.Relational;

namespace Coldstore.State.Postgres;

/// <summary>
/// Coldstore's Postgres migrations, as data. Never edit a shipped migration: add a new version.
/// </summary>
/// <remarks>
/// Dittofeed owns the <c>Workspace</c> table. Migration 1 creates it (and its enums) only when absent, so an embedded
/// or test setup works, and otherwise leaves it exactly as Dittofeed made it: no index or constraint is added to an
/// existing table, because one Dittofeed did not make could reject Dittofeed's own writes.
/// Migration 5 does add a trigger to it, one that only calls <c>pg_notify</c> when a workspace is inserted or its
/// <c>status</c> changes: it cannot reject a write, and notices are sent only when the writer commits. The store's
/// <see cref="PostgresStore.WatchWorkspaceChangesAsync"/> listens for them.
/// </remarks>
internal static class PostgresMigrations
{
    /// <summary>The states in which an archive is still in flight; a workspace may have at most one such archive.</summary>
    public const string NonFinalArchiveStates = "'copying', 'verified', 'deleting', 'restoring'";

    /// <summary>All migrations, ascending.</summary>
    public static IReadOnlyList<StateMigration> All { get; } =
    [
        new(1, "dittofeed-workspace",
        [
            new("""CREATE TYPE "WorkspaceType" AS ENUM ('Root', 'Child', 'Parent')""",
                SkipWhen: """SELECT to_regtype('"WorkspaceType"') IS NOT NULL"""),
            new("""CREATE TYPE "WorkspaceStatus" AS ENUM ('Active', 'Tombstoned', 'Paused')""",
                SkipWhen: """SELECT to_regtype('"WorkspaceStatus"') IS NOT NULL"""),
            new("""
                CREATE TABLE "Workspace" (
                    "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                    "name" text NOT NULL,
                    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    "domain" text,
                    "type" "WorkspaceType" DEFAULT 'Root',
                    "externalId" text,
                    "parentWorkspaceId" uuid,
                    "status" "WorkspaceStatus" NOT NULL DEFAULT 'Active',
                    CONSTRAINT "Workspace_pkey" PRIMARY KEY ("id"),
                    CONSTRAINT "Workspace_parentWorkspaceId_fkey" FOREIGN KEY ("parentWorkspaceId")
                        REFERENCES "Workspace" ("id") ON DELETE CASCADE ON UPDATE CASCADE
                );
                CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_externalId_key"
                    ON "Workspace" ("parentWorkspaceId", "externalId");
                CREATE UNIQUE INDEX "Workspace_parentWorkspaceId_name_key"
                    ON "Workspace" ("parentWorkspaceId", "name") NULLS NOT DISTINCT;
                """,
                SkipWhen: """SELECT to_regclass('"Workspace"') IS NOT NULL"""),
        ]),

        new(2, "workspace-storage-column",
        [
            // Why a probe instead of ADD COLUMN IF NOT EXISTS: with IF NOT EXISTS, older servers still attached the
            // inline CHECK when the column existed; the probe makes "only if missing" explicit on every version.
            // Adding a column with a constant default does not rewrite the table (Postgres 11+).
            new("""
                ALTER TABLE "Workspace" ADD COLUMN "coldstoreStorage" text NOT NULL DEFAULT 'hot'
                    CONSTRAINT "Workspace_coldstoreStorage_check"
                    CHECK ("coldstoreStorage" IN ('hot', 'archiving', 'cold', 'restoring'))
                """,
                SkipWhen: """
                    SELECT EXISTS (
                        SELECT 1 FROM pg_attribute
                        WHERE attrelid = '"Workspace"'::regclass AND attname = 'coldstoreStorage' AND NOT attisdropped)
                    """),
        ]),

        new(3, "archive-ledger",
        [
            // Why ON DELETE RESTRICT: a ledger row is the only record of where a workspace's archived events are.
            // Deleting the workspace row must fail loudly rather than orphan objects in the archive store.
            // Why numeric(20,0) for the checksum: it is a UInt64 and bigint is signed; numeric holds all 2^64 values exactly.
            // Why timestamptz here (Dittofeed's table uses timestamp): these are Coldstore's own columns, and an
            // instant with a zone cannot be misread by a session whose TimeZone is not UTC.
            new($"""
                CREATE TABLE IF NOT EXISTS "ColdstoreArchive" (
                    "archiveId" uuid NOT NULL,
                    "workspaceId" uuid NOT NULL,
                    "state" text NOT NULL,
                    "cutoff" timestamptz(3) NOT NULL,
                    "objectPrefix" text NOT NULL,
                    "rowCount" bigint,
                    "checksum" numeric(20,0),
                    "bytes" bigint,
                    "internalEventRows" bigint,
                    "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
                    "updatedAt" timestamptz(3) NOT NULL DEFAULT now(),
                    "lastError" text,
                    "seq" bigint GENERATED BY DEFAULT AS IDENTITY,
                    CONSTRAINT "ColdstoreArchive_pkey" PRIMARY KEY ("archiveId"),
                    CONSTRAINT "ColdstoreArchive_workspaceId_fkey" FOREIGN KEY ("workspaceId")
                        REFERENCES "Workspace" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
                    CONSTRAINT "ColdstoreArchive_state_check"
                        CHECK ("state" IN ('copying', 'verified', 'deleting', 'archived', 'restoring', 'restored', 'abandoned')),
                    CONSTRAINT "ColdstoreArchive_checksum_check"
                        CHECK ("checksum" >= 0 AND "checksum" <= 18446744073709551615),
                    CONSTRAINT "ColdstoreArchive_counts_check"
                        CHECK ("rowCount" >= 0 AND "bytes" >= 0 AND "internalEventRows" >= 0)
                );
                CREATE INDEX IF NOT EXISTS "ColdstoreArchive_workspaceId_createdAt_idx"
                    ON "ColdstoreArchive" ("workspaceId", "createdAt", "seq");
                CREATE INDEX IF NOT EXISTS "ColdstoreArchive_createdAt_idx"
                    ON "ColdstoreArchive" ("createdAt");
                CREATE UNIQUE INDEX IF NOT EXISTS "ColdstoreArchive_one_in_flight_key"
                    ON "ColdstoreArchive" ("workspaceId") WHERE "state" IN ({NonFinalArchiveStates});
                """),
        ]),

        new(4, "workspace-lease",
        [
            // A lease of a deleted workspace protects nothing, so it goes with the workspace.
            new("""
                CREATE TABLE IF NOT EXISTS "ColdstoreLease" (
                    "workspaceId" uuid NOT NULL,
                    "owner" text NOT NULL,
                    "token" uuid NOT NULL,
                    "acquiredAt" timestamptz(3) NOT NULL,
                    "expiresAt" timestamptz(3) NOT NULL,
                    CONSTRAINT "ColdstoreLease_pkey" PRIMARY KEY ("workspaceId"),
                    CONSTRAINT "ColdstoreLease_workspaceId_fkey" FOREIGN KEY ("workspaceId")
                        REFERENCES "Workspace" ("id") ON DELETE CASCADE ON UPDATE CASCADE
                )
                """),
        ]),

        new(5, "workspace-change-notify",
        [
            // Why a trigger: a worker learns of pauses and tombstones at once instead of at its next poll, and any
            // application, in any language, integrates just by UPDATE-ing "status"; Coldstore's code is not needed
            // to send the notice. NOTIFY is transactional, so a listener never hears of a change that rolled back.
            // Why CREATE OR REPLACE (triggers: Postgres 14+, below the store's floor of 15): a function or trigger
            // left behind (say, by a restore without the migration table) is taken over instead of failing the
            // migration; the advisory lock already keeps concurrent migrators apart.
            // The function name is unqualified, so like every table here it lands in the search path's schema; the
            // triggers live with the table. Channels are database-wide, so the payload is just the workspace id.
            new($$"""
                CREATE OR REPLACE FUNCTION "ColdstoreWorkspaceNotify"() RETURNS trigger LANGUAGE plpgsql AS $body$
                BEGIN
                    PERFORM pg_notify('{{PostgresSql.WorkspaceChannel}}', NEW."id"::text);
                    RETURN NULL;
                END
                $body$
                """),
            new("""
                CREATE OR REPLACE TRIGGER "Workspace_coldstoreNotify_insert"
                    AFTER INSERT ON "Workspace"
                    FOR EACH ROW EXECUTE FUNCTION "ColdstoreWorkspaceNotify"()
                """),
            // Why a WHEN clause rather than a check in the function: an INSERT has no OLD row to compare, and the
            // clause keeps Coldstore's frequent "coldstoreStorage" writes from even calling the function.
            // Why not UPDATE OF "status": that fires only when "status" is in the SET list, missing a change made
            // by another BEFORE trigger; the WHEN clause sees the final row.
            new("""
                CREATE OR REPLACE TRIGGER "Workspace_coldstoreNotify_status"
                    AFTER UPDATE ON "Workspace"
                    FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status")
                    EXECUTE FUNCTION "ColdstoreWorkspaceNotify"()
                """),
        ]),

        // A restore records what was hot before it with its move to restoring (it used to live in a ClickHouse table
        // of Coldstore's own, which a replicated cluster would hold on one node only).
        new(6, "archive-restore-baseline",
        [
            new("""ALTER TABLE "ColdstoreArchive" ADD COLUMN IF NOT EXISTS "restoreBaseline" text"""),
        ]),

        // A large workspace is archived in chunks, one ledger row each; the row records which rows it holds
        // (ArchiveChunk's text), null for an archive of every row up to its cutoff.
        new(7, "archive-chunk",
        [
            new("""ALTER TABLE "ColdstoreArchive" ADD COLUMN IF NOT EXISTS "chunk" text"""),
        ]),

        // Retention: the application may delete a workspace row (the ledger keeps its archives' record, which the
        // retention rule then follows), an archive can end as purged (objects gone, counts and dates kept), and a
        // workspace can be under a legal hold that stops any purge. Holds have no foreign key either: a hold on a
        // workspace whose row was deleted still holds its archives.
        new(8, "archive-retention",
        [
            new("""
                ALTER TABLE "ColdstoreArchive" DROP CONSTRAINT IF EXISTS "ColdstoreArchive_workspaceId_fkey";
                ALTER TABLE "ColdstoreArchive" DROP CONSTRAINT IF EXISTS "ColdstoreArchive_state_check";
                ALTER TABLE "ColdstoreArchive" ADD CONSTRAINT "ColdstoreArchive_state_check"
                    CHECK ("state" IN ('copying', 'verified', 'deleting', 'archived', 'restoring', 'restored', 'abandoned', 'purged'));
                CREATE TABLE IF NOT EXISTS "ColdstoreHold" (
                    "workspaceId" uuid NOT NULL,
                    "reason" text NOT NULL,
                    "placedAt" timestamptz(3) NOT NULL DEFAULT now(),
                    CONSTRAINT "ColdstoreHold_pkey" PRIMARY KEY ("workspaceId")
                );
                """),
        ]),

        // Erasures: who asked to erase which users (salted hashes only) from a workspace, and how far each got. No
        // foreign key to Workspace, as the ledger: the record outlives the application's row.
        new(9, "erasure",
        [
            new("""
                CREATE TABLE IF NOT EXISTS "ColdstoreErasure" (
                    "erasureId" uuid NOT NULL,
                    "workspaceId" uuid NOT NULL,
                    "requestedBy" text NOT NULL,
                    "requestedAt" timestamptz(3) NOT NULL DEFAULT now(),
                    "identities" text NOT NULL,
                    "state" text NOT NULL CHECK ("state" IN ('pending', 'applied')),
                    "progress" text NOT NULL,
                    "updatedAt" timestamptz(3) NOT NULL DEFAULT now(),
                    "appliedAt" timestamptz(3),
                    "lastError" text,
                    "seq" bigint GENERATED BY DEFAULT AS IDENTITY,
                    CONSTRAINT "ColdstoreErasure_pkey" PRIMARY KEY ("erasureId")
                );
                CREATE INDEX IF NOT EXISTS "ColdstoreErasure_workspaceId_idx" ON "ColdstoreErasure" ("workspaceId", "seq");
                """),
        ]),

        // Lease takeovers: an acquire that replaces a lapsed lease (its holder crashed or was cut off without releasing)
        // records whose it was, so the taker can say so and count it; a fresh acquire leaves it null.
        new(10, "lease-takeover",
        [
            new("""ALTER TABLE "ColdstoreLease" ADD COLUMN IF NOT EXISTS "previousOwner" text"""),
        ]),
    ];
}
