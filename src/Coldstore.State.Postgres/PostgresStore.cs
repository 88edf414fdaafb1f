using System.Data.Common;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Coldstore.State.Postgres;

/// <summary>
/// <see cref="IStateStore"/> over Postgres. Owns the only <see cref="NpgsqlDataSource"/>; every public method is one
/// transaction built from the statements in <see cref="PostgresSql"/>.
/// </summary>
internal sealed class PostgresStore : IStateStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly ILogger _logger;

    public PostgresStore(NpgsqlConnectionStringBuilder settings, ILoggerFactory loggerFactory)
    {
        _settings = settings;
        _logger = loggerFactory.CreateLogger("Coldstore.State.Postgres");
        var builder = new NpgsqlDataSourceBuilder(settings.ConnectionString);
        builder.UseLoggerFactory(loggerFactory);
        _dataSource = builder.Build();
        Description = Describe(settings);
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>A description built only from non-secret connection properties.</summary>
    internal static string Describe(NpgsqlConnectionStringBuilder settings)
    {
        var user = settings.Username is null ? "" : $" as {settings.Username}";
        var schema = string.IsNullOrEmpty(settings.SearchPath) ? "" : $", search path {settings.SearchPath}";
        return $"Postgres {PostgresErrors.Endpoint(settings)}{user}{schema}";
    }

    /// <inheritdoc />
    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        var current = 0;
        foreach (var migration in PostgresMigrations.All)
        {
            var applied = await InTransactionAsync(async (connection, transaction) =>
            {
                await ExecuteAsync(connection, transaction, PostgresSql.LockMigrations, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, PostgresSql.CreateMigrationTable, cancellationToken).ConfigureAwait(false);
                var done = await ScalarAsync<bool>(connection, transaction, PostgresSql.IsMigrationApplied, cancellationToken,
                    Int("version", migration.Version)).ConfigureAwait(false);
                if (done)
                {
                    return false;
                }

                foreach (var step in migration.Steps)
                {
                    if (step.SkipWhen is not null
                        && await ScalarAsync<bool>(connection, transaction, step.SkipWhen, cancellationToken).ConfigureAwait(false))
                    {
                        continue;
                    }

                    await ExecuteAsync(connection, transaction, step.Sql, cancellationToken).ConfigureAwait(false);
                }

                await ExecuteAsync(connection, transaction, PostgresSql.RecordMigration, cancellationToken,
                    Int("version", migration.Version), Text("name", migration.Name)).ConfigureAwait(false);
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
        InTransactionAsync<IReadOnlyList<int>>(async (connection, transaction) =>
        {
            if (!await ScalarAsync<bool>(connection, transaction, PostgresSql.MigrationTableExists, cancellationToken).ConfigureAwait(false))
            {
                return [];
            }

            return await ReadAllAsync(connection, transaction, PostgresSql.AppliedMigrations, r => r.GetInt32(0), cancellationToken)
                .ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public async Task<Workspace> CreateWorkspaceAsync(NewWorkspace workspace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        const string step = "create-workspace";
        if (string.IsNullOrWhiteSpace(workspace.Name))
        {
            throw new WorkspaceOperationException(workspace.Id, step, "A workspace needs a non-empty name.", WorkspaceErrorKind.InvalidInput);
        }

        try
        {
            return await InTransactionAsync(async (connection, transaction) =>
            {
                var created = await ReadAllAsync(connection, transaction, PostgresSql.InsertWorkspace, ReadWorkspace, cancellationToken,
                    Uuid("id", workspace.Id),
                    Text("name", workspace.Name),
                    Text("externalId", workspace.ExternalId),
                    Uuid("parentWorkspaceId", workspace.ParentWorkspaceId)).ConfigureAwait(false);
                return created[0];
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.UniqueViolation)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: {PostgresErrors.WorkspaceRule(e.ConstraintName)}.",
                WorkspaceErrorKind.Conflict, e);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.ForeignKeyViolation)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: its parent workspace {workspace.ParentWorkspaceId} does not exist.",
                WorkspaceErrorKind.NotFound, e);
        }
    }

    /// <inheritdoc />
    public Task<Workspace?> GetWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(async (connection, transaction) =>
        {
            var rows = await ReadAllAsync(connection, transaction, PostgresSql.SelectWorkspace, ReadWorkspace, cancellationToken,
                Uuid("id", workspaceId)).ConfigureAwait(false);
            return rows.Count == 0 ? null : rows[0];
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<Workspace>>(
            (connection, transaction) => ReadAllAsync(connection, transaction, PostgresSql.SelectWorkspaces, ReadWorkspace, cancellationToken),
            cancellationToken);

    /// <inheritdoc />
    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken cancellationToken = default) =>
        InTransactionAsync(async (connection, transaction) =>
        {
            var changed = await ExecuteAsync(connection, transaction, PostgresSql.SetStorage, cancellationToken,
                Uuid("id", workspaceId), Text("expected", expected.ToText()), Text("desired", desired.ToText())).ConfigureAwait(false);
            return changed == 1;
        }, cancellationToken);

    /// <inheritdoc />
    public async Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        const string step = "record-archive";
        try
        {
            await InTransactionAsync(async (connection, transaction) =>
            {
                await ExecuteAsync(connection, transaction, PostgresSql.InsertArchive, cancellationToken,
                    Uuid("archiveId", archive.ArchiveId),
                    Uuid("workspaceId", archive.WorkspaceId),
                    Text("state", archive.State.ToText()),
                    Instant("cutoff", archive.Cutoff),
                    Text("objectPrefix", archive.ObjectPrefix),
                    BigInt("rowCount", archive.RowCount),
                    Checksum("checksum", archive.Checksum),
                    BigInt("bytes", archive.Bytes),
                    BigInt("internalEventRows", archive.InternalEventRows),
                    Text("lastError", archive.LastError)).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.UniqueViolation)
        {
            throw ArchiveConflict(archive, step, e, e.ConstraintName?.EndsWith("_pkey", StringComparison.Ordinal) == true);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.ForeignKeyViolation)
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
            changed = await InTransactionAsync((connection, transaction) =>
                ExecuteAsync(connection, transaction, PostgresSql.UpdateArchive, cancellationToken,
                    Uuid("archiveId", archive.ArchiveId),
                    Uuid("workspaceId", archive.WorkspaceId),
                    Text("state", archive.State.ToText()),
                    BigInt("rowCount", archive.RowCount),
                    Checksum("checksum", archive.Checksum),
                    BigInt("bytes", archive.Bytes),
                    BigInt("internalEventRows", archive.InternalEventRows),
                    Text("lastError", archive.LastError)), cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.UniqueViolation)
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
        InTransactionAsync(async (connection, transaction) =>
        {
            var rows = await ReadAllAsync(connection, transaction, PostgresSql.SelectArchive, ReadArchive, cancellationToken,
                Uuid("archiveId", archiveId)).ConfigureAwait(false);
            return rows.Count == 0 ? null : rows[0];
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<ArchiveRecord>>(
            (connection, transaction) => ReadAllAsync(connection, transaction, PostgresSql.SelectArchives, ReadArchive, cancellationToken,
                Uuid("workspaceId", workspaceId)),
            cancellationToken);

    /// <inheritdoc />
    public async Task<LeaseAttempt> TryAcquireLeaseAsync(Guid workspaceId, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ValidateLease(owner, duration);
        LeaseAttempt attempt;
        try
        {
            attempt = await InTransactionAsync(async (connection, transaction) =>
            {
                var taken = await ReadAllAsync(connection, transaction, PostgresSql.AcquireLease, ReadLease, cancellationToken,
                    Uuid("workspaceId", workspaceId), Text("owner", owner), Uuid("token", Guid.NewGuid()), Interval("duration", duration))
                    .ConfigureAwait(false);
                if (taken.Count == 1)
                {
                    return new LeaseAttempt(taken[0], null);
                }

                // Read in the same transaction but a new statement: under READ COMMITTED it sees the holder that
                // made the upsert back off, even one that committed after this transaction began.
                var holders = await ReadAllAsync(connection, transaction, PostgresSql.SelectLeaseHolder, ReadHolder, cancellationToken,
                    Uuid("workspaceId", workspaceId)).ConfigureAwait(false);
                return new LeaseAttempt(null, holders.Count == 0 ? null : holders[0]);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.ForeignKeyViolation)
        {
            throw new WorkspaceOperationException(workspaceId, "acquire-lease",
                $"Cannot lease workspace {workspaceId}: it does not exist.", WorkspaceErrorKind.NotFound, e);
        }

        if (attempt.Lease is { } lease)
        {
            Log.LeaseAcquired(_logger, workspaceId, owner, lease.ExpiresAt);
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
        var renewed = await InTransactionAsync(async (connection, transaction) =>
        {
            var rows = await ReadAllAsync(connection, transaction, PostgresSql.RenewLease, ReadLease, cancellationToken,
                Uuid("workspaceId", lease.WorkspaceId), Uuid("token", lease.Token), Interval("duration", duration)).ConfigureAwait(false);
            return rows.Count == 0 ? null : rows[0];
        }, cancellationToken).ConfigureAwait(false);

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
        return InTransactionAsync((connection, transaction) =>
            ExecuteAsync(connection, transaction, PostgresSql.ReleaseLease, cancellationToken,
                Uuid("workspaceId", lease.WorkspaceId), Uuid("token", lease.Token)), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    // ---- the one place that talks to the server ----

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction on a pooled connection, committing when it returns.
    /// Failures that mean the server cannot be used become <see cref="EngineUnavailableException"/>; statement
    /// errors propagate as <see cref="PostgresException"/> for the caller to map.
    /// </summary>
    private async Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var result = await work(connection, transaction).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return result;
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException && PostgresErrors.IsUnavailable(e))
        {
            Log.Unavailable(_logger, Description, e);
            throw PostgresErrors.Unavailable(_settings, e);
        }
    }

    private static async Task<int> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        var command = NewCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<T> ScalarAsync<T>(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        var command = NewCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }

    private static async Task<IReadOnlyList<T>> ReadAllAsync<T>(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, Func<DbDataReader, T> read,
        CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        var command = NewCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var rows = new List<T>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add(read(reader));
                }

                return rows;
            }
        }
    }

#pragma warning disable CA2100 // Every statement is a constant from PostgresSql; values are always bound parameters.
    private static NpgsqlCommand NewCommand(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return command;
    }
#pragma warning restore CA2100

    // ---- parameters: typed explicitly so NULLs bind with the right type ----

    private static NpgsqlParameter Uuid(string name, Guid? value) => Parameter(name, NpgsqlDbType.Uuid, value);

    private static NpgsqlParameter Text(string name, string? value) => Parameter(name, NpgsqlDbType.Text, value);

    private static NpgsqlParameter Int(string name, int value) => Parameter(name, NpgsqlDbType.Integer, value);

    private static NpgsqlParameter BigInt(string name, long? value) => Parameter(name, NpgsqlDbType.Bigint, value);

    private static NpgsqlParameter Interval(string name, TimeSpan value) => Parameter(name, NpgsqlDbType.Interval, value);

    /// <summary>A UInt64 as numeric(20,0): decimal holds every UInt64 exactly, bigint would not.</summary>
    private static NpgsqlParameter Checksum(string name, ulong? value) =>
        Parameter(name, NpgsqlDbType.Numeric, value is { } v ? (decimal)v : null);

    /// <summary>An instant for a timestamptz column: UTC, truncated to the millisecond the column keeps.</summary>
    private static NpgsqlParameter Instant(string name, DateTime value) => Parameter(name, NpgsqlDbType.TimestampTz, UtcMilliseconds.Truncate(value));

    private static NpgsqlParameter Parameter(string name, NpgsqlDbType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };

    // ---- rows ----

    private static Workspace ReadWorkspace(DbDataReader r) => new(
        Id: r.GetGuid(0),
        Name: r.GetString(1),
        Status: WorkspaceStatusText.Parse(r.GetString(2)),
        Storage: StorageStateText.Parse(r.GetString(3)),
        ExternalId: r.IsDBNull(4) ? null : r.GetString(4),
        ParentWorkspaceId: r.IsDBNull(5) ? null : r.GetGuid(5),
        // Dittofeed's timestamp columns have no zone and hold UTC.
        CreatedAt: DateTime.SpecifyKind(r.GetDateTime(6), DateTimeKind.Utc),
        UpdatedAt: DateTime.SpecifyKind(r.GetDateTime(7), DateTimeKind.Utc));

    private static ArchiveRecord ReadArchive(DbDataReader r) => new(
        ArchiveId: r.GetGuid(0),
        WorkspaceId: r.GetGuid(1),
        State: ArchiveStateText.Parse(r.GetString(2)),
        Cutoff: r.GetDateTime(3),
        ObjectPrefix: r.GetString(4),
        RowCount: r.IsDBNull(5) ? null : r.GetInt64(5),
        Checksum: r.IsDBNull(6) ? null : (ulong)r.GetDecimal(6),
        Bytes: r.IsDBNull(7) ? null : r.GetInt64(7),
        InternalEventRows: r.IsDBNull(8) ? null : r.GetInt64(8),
        CreatedAt: r.GetDateTime(9),
        UpdatedAt: r.GetDateTime(10),
        LastError: r.IsDBNull(11) ? null : r.GetString(11));

    private static WorkspaceLease ReadLease(DbDataReader r) => new(r.GetGuid(0), r.GetString(1), r.GetGuid(2), r.GetDateTime(3));

    private static LeaseHolder ReadHolder(DbDataReader r) => new(r.GetGuid(0), r.GetString(1), r.GetDateTime(2));

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
