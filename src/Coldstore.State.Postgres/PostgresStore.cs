using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Coldstore.State.Postgres;

/// <summary>
/// <see cref="IStateStore"/> over Postgres. Owns the pooled <see cref="NpgsqlDataSource"/>; every public method is one
/// transaction built from the statements in <see cref="PostgresSql"/>. Also the <see cref="IWorkspaceChangeFeed"/>,
/// over unpooled connections of its own.
/// </summary>
internal sealed class PostgresStore : IStateStore, IWorkspaceChangeFeed
{
    /// <summary>The keepalive of a listening connection when the connection string sets none.</summary>
    internal const int FeedKeepAliveSeconds = 30;

    /// <summary>The wait before the first reconnect of the change feed; it doubles per failed attempt.</summary>
    internal static readonly TimeSpan FeedRetryFirst = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between reconnect attempts of the change feed.</summary>
    internal static readonly TimeSpan FeedRetryCap = TimeSpan.FromSeconds(30);

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _feedSource;
    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly ILogger _logger;

    public PostgresStore(NpgsqlConnectionStringBuilder settings, ILoggerFactory loggerFactory)
    {
        _settings = settings;
        _logger = loggerFactory.CreateLogger("Coldstore.State.Postgres");
        var builder = new NpgsqlDataSourceBuilder(settings.ConnectionString);
        builder.UseLoggerFactory(loggerFactory);
        _dataSource = builder.Build();
        var feedBuilder = new NpgsqlDataSourceBuilder(FeedSettings(settings).ConnectionString);
        feedBuilder.UseLoggerFactory(loggerFactory);
        _feedSource = feedBuilder.Build(); // Connects only when a watch starts.
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

    /// <summary>
    /// The settings of a listening connection. Why unpooled: it lives as long as the watch, so it would only take a
    /// pool slot, and after a drop a fresh connection is wanted anyway. Why keepalive: an idle LISTEN never reads, so
    /// without one a silently dead peer (a NAT or proxy timeout) would go unnoticed and notices be lost for good.
    /// The application name tells operators which backend in <c>pg_stat_activity</c> is the feed.
    /// </summary>
    internal static NpgsqlConnectionStringBuilder FeedSettings(NpgsqlConnectionStringBuilder settings) =>
        new(settings.ConnectionString)
        {
            Pooling = false,
            Multiplexing = false, // Npgsql's keepalive and Wait need a connection of their own.
            KeepAlive = settings.KeepAlive > 0 ? settings.KeepAlive : FeedKeepAliveSeconds,
            TcpKeepAlive = true,
            ApplicationName = string.IsNullOrEmpty(settings.ApplicationName)
                ? "coldstore-workspace-feed"
                : settings.ApplicationName + "-workspace-feed",
        };

    /// <summary>
    /// How long the change feed waits before reconnect attempt <paramref name="failures"/> (1 for the first):
    /// <see cref="FeedRetryFirst"/> doubled per failure, capped at <see cref="FeedRetryCap"/>, then scaled into its
    /// upper half by <paramref name="jitter"/> (0 to 1). Why jitter: after a server restart every worker reconnects
    /// at once; spreading them keeps the server from a burst of logins.
    /// </summary>
    internal static TimeSpan ReconnectDelay(int failures, double jitter)
    {
        var exponent = Math.Clamp(failures - 1, 0, 30);
        var ceiling = Math.Min(FeedRetryCap.TotalMilliseconds, FeedRetryFirst.TotalMilliseconds * Math.Pow(2, exponent));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (0.5 * Math.Clamp(jitter, 0, 1))));
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
    public Task<WorkspaceStatusChange> ChangeWorkspaceStatusAsync(
        Guid workspaceId, WorkspaceTransition transition, CancellationToken cancellationToken = default)
    {
        var step = transition.StepName(); // Rejects an unknown transition before any I/O.
        return InTransactionAsync(async (connection, transaction) =>
        {
            // FOR UPDATE holds the row until commit: a racing change waits here, then reads what this one wrote.
            var rows = await ReadAllAsync(connection, transaction, PostgresSql.SelectWorkspaceForUpdate, ReadWorkspace, cancellationToken,
                Uuid("id", workspaceId)).ConfigureAwait(false);
            if (rows.Count == 0)
            {
                throw new WorkspaceOperationException(workspaceId, step,
                    $"Cannot {step} workspace {workspaceId}: it does not exist; `coldstore status` lists the workspaces there are.",
                    WorkspaceErrorKind.NotFound);
            }

            var current = rows[0];
            var wanted = WorkspaceLifecycle.Apply(current, transition);
            if (wanted is null)
            {
                return new WorkspaceStatusChange(current, current);
            }

            try
            {
                var updated = await ReadAllAsync(connection, transaction, PostgresSql.UpdateWorkspaceStatus, ReadWorkspace, cancellationToken,
                    Uuid("id", workspaceId),
                    Text("status", WorkspaceStatusText.ToText(wanted.Status)),
                    Text("name", wanted.Name),
                    Text("externalId", wanted.ExternalId)).ConfigureAwait(false);
                return new WorkspaceStatusChange(current, updated[0]);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrors.UniqueViolation)
            {
                // Throwing leaves the transaction uncommitted; disposing it rolls back, so nothing changes.
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
                    Text("lastError", archive.LastError),
                    Text("restoreBaseline", archive.Baseline?.ToText())).ConfigureAwait(false);
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
                    Text("lastError", archive.LastError),
                    Text("restoreBaseline", archive.Baseline?.ToText())), cancellationToken).ConfigureAwait(false);
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
    /// <remarks>
    /// Why a channel: Npgsql raises each notice as an event while <see cref="NpgsqlConnection.WaitAsync(CancellationToken)"/>
    /// reads, so a listening loop of its own owns the connection (and its reconnects) and the channel hands the ids
    /// over at the consumer's pace. Unbounded because notices are rare (people change workspaces) and each is tiny.
    /// </remarks>
    public async IAsyncEnumerable<Guid> WatchWorkspaceChangesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var changes = Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var listening = Task.Run(() => ListenAsync(changes.Writer, stop.Token), CancellationToken.None);
        try
        {
            while (await WaitToReadAsync(changes.Reader, cancellationToken).ConfigureAwait(false))
            {
                while (!cancellationToken.IsCancellationRequested && changes.Reader.TryRead(out var workspaceId))
                {
                    yield return workspaceId;
                }
            }
        }
        finally
        {
            // Also reached when the consumer stops early: the listening connection must not outlive the enumeration.
            await stop.CancelAsync().ConfigureAwait(false);
            await listening.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _feedSource.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    // ---- the change feed's listening loop ----

    /// <summary>False once <paramref name="cancellationToken"/> is cancelled: the consumer's cancellation ends the sequence, it is no error.</summary>
    private static async ValueTask<bool> WaitToReadAsync(ChannelReader<Guid> reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Listens until cancelled: opens a connection, LISTENs, writes <see cref="Guid.Empty"/> (everything before this
    /// moment may have been missed), then waits for notices. A lost or refused connection is retried after
    /// <see cref="ReconnectDelay"/>; any other failure (the store disposed, a bug) ends the feed with that error.
    /// </summary>
    private async Task ListenAsync(ChannelWriter<Guid> changes, CancellationToken cancellationToken)
    {
        Exception? failure = null;
        try
        {
            var failures = 0;
            var listenedBefore = false;
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    var connection = await _feedSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                    await using (connection.ConfigureAwait(false))
                    {
                        connection.Notification += (_, notice) => OnNotification(changes, notice);
                        var listen = new NpgsqlCommand(PostgresSql.ListenWorkspaceChanges, connection);
                        await using (listen.ConfigureAwait(false))
                        {
                            await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }

                        failures = 0;
                        if (listenedBefore)
                        {
                            Log.FeedListeningAgain(_logger, Description);
                        }
                        else
                        {
                            Log.FeedListening(_logger, Description);
                        }

                        listenedBefore = true;
                        changes.TryWrite(Guid.Empty);
                        while (true)
                        {
                            await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        return; // Cancelling a wait may surface as a broken connection; it is still just the end.
                    }

                    failures++;
                    var delay = ReconnectDelay(failures, Random.Shared.NextDouble());
                    Log.FeedLost(_logger, Description, delay, e);
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        catch (Exception e)
        {
            failure = e; // Handed to the consumer through the channel rather than lost in a background task.
        }
        finally
        {
            changes.TryComplete(failure);
        }
    }

    private void OnNotification(ChannelWriter<Guid> changes, NpgsqlNotificationEventArgs notice)
    {
        if (Guid.TryParse(notice.Payload, out var workspaceId))
        {
            changes.TryWrite(workspaceId);
        }
        else
        {
            // Someone else's NOTIFY on our channel; the trigger always sends an id. Cut so a huge payload cannot flood the log.
            var payload = notice.Payload.Length > 80 ? notice.Payload[..80] + "…" : notice.Payload;
            Log.FeedPayloadIgnored(_logger, notice.Channel, payload, Description);
        }
    }

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
        LastError: r.IsDBNull(11) ? null : r.GetString(11))
    {
        Baseline = r.IsDBNull(12) ? null : RestoreBaseline.Parse(r.GetString(12)),
    };

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
