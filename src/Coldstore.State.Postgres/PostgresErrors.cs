using Coldstore.Errors;
using Npgsql;

namespace Coldstore.State.Postgres;

/// <summary>Turns Npgsql's failures into Coldstore's few exception types. Pure: no I/O.</summary>
internal static class PostgresErrors
{
    /// <summary>The setting that configures the state store; named by every configuration or reachability error.</summary>
    public const string Setting = "COLDSTORE_STATE";

    /// <summary>SQLSTATE 23505: a unique constraint or index rejected the row.</summary>
    public const string UniqueViolation = "23505";

    /// <summary>SQLSTATE 23503: a foreign key rejected the row.</summary>
    public const string ForeignKeyViolation = "23503";

    /// <summary>
    /// True when the failure means the server cannot be used at all (unreachable, refusing connections, wrong
    /// credentials or database) rather than that one statement was wrong.
    /// </summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        PostgresException pg => IsUnavailableSqlState(pg.SqlState),
        NpgsqlException => true, // I/O, timeouts, connection broken: Npgsql raises these without a server answer.
        TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// SQLSTATE classes that mean "cannot use this server": 08 connection exception, 28 invalid authorization,
    /// 3D000 no such database, 53300 too many connections, 57P01-57P03 shutting down or starting up.
    /// </summary>
    public static bool IsUnavailableSqlState(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal)
        || sqlState.StartsWith("28", StringComparison.Ordinal)
        || sqlState is "3D000" or "53300" or "57P01" or "57P02" or "57P03";

    /// <summary>
    /// The one-line message for an unreachable store: host, port and database, never the password
    /// (only the builder's non-secret properties are read).
    /// </summary>
    public static EngineUnavailableException Unavailable(NpgsqlConnectionStringBuilder settings, Exception exception)
    {
        var reason = exception is PostgresException pg ? $"{pg.SqlState} {pg.MessageText}" : exception.Message;
        return new EngineUnavailableException(
            Setting,
            $"Cannot use the Postgres state store at {Endpoint(settings)} (set by {Setting}): {OneLine(reason)}",
            exception);
    }

    /// <summary><c>host:port/database</c> for messages.</summary>
    public static string Endpoint(NpgsqlConnectionStringBuilder settings) =>
        $"{settings.Host ?? "localhost"}:{settings.Port}/{settings.Database ?? settings.Username ?? "postgres"}";

    /// <summary>
    /// Which of the workspace uniqueness rules a constraint enforces, for conflict messages. Matches Prisma's
    /// names (which migration 1 reuses) and, loosely, any other name an existing database gave them.
    /// </summary>
    public static string WorkspaceRule(string? constraintName) => constraintName switch
    {
        null => "a uniqueness rule",
        _ when constraintName.EndsWith("_pkey", StringComparison.Ordinal) => "the id is taken",
        _ when constraintName.Contains("externalId", StringComparison.OrdinalIgnoreCase) =>
            "the external id is taken under the same parent (parentWorkspaceId, externalId)",
        _ when constraintName.Contains("name", StringComparison.OrdinalIgnoreCase) =>
            "the name is taken under the same parent (parentWorkspaceId, name)",
        _ => $"the uniqueness rule {constraintName}",
    };

    /// <summary>Collapses a multi-line message so logs and CLI output stay one line per error.</summary>
    public static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
