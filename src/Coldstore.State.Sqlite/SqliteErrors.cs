using Coldstore.Errors;
using Microsoft.Data.Sqlite;

namespace Coldstore.State.Sqlite;

/// <summary>Turns SQLite's failures into Coldstore's few exception types. Pure: no I/O.</summary>
internal static class SqliteErrors
{
    /// <summary>The setting that configures the state store.</summary>
    public const string Setting = "COLDSTORE_STATE";

    /// <summary>SQLITE_CONSTRAINT_PRIMARYKEY: the primary key is taken.</summary>
    public const int PrimaryKeyViolation = 1555;

    /// <summary>SQLITE_CONSTRAINT_UNIQUE: a unique index rejected the row.</summary>
    public const int UniqueViolation = 2067;

    /// <summary>SQLITE_CONSTRAINT_FOREIGNKEY: a foreign key rejected the row.</summary>
    public const int ForeignKeyViolation = 787;

    /// <summary>
    /// True when the file cannot be used at all: still locked after the busy timeout (5 BUSY, 6 LOCKED), cannot be
    /// opened, read or written (14 CANTOPEN, 10 IOERR, 8 READONLY, 3 PERM, 13 FULL), or is not a sound database
    /// (26 NOTADB, 11 CORRUPT).
    /// </summary>
    public static bool IsUnavailable(SqliteException exception) =>
        exception.SqliteErrorCode is 3 or 5 or 6 or 8 or 10 or 11 or 13 or 14 or 26;

    /// <summary>The one-line message for an unusable store, naming the file.</summary>
    public static EngineUnavailableException Unavailable(string path, Exception exception) =>
        new(Setting,
            $"Cannot use the SQLite state store at {path} (set by {Setting}): {exception.Message.ReplaceLineEndings(" ").Trim()}",
            exception);

    /// <summary>
    /// Which workspace uniqueness rule a constraint error names. SQLite reports the columns of a column index
    /// (<c>Workspace.parentWorkspaceId, Workspace.externalId</c>) and the name of an expression index.
    /// </summary>
    public static string WorkspaceRule(SqliteException exception) => exception switch
    {
        { SqliteExtendedErrorCode: PrimaryKeyViolation } => "the id is taken",
        _ when exception.Message.Contains("externalId", StringComparison.OrdinalIgnoreCase) =>
            "the external id is taken under the same parent (parentWorkspaceId, externalId)",
        _ when exception.Message.Contains("name", StringComparison.OrdinalIgnoreCase) =>
            "the name is taken under the same parent (parentWorkspaceId, name)",
        _ => "a uniqueness rule",
    };
}
