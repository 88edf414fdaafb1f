using System.Data.Common;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.State.Relational;
using Npgsql;
using NpgsqlTypes;

namespace Coldstore.State.Postgres;

/// <summary>
/// Postgres for the shared <see cref="RelationalStore"/>: Npgsql's pooled data source, typed parameters (uuid,
/// numeric(20,0) checksums, timestamptz, interval), READ COMMITTED transactions whose writers lock rows
/// (<c>FOR UPDATE</c>, <c>FOR SHARE</c>) rather than the database, an advisory lock for migrators, and SQLSTATEs.
/// </summary>
internal sealed class PostgresDialect : StateDialect
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlConnectionStringBuilder _settings;

    public PostgresDialect(NpgsqlConnectionStringBuilder settings, Microsoft.Extensions.Logging.ILoggerFactory loggerFactory)
    {
        _settings = settings;
        var builder = new NpgsqlDataSourceBuilder(settings.ConnectionString);
        builder.UseLoggerFactory(loggerFactory);
        _dataSource = builder.Build();
        Description = PostgresStore.Describe(settings);
    }

    /// <summary>The statements, from <see cref="PostgresSql"/>.</summary>
    public static StateStatements Statements { get; } = new()
    {
        LockMigrations = PostgresSql.LockMigrations,
        CreateMigrationTable = PostgresSql.CreateMigrationTable,
        MigrationTableExists = PostgresSql.MigrationTableExists,
        IsMigrationApplied = PostgresSql.IsMigrationApplied,
        RecordMigration = PostgresSql.RecordMigration,
        AppliedMigrations = PostgresSql.AppliedMigrations,
        InsertWorkspace = PostgresSql.InsertWorkspace,
        SelectWorkspace = PostgresSql.SelectWorkspace,
        SelectWorkspaces = PostgresSql.SelectWorkspaces,
        SelectWorkspaceForUpdate = PostgresSql.SelectWorkspaceForUpdate,
        UpdateWorkspaceStatus = PostgresSql.UpdateWorkspaceStatus,
        SetStorage = PostgresSql.SetStorage,
        SetStorageFenced = PostgresSql.SetStorageFenced,
        InsertArchive = PostgresSql.InsertArchive,
        InsertArchiveFenced = PostgresSql.InsertArchiveFenced,
        UpdateArchive = PostgresSql.UpdateArchive,
        UpdateArchiveFenced = PostgresSql.UpdateArchiveFenced,
        SelectArchive = PostgresSql.SelectArchive,
        SelectArchives = PostgresSql.SelectArchives,
        SelectAllArchives = PostgresSql.SelectAllArchives,
        InsertErasure = PostgresSql.InsertErasure,
        UpdateErasureFenced = PostgresSql.UpdateErasureFenced,
        SelectErasure = PostgresSql.SelectErasure,
        SelectErasures = PostgresSql.SelectErasures,
        SelectPendingErasures = PostgresSql.SelectPendingErasures,
        PlaceHold = PostgresSql.PlaceHold,
        ReleaseHold = PostgresSql.ReleaseHold,
        SelectHolds = PostgresSql.SelectHolds,
        AcquireLease = PostgresSql.AcquireLease,
        SelectLeaseHolder = PostgresSql.SelectLeaseHolder,
        LeaseHeld = PostgresSql.LeaseHeld,
        RenewLease = PostgresSql.RenewLease,
        ReleaseLease = PostgresSql.ReleaseLease,
    };

    public override string Description { get; }

    public override string LogCategory => "Coldstore.State.Postgres";

    public override int LogEventBase => 3000;

    public override StateStatements Sql => Statements;

    public override IReadOnlyList<StateMigration> Migrations => PostgresMigrations.All;

    /// <remarks>Any error aborts a Postgres transaction until it rolls back, or back to a savepoint.</remarks>
    public override bool StatementErrorAbortsTransaction => true;

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <remarks>READ COMMITTED for readers and writers alike: writers lock the rows they decide on.</remarks>
    public override async ValueTask<DbTransaction> BeginAsync(DbConnection connection, bool write, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

    public override DbParameter Uuid(string name, Guid? value) => Parameter(name, NpgsqlDbType.Uuid, value);

    public override DbParameter Text(string name, string? value) => Parameter(name, NpgsqlDbType.Text, value);

    /// <remarks>Migration versions bind as integer (the column's type), every other integer as bigint.</remarks>
    public override DbParameter Integer(string name, long? value) =>
        name == "version" ? Parameter(name, NpgsqlDbType.Integer, value is { } v ? checked((int)v) : null) : Parameter(name, NpgsqlDbType.Bigint, value);

    /// <summary>A UInt64 as numeric(20,0): decimal holds every UInt64 exactly, bigint would not.</summary>
    public override DbParameter Checksum(string name, ulong? value) => Parameter(name, NpgsqlDbType.Numeric, value is { } v ? (decimal)v : null);

    /// <summary>An instant for a timestamptz column: UTC, truncated to the millisecond the column keeps.</summary>
    public override DbParameter Instant(string name, DateTime value) => Parameter(name, NpgsqlDbType.TimestampTz, UtcMilliseconds.Truncate(value));

    public override DbParameter Duration(string name, TimeSpan value) => Parameter(name, NpgsqlDbType.Interval, value);

    public override Guid GetUuid(DbDataReader reader, int ordinal) => reader.GetGuid(ordinal);

    /// <remarks>Dittofeed's timestamp columns have no zone and hold UTC; Coldstore's timestamptz ones read as UTC already.</remarks>
    public override DateTime GetInstant(DbDataReader reader, int ordinal) => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    public override ulong GetChecksum(DbDataReader reader, int ordinal) => (ulong)reader.GetDecimal(ordinal);

    public override Violation Classify(Exception exception) => exception switch
    {
        PostgresException { SqlState: PostgresErrors.UniqueViolation } e when e.ConstraintName?.EndsWith("_pkey", StringComparison.Ordinal) == true => Violation.PrimaryKey,
        PostgresException { SqlState: PostgresErrors.UniqueViolation } => Violation.Unique,
        PostgresException { SqlState: PostgresErrors.ForeignKeyViolation } => Violation.ForeignKey,
        _ => Violation.None,
    };

    public override string WorkspaceRule(Exception exception) => PostgresErrors.WorkspaceRule((exception as PostgresException)?.ConstraintName);

    public override bool IsUnavailable(Exception exception) => PostgresErrors.IsUnavailable(exception);

    public override EngineUnavailableException Unavailable(Exception exception) => PostgresErrors.Unavailable(_settings, exception);

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static NpgsqlParameter Parameter(string name, NpgsqlDbType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };
}
