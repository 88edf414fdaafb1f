using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Coldstore.State.Sqlite;

/// <summary>
/// <see cref="IStateStore"/> over one SQLite file, for embedded use. Every public method is one transaction built
/// from the statements in <see cref="SqliteSql"/>; writers use <c>BEGIN IMMEDIATE</c> so they queue on the file's
/// write lock (bounded by the busy timeout) instead of deadlocking on a read-to-write upgrade.
/// </summary>
internal sealed class SqliteStore : IStateStore
{
    /// <summary>How long a writer waits for another process's write lock before giving up.</summary>
    internal static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    private readonly string _connectionString;
    private readonly string _path;
    private readonly ILogger _logger;

    public SqliteStore(string path, ILoggerFactory loggerFactory)
    {
        _path = path;
        _logger = loggerFactory.CreateLogger("Coldstore.State.Sqlite");
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

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Opens the file once to switch it to WAL; creates it when missing.</summary>
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
            Log.Unavailable(_logger, Description, e);
            throw SqliteErrors.Unavailable(_path, e);
        }
    }

    /// <inheritdoc />
    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        var current = 0;
        foreach (var migration in SqliteMigrations.All)
        {
            // BEGIN IMMEDIATE takes the file's write lock first, so a second process waits here and then finds
            // the version recorded: this is SQLite's counterpart of the Postgres advisory lock.
            var applied = await InTransactionAsync(write: true, (connection, transaction) =>
            {
                Execute(connection, transaction, SqliteSql.CreateMigrationTable);
                if (Scalar(connection, transaction, SqliteSql.IsMigrationApplied, Integer("version", migration.Version)) == 1)
                {
                    return false;
                }

                foreach (var step in migration.Steps)
                {
                    if (step.SkipWhen is not null && Scalar(connection, transaction, step.SkipWhen) == 1)
                    {
                        continue;
                    }

                    Execute(connection, transaction, step.Sql);
                }

                Execute(connection, transaction, SqliteSql.RecordMigration,
                    Integer("version", migration.Version), Text("name", migration.Name));
                return true;
            }, cancellationToken).ConfigureAwait(false);

            if (applied)
            {
                Log.MigrationApplied(_logger, migration.Version, migration.Name, Description);
            }

            current = migration.Version;
        }

        Log.MigrationsCurrent(_logger, Description, current);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<int>>(write: false, (connection, transaction) =>
            Scalar(connection, transaction, SqliteSql.MigrationTableExists) == 1
                ? ReadAll(connection, transaction, SqliteSql.AppliedMigrations, r => r.GetInt32(0))
                : [], cancellationToken);

    /// <inheritdoc />
    public async Task<Workspace> CreateWorkspaceAsync(NewWorkspace workspace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        const string step = "create-workspace";
        if (string.IsNullOrWhiteSpace(workspace.Name))
        {
            throw new WorkspaceOperationException(workspace.Id, step, "A workspace needs a non-empty name.", WorkspaceErrorKind.InvalidInput);
        }

        var id = workspace.Id ?? Guid.NewGuid();
        try
        {
            return await InTransactionAsync(write: true, (connection, transaction) =>
                ReadAll(connection, transaction, SqliteSql.InsertWorkspace, ReadWorkspace,
                    Uuid("id", id),
                    Text("name", workspace.Name),
                    Text("externalId", workspace.ExternalId),
                    Uuid("parentWorkspaceId", workspace.ParentWorkspaceId))[0], cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode is SqliteErrors.PrimaryKeyViolation or SqliteErrors.UniqueViolation)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: {SqliteErrors.WorkspaceRule(e)}.", WorkspaceErrorKind.Conflict, e);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteErrors.ForeignKeyViolation)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: its parent workspace {workspace.ParentWorkspaceId} does not exist.",
                WorkspaceErrorKind.NotFound, e);
        }
    }

    /// <inheritdoc />
    public Task<Workspace?> GetWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, (connection, transaction) =>
            ReadAll(connection, transaction, SqliteSql.SelectWorkspace, ReadWorkspace, Uuid("id", workspaceId)) is [var found] ? found : null,
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<Workspace>>(write: false, (connection, transaction) =>
            ReadAll(connection, transaction, SqliteSql.SelectWorkspaces, ReadWorkspace), cancellationToken);

    /// <inheritdoc />
    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: true, (connection, transaction) =>
            Execute(connection, transaction, SqliteSql.SetStorage,
                Uuid("id", workspaceId), Text("expected", expected.ToText()), Text("desired", desired.ToText())) == 1,
            cancellationToken);

    /// <inheritdoc />
    public Task<WorkspaceStatusChange> ChangeWorkspaceStatusAsync(
        Guid workspaceId, WorkspaceTransition transition, CancellationToken cancellationToken = default)
    {
        var step = transition.StepName(); // Rejects an unknown transition before any I/O.

        // A write transaction (BEGIN IMMEDIATE) holds the file's write lock from the read on: it is SQLite's
        // SELECT ... FOR UPDATE, so a racing change waits and then reads what this one wrote.
        return InTransactionAsync(write: true, (connection, transaction) =>
        {
            if (ReadAll(connection, transaction, SqliteSql.SelectWorkspace, ReadWorkspace, Uuid("id", workspaceId)) is not [var current])
            {
                throw new WorkspaceOperationException(workspaceId, step,
                    $"Cannot {step} workspace {workspaceId}: it does not exist; `coldstore status` lists the workspaces there are.",
                    WorkspaceErrorKind.NotFound);
            }

            var wanted = WorkspaceLifecycle.Apply(current, transition);
            if (wanted is null)
            {
                return new WorkspaceStatusChange(current, current);
            }

            try
            {
                var updated = ReadAll(connection, transaction, SqliteSql.UpdateWorkspaceStatus, ReadWorkspace,
                    Uuid("id", workspaceId),
                    Text("status", WorkspaceStatusText.ToText(wanted.Status)),
                    Text("name", wanted.Name),
                    Text("externalId", wanted.ExternalId));
                return new WorkspaceStatusChange(current, updated[0]);
            }
            catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteErrors.UniqueViolation)
            {
                // Throwing skips the commit; disposing the transaction rolls back, so nothing changes.
                throw WorkspaceLifecycle.NameTaken(current, wanted, transition, e);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        const string step = "record-archive";
        try
        {
            await InTransactionAsync(write: true, (connection, transaction) =>
                Execute(connection, transaction, SqliteSql.InsertArchive,
                    Uuid("archiveId", archive.ArchiveId),
                    Uuid("workspaceId", archive.WorkspaceId),
                    Text("state", archive.State.ToText()),
                    Text("cutoff", StateTime.ToText(archive.Cutoff)),
                    Text("objectPrefix", archive.ObjectPrefix),
                    Integer("rowCount", archive.RowCount),
                    Text("checksum", ChecksumText(archive.Checksum)),
                    Integer("bytes", archive.Bytes),
                    Integer("internalEventRows", archive.InternalEventRows),
                    Text("lastError", archive.LastError),
                    Text("restoreBaseline", archive.Baseline?.ToText())), cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode is SqliteErrors.PrimaryKeyViolation or SqliteErrors.UniqueViolation)
        {
            throw ArchiveConflict(archive, step, e, duplicateId: e.SqliteExtendedErrorCode == SqliteErrors.PrimaryKeyViolation);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteErrors.ForeignKeyViolation)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step,
                $"Cannot record archive {archive.ArchiveId}: workspace {archive.WorkspaceId} does not exist.",
                WorkspaceErrorKind.NotFound, e);
        }
    }

    /// <inheritdoc />
    public async Task UpdateArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        const string step = "update-archive";
        int changed;
        try
        {
            changed = await InTransactionAsync(write: true, (connection, transaction) =>
                Execute(connection, transaction, SqliteSql.UpdateArchive,
                    Uuid("archiveId", archive.ArchiveId),
                    Uuid("workspaceId", archive.WorkspaceId),
                    Text("state", archive.State.ToText()),
                    Integer("rowCount", archive.RowCount),
                    Text("checksum", ChecksumText(archive.Checksum)),
                    Integer("bytes", archive.Bytes),
                    Integer("internalEventRows", archive.InternalEventRows),
                    Text("lastError", archive.LastError),
                    Text("restoreBaseline", archive.Baseline?.ToText())), cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteErrors.UniqueViolation)
        {
            throw ArchiveConflict(archive, step, e, duplicateId: false);
        }

        if (changed == 0)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step,
                $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} is not in the ledger.", WorkspaceErrorKind.NotFound);
        }
    }

    /// <inheritdoc />
    public Task<ArchiveRecord?> GetArchiveAsync(Guid archiveId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, (connection, transaction) =>
            ReadAll(connection, transaction, SqliteSql.SelectArchive, ReadArchive, Uuid("archiveId", archiveId)) is [var found] ? found : null,
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<ArchiveRecord>>(write: false, (connection, transaction) =>
            ReadAll(connection, transaction, SqliteSql.SelectArchives, ReadArchive, Uuid("workspaceId", workspaceId)), cancellationToken);

    /// <inheritdoc />
    public async Task<LeaseAttempt> TryAcquireLeaseAsync(Guid workspaceId, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ValidateLease(owner, duration);
        LeaseAttempt attempt;
        try
        {
            attempt = await InTransactionAsync(write: true, (connection, transaction) =>
            {
                var taken = ReadAll(connection, transaction, SqliteSql.AcquireLease, ReadLease,
                    Uuid("workspaceId", workspaceId), Text("owner", owner), Uuid("token", Guid.NewGuid()),
                    Text("duration", StateTime.Modifier(duration)));
                if (taken is [var lease])
                {
                    return new LeaseAttempt(lease, null);
                }

                // Same write transaction: the holder read here is the one that made the upsert back off.
                var holders = ReadAll(connection, transaction, SqliteSql.SelectLeaseHolder, ReadHolder, Uuid("workspaceId", workspaceId));
                return new LeaseAttempt(null, holders is [var holder] ? holder : null);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteErrors.ForeignKeyViolation)
        {
            throw new WorkspaceOperationException(workspaceId, "acquire-lease",
                $"Cannot lease workspace {workspaceId}: it does not exist.", WorkspaceErrorKind.NotFound, e);
        }

        if (attempt.Lease is { } acquired)
        {
            Log.LeaseAcquired(_logger, workspaceId, owner, acquired.ExpiresAt);
        }
        else
        {
            Log.LeaseRefused(_logger, workspaceId, owner, attempt.Holder?.Owner);
        }

        return attempt;
    }

    /// <inheritdoc />
    public async Task<WorkspaceLease?> RenewLeaseAsync(WorkspaceLease lease, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ValidateLease(lease.Owner, duration);
        var renewed = await InTransactionAsync(write: true, (connection, transaction) =>
            ReadAll(connection, transaction, SqliteSql.RenewLease, ReadLease,
                Uuid("workspaceId", lease.WorkspaceId), Uuid("token", lease.Token), Text("duration", StateTime.Modifier(duration)))
                is [var found] ? found : null, cancellationToken).ConfigureAwait(false);
        if (renewed is null)
        {
            Log.LeaseLost(_logger, lease.WorkspaceId, lease.Owner);
        }

        return renewed;
    }

    /// <inheritdoc />
    public Task ReleaseLeaseAsync(WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return InTransactionAsync(write: true, (connection, transaction) =>
            Execute(connection, transaction, SqliteSql.ReleaseLease, Uuid("workspaceId", lease.WorkspaceId), Uuid("token", lease.Token)),
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal/-shm companions) open; let go of them so the caller may
        // move or delete the file.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    // ---- the one place that talks to the file ----

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

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction, committing when it returns. Microsoft.Data.Sqlite's async
    /// methods complete synchronously anyway, so the work is synchronous and the file I/O runs on a pool thread,
    /// keeping callers' threads free while a writer waits out the busy timeout.
    /// </summary>
    private async Task<T> InTransactionAsync<T>(bool write, Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        try
        {
            return await Task.Run(() =>
            {
                using var connection = Open();
                // deferred: false issues BEGIN IMMEDIATE (the write lock up front); readers use a deferred BEGIN.
                using var transaction = connection.BeginTransaction(deferred: !write);
                var result = work(connection, transaction);
                transaction.Commit();
                return result;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (SqliteErrors.IsUnavailable(e))
        {
            Log.Unavailable(_logger, Description, e);
            throw SqliteErrors.Unavailable(_path, e);
        }
    }

    private static int Execute(SqliteConnection connection, SqliteTransaction transaction, string sql, params SqliteParameter[] parameters)
    {
        using var command = NewCommand(connection, transaction, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, SqliteTransaction transaction, string sql, params SqliteParameter[] parameters)
    {
        using var command = NewCommand(connection, transaction, sql, parameters);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static List<T> ReadAll<T>(
        SqliteConnection connection, SqliteTransaction transaction, string sql, Func<SqliteDataReader, T> read, params SqliteParameter[] parameters)
    {
        using var command = NewCommand(connection, transaction, sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

#pragma warning disable CA2100 // Every statement is a constant from SqliteSql; values are always bound parameters.
    private static SqliteCommand NewCommand(SqliteConnection connection, SqliteTransaction transaction, string sql, SqliteParameter[] parameters)
    {
        var command = new SqliteCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return command;
    }
#pragma warning restore CA2100

    // ---- parameters: ids as lower-case UUID text (Microsoft.Data.Sqlite would bind a Guid as a BLOB) ----

    private static SqliteParameter Uuid(string name, Guid? value) => Parameter(name, SqliteType.Text, value?.ToString("D"));

    private static SqliteParameter Text(string name, string? value) => Parameter(name, SqliteType.Text, value);

    private static SqliteParameter Integer(string name, long? value) => Parameter(name, SqliteType.Integer, value);

    private static SqliteParameter Parameter(string name, SqliteType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };

    /// <summary>A UInt64 as its decimal text: exact for every value, unlike a signed INTEGER.</summary>
    internal static string? ChecksumText(ulong? checksum) => checksum?.ToString(CultureInfo.InvariantCulture);

    // ---- rows ----

    private static Workspace ReadWorkspace(SqliteDataReader r) => new(
        Id: Guid.Parse(r.GetString(0)),
        Name: r.GetString(1),
        Status: WorkspaceStatusText.Parse(r.GetString(2)),
        Storage: StorageStateText.Parse(r.GetString(3)),
        ExternalId: r.IsDBNull(4) ? null : r.GetString(4),
        ParentWorkspaceId: r.IsDBNull(5) ? null : Guid.Parse(r.GetString(5)),
        CreatedAt: StateTime.FromText(r.GetString(6)),
        UpdatedAt: StateTime.FromText(r.GetString(7)));

    private static ArchiveRecord ReadArchive(SqliteDataReader r) => new(
        ArchiveId: Guid.Parse(r.GetString(0)),
        WorkspaceId: Guid.Parse(r.GetString(1)),
        State: ArchiveStateText.Parse(r.GetString(2)),
        Cutoff: StateTime.FromText(r.GetString(3)),
        ObjectPrefix: r.GetString(4),
        RowCount: r.IsDBNull(5) ? null : r.GetInt64(5),
        Checksum: r.IsDBNull(6) ? null : ulong.Parse(r.GetString(6), NumberStyles.None, CultureInfo.InvariantCulture),
        Bytes: r.IsDBNull(7) ? null : r.GetInt64(7),
        InternalEventRows: r.IsDBNull(8) ? null : r.GetInt64(8),
        CreatedAt: StateTime.FromText(r.GetString(9)),
        UpdatedAt: StateTime.FromText(r.GetString(10)),
        LastError: r.IsDBNull(11) ? null : r.GetString(11))
    {
        Baseline = r.IsDBNull(12) ? null : RestoreBaseline.Parse(r.GetString(12)),
    };

    private static WorkspaceLease ReadLease(SqliteDataReader r) =>
        new(Guid.Parse(r.GetString(0)), r.GetString(1), Guid.Parse(r.GetString(2)), StateTime.FromText(r.GetString(3)));

    private static LeaseHolder ReadHolder(SqliteDataReader r) =>
        new(Guid.Parse(r.GetString(0)), r.GetString(1), StateTime.FromText(r.GetString(2)));

    // ---- validation and messages ----

    private static void ValidateLease(string owner, TimeSpan duration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);
    }

    private static string Name(NewWorkspace workspace) =>
        workspace.Id is { } id ? $"'{workspace.Name}' ({id})" : $"'{workspace.Name}'";

    private static WorkspaceOperationException ArchiveConflict(ArchiveRecord archive, string step, Exception inner, bool duplicateId) =>
        new(archive.WorkspaceId, step,
            duplicateId
                ? $"Archive {archive.ArchiveId} is already in the ledger."
                : $"Workspace {archive.WorkspaceId} already has an archive in flight (copying, verified, deleting or restoring); finish or abandon it before archive {archive.ArchiveId} can be {archive.State.ToText()}.",
            WorkspaceErrorKind.Conflict, inner);
}
