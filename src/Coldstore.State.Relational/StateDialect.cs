using System.Data.Common;
using Coldstore.Errors;

namespace Coldstore.State.Relational;

/// <summary>What a constraint error means for the store's messages.</summary>
internal enum Violation
{
    /// <summary>Not a constraint error the store maps.</summary>
    None,

    /// <summary>The primary key is taken.</summary>
    PrimaryKey,

    /// <summary>A unique constraint or index rejected the row.</summary>
    Unique,

    /// <summary>A foreign key rejected the row.</summary>
    ForeignKey,
}

/// <summary>
/// What differs between the databases the <see cref="RelationalStore"/> runs on: the statements' text, how a
/// connection and a write transaction are had (and so how writers lock), how values bind and read back (ids,
/// instants, the UInt64 checksum, durations), and what the driver's errors mean. Everything else is shared.
/// </summary>
internal abstract class StateDialect : IAsyncDisposable
{
    /// <summary>A human description of the database, free of passwords.</summary>
    public abstract string Description { get; }

    /// <summary>The logger category, e.g. <c>Coldstore.State.Postgres</c>.</summary>
    public abstract string LogCategory { get; }

    /// <summary>The first of the dialect's stable log event ids (see <see cref="StoreLog"/>).</summary>
    public abstract int LogEventBase { get; }

    /// <summary>The dialect's statements.</summary>
    public abstract StateStatements Sql { get; }

    /// <summary>The dialect's migrations, ascending.</summary>
    public abstract IReadOnlyList<StateMigration> Migrations { get; }

    /// <summary>
    /// True when the driver's async methods only complete synchronously, so a transaction is better run on a pool
    /// thread than on the caller's (Microsoft.Data.Sqlite waiting out its busy timeout).
    /// </summary>
    public virtual bool RunOnPoolThread => false;

    /// <summary>
    /// True when a statement's error leaves the whole transaction unusable (Postgres: "current transaction is aborted"),
    /// so a transaction that must go on after a refused statement runs it under a savepoint. False when the database
    /// undoes only the failed statement (SQLite).
    /// </summary>
    public virtual bool StatementErrorAbortsTransaction => false;

    /// <summary>Opens a connection, ready for statements.</summary>
    public abstract ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Begins a transaction. <paramref name="write"/> says it will write: a dialect whose readers cannot be upgraded
    /// safely to writers takes its write lock up front then.
    /// </summary>
    public abstract ValueTask<DbTransaction> BeginAsync(DbConnection connection, bool write, CancellationToken cancellationToken);

    // ---- parameters: typed explicitly so NULLs bind with the right type ----

    /// <summary>A UUID parameter.</summary>
    public abstract DbParameter Uuid(string name, Guid? value);

    /// <summary>A text parameter.</summary>
    public abstract DbParameter Text(string name, string? value);

    /// <summary>A 64-bit integer parameter.</summary>
    public abstract DbParameter Integer(string name, long? value);

    /// <summary>A UInt64 checksum parameter, stored exactly.</summary>
    public abstract DbParameter Checksum(string name, ulong? value);

    /// <summary>An instant (UTC, the milliseconds the columns keep).</summary>
    public abstract DbParameter Instant(string name, DateTime value);

    /// <summary>A duration that statements add to the database's clock.</summary>
    public abstract DbParameter Duration(string name, TimeSpan value);

    // ---- reading ----

    /// <summary>Reads a UUID column.</summary>
    public abstract Guid GetUuid(DbDataReader reader, int ordinal);

    /// <summary>Reads an instant column as UTC.</summary>
    public abstract DateTime GetInstant(DbDataReader reader, int ordinal);

    /// <summary>Reads a checksum column.</summary>
    public abstract ulong GetChecksum(DbDataReader reader, int ordinal);

    // ---- errors ----

    /// <summary>Which constraint, if any, rejected a statement.</summary>
    public abstract Violation Classify(Exception exception);

    /// <summary>Which workspace uniqueness rule a unique violation broke, for messages.</summary>
    public abstract string WorkspaceRule(Exception exception);

    /// <summary>True when the failure means the database cannot be used at all, rather than that one statement was wrong.</summary>
    public abstract bool IsUnavailable(Exception exception);

    /// <summary>The one-line error for an unusable database, naming where it is and never a password.</summary>
    public abstract EngineUnavailableException Unavailable(Exception exception);

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();
}
