using System.Data.Common;
using System.Globalization;
using Coldstore.Errors;
using Coldstore.State.Relational;
using Microsoft.Data.Sqlite;

namespace Coldstore.State.Sqlite;

/// <summary>
/// SQLite for the shared <see cref="RelationalStore"/>: one file in WAL mode, writers in <c>BEGIN IMMEDIATE</c>
/// transactions so they queue on the file's write lock (bounded by the busy timeout) instead of deadlocking on a
/// read-to-write upgrade, ids and instants as text, the checksum as its decimal text, and SQLite's error codes.
/// </summary>
internal sealed class SqliteDialect : StateDialect
{
    /// <summary>How long a writer waits for another process's write lock before giving up.</summary>
    internal static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    private readonly string _connectionString;
    private readonly string _path;

    public SqliteDialect(string path)
    {
        _path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            Pooling = true,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString();
        Description = $"SQLite {path}";
    }

    /// <summary>The statements, from <see cref="SqliteSql"/>.</summary>
    public static StateStatements Statements { get; } = new()
    {
        LockMigrations = null, // BEGIN IMMEDIATE is the migrators' lock.
        CreateMigrationTable = SqliteSql.CreateMigrationTable,
        MigrationTableExists = SqliteSql.MigrationTableExists,
        IsMigrationApplied = SqliteSql.IsMigrationApplied,
        RecordMigration = SqliteSql.RecordMigration,
        AppliedMigrations = SqliteSql.AppliedMigrations,
        InsertWorkspace = SqliteSql.InsertWorkspace,
        SelectWorkspace = SqliteSql.SelectWorkspace,
        SelectWorkspaces = SqliteSql.SelectWorkspaces,
        SelectWorkspaceForUpdate = SqliteSql.SelectWorkspace, // The write transaction already holds the file's write lock.
        UpdateWorkspaceStatus = SqliteSql.UpdateWorkspaceStatus,
        SetStorage = SqliteSql.SetStorage,
        SetStorageFenced = SqliteSql.SetStorageFenced,
        InsertArchive = SqliteSql.InsertArchive,
        InsertArchiveFenced = SqliteSql.InsertArchiveFenced,
        UpdateArchive = SqliteSql.UpdateArchive,
        UpdateArchiveFenced = SqliteSql.UpdateArchiveFenced,
        SelectArchive = SqliteSql.SelectArchive,
        SelectArchives = SqliteSql.SelectArchives,
        SelectAllArchives = SqliteSql.SelectAllArchives,
        InsertErasure = SqliteSql.InsertErasure,
        UpdateErasureFenced = SqliteSql.UpdateErasureFenced,
        SelectErasure = SqliteSql.SelectErasure,
        SelectErasures = SqliteSql.SelectErasures,
        SelectPendingErasures = SqliteSql.SelectPendingErasures,
        PlaceHold = SqliteSql.PlaceHold,
        ReleaseHold = SqliteSql.ReleaseHold,
        SelectHolds = SqliteSql.SelectHolds,
        AcquireLease = SqliteSql.AcquireLease,
        SelectLeaseHolder = SqliteSql.SelectLeaseHolder,
        LeaseHeld = SqliteSql.LeaseHeld,
        RenewLease = SqliteSql.RenewLease,
        ReleaseLease = SqliteSql.ReleaseLease,
    };

    public override string Description { get; }

    public override string LogCategory => "Coldstore.State.Sqlite";

    public override int LogEventBase => 3100;

    public override StateStatements Sql => Statements;

    public override IReadOnlyList<StateMigration> Migrations => SqliteMigrations.All;

    /// <summary>Microsoft.Data.Sqlite's async methods complete synchronously; a writer waiting out the busy timeout must not hold the caller's thread.</summary>
    public override bool RunOnPoolThread => true;

    /// <summary>Opens the file once to switch it to WAL (it persists in the file); creates it when missing.</summary>
    public void Initialize()
    {
        try
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = SqliteSql.UseWal;
            command.ExecuteNonQuery();
        }
        catch (SqliteException e)
        {
            throw SqliteErrors.Unavailable(_path, e);
        }
    }

    public override ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) => ValueTask.FromResult<DbConnection>(Open());

    /// <remarks><c>deferred: false</c> issues BEGIN IMMEDIATE (the write lock up front); readers use a deferred BEGIN.</remarks>
    public override ValueTask<DbTransaction> BeginAsync(DbConnection connection, bool write, CancellationToken cancellationToken) =>
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: !write));

    /// <summary>Ids as lower-case UUID text (Microsoft.Data.Sqlite would bind a Guid as a BLOB).</summary>
    public override DbParameter Uuid(string name, Guid? value) => Parameter(name, SqliteType.Text, value?.ToString("D"));

    public override DbParameter Text(string name, string? value) => Parameter(name, SqliteType.Text, value);

    public override DbParameter Integer(string name, long? value) => Parameter(name, SqliteType.Integer, value);

    /// <summary>A UInt64 as its decimal text: exact for every value, unlike a signed INTEGER.</summary>
    public override DbParameter Checksum(string name, ulong? value) => Parameter(name, SqliteType.Text, value?.ToString(CultureInfo.InvariantCulture));

    public override DbParameter Instant(string name, DateTime value) => Parameter(name, SqliteType.Text, StateTime.ToText(value));

    /// <summary>A modifier of SQLite's date functions, so expiry is computed from the database's clock.</summary>
    public override DbParameter Duration(string name, TimeSpan value) => Parameter(name, SqliteType.Text, StateTime.Modifier(value));

    public override Guid GetUuid(DbDataReader reader, int ordinal) => Guid.Parse(reader.GetString(ordinal));

    public override DateTime GetInstant(DbDataReader reader, int ordinal) => StateTime.FromText(reader.GetString(ordinal));

    public override ulong GetChecksum(DbDataReader reader, int ordinal) =>
        ulong.Parse(reader.GetString(ordinal), NumberStyles.None, CultureInfo.InvariantCulture);

    public override Violation Classify(Exception exception) => exception switch
    {
        SqliteException { SqliteExtendedErrorCode: SqliteErrors.PrimaryKeyViolation } => Violation.PrimaryKey,
        SqliteException { SqliteExtendedErrorCode: SqliteErrors.UniqueViolation } => Violation.Unique,
        SqliteException { SqliteExtendedErrorCode: SqliteErrors.ForeignKeyViolation } => Violation.ForeignKey,
        _ => Violation.None,
    };

    public override string WorkspaceRule(Exception exception) =>
        exception is SqliteException sqlite ? SqliteErrors.WorkspaceRule(sqlite) : "a uniqueness rule";

    public override bool IsUnavailable(Exception exception) => exception is SqliteException sqlite && SqliteErrors.IsUnavailable(sqlite);

    public override EngineUnavailableException Unavailable(Exception exception) => SqliteErrors.Unavailable(_path, exception);

    /// <summary>
    /// Pooled connections keep the file (and its -wal/-shm companions) open; let go of them so the caller may move or
    /// delete the file.
    /// </summary>
    public override ValueTask DisposeAsync()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = SqliteSql.ConnectionPragmas(BusyTimeout);
            pragmas.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static SqliteParameter Parameter(string name, SqliteType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };
}
