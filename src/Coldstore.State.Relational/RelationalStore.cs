using System.Data.Common;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.State.Relational;

/// <summary>
/// <see cref="IStateStore"/> over a relational database through ADO.NET: every public method is one transaction of
/// the statements in the dialect's <see cref="StateStatements"/>. What differs between databases (SQL text, locking,
/// parameter and column types, error codes) is the <see cref="StateDialect"/>'s; the steps and the messages are here,
/// once.
/// </summary>
/// <remarks>
/// Writes made under a lease are fenced in the same statement as the write: the statement's WHERE requires the lease's
/// token to be the workspace's and unexpired on the database clock (and, for the ledger, the row to be in the state the
/// caller expects), so there is no check-then-write race. Only when the statement changed nothing does the store read,
/// in the same transaction, why, for the error.
/// </remarks>
internal class RelationalStore : IStateStore
{
    private readonly StateDialect _dialect;
    private readonly StoreLog _log;

    public RelationalStore(StateDialect dialect, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _dialect = dialect;
        Logger = loggerFactory.CreateLogger(dialect.LogCategory);
        _log = new StoreLog(Logger, dialect.LogEventBase);
    }

    /// <inheritdoc />
    public string Description => _dialect.Description;

    /// <summary>The store's logger, for what a dialect adds (the Postgres change feed).</summary>
    protected ILogger Logger { get; }

    private StateStatements Sql => _dialect.Sql;

    /// <inheritdoc />
    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        var current = 0;
        foreach (var migration in _dialect.Migrations)
        {
            // Each migration in a write transaction of its own, after the dialect's lock (Postgres: an advisory lock;
            // SQLite: BEGIN IMMEDIATE is the lock), so a second process waits and then finds the version recorded.
            var applied = await InTransactionAsync(write: true, async db =>
            {
                if (Sql.LockMigrations is { } lockMigrations)
                {
                    await db.ExecuteAsync(lockMigrations, cancellationToken).ConfigureAwait(false);
                }

                await db.ExecuteAsync(Sql.CreateMigrationTable, cancellationToken).ConfigureAwait(false);
                if (await db.TrueAsync(Sql.IsMigrationApplied, cancellationToken, _dialect.Integer("version", migration.Version)).ConfigureAwait(false))
                {
                    return false;
                }

                foreach (var step in migration.Steps)
                {
                    if (step.SkipWhen is not null && await db.TrueAsync(step.SkipWhen, cancellationToken).ConfigureAwait(false))
                    {
                        continue;
                    }

                    await db.ExecuteAsync(step.Sql, cancellationToken).ConfigureAwait(false);
                }

                await db.ExecuteAsync(Sql.RecordMigration, cancellationToken,
                    _dialect.Integer("version", migration.Version), _dialect.Text("name", migration.Name)).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);

            if (applied)
            {
                _log.MigrationApplied(migration.Version, migration.Name, Description);
            }

            current = migration.Version;
        }

        _log.MigrationsCurrent(Description, current);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync<IReadOnlyList<int>>(write: false, async db =>
            await db.TrueAsync(Sql.MigrationTableExists, cancellationToken).ConfigureAwait(false)
                ? await db.ReadAllAsync(Sql.AppliedMigrations, r => r.GetInt32(0), cancellationToken).ConfigureAwait(false)
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

        try
        {
            return await InTransactionAsync(write: true, async db =>
                (await db.ReadAllAsync(Sql.InsertWorkspace, ReadWorkspace, cancellationToken,
                    _dialect.Uuid("id", workspace.Id ?? Guid.NewGuid()),
                    _dialect.Text("name", workspace.Name),
                    _dialect.Text("externalId", workspace.ExternalId),
                    _dialect.Uuid("parentWorkspaceId", workspace.ParentWorkspaceId)).ConfigureAwait(false))[0], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) is Violation.PrimaryKey or Violation.Unique)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: {_dialect.WorkspaceRule(e)}.", WorkspaceErrorKind.Conflict, e);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
        {
            throw new WorkspaceOperationException(workspace.Id, step,
                $"Cannot create workspace {Name(workspace)}: its parent workspace {workspace.ParentWorkspaceId} does not exist.",
                WorkspaceErrorKind.NotFound, e);
        }
    }

    /// <inheritdoc />
    public Task<Workspace?> GetWorkspaceAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => FirstAsync(db, Sql.SelectWorkspace, ReadWorkspace, cancellationToken, _dialect.Uuid("id", workspaceId)),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<Workspace>> ListWorkspacesAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectWorkspaces, ReadWorkspace, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<bool> TrySetStorageAsync(Guid workspaceId, StorageState expected, StorageState desired, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: true, async db =>
            await db.ExecuteAsync(Sql.SetStorage, cancellationToken,
                _dialect.Uuid("id", workspaceId), _dialect.Text("expected", expected.ToText()), _dialect.Text("desired", desired.ToText())).ConfigureAwait(false) == 1,
            cancellationToken);

    /// <inheritdoc />
    public Task<bool> TrySetStorageAsync(
        Guid workspaceId, StorageState expected, StorageState desired, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        RequireLeaseOf(lease, workspaceId);
        const string step = "set-storage";
        return InTransactionAsync(write: true, async db =>
        {
            var changed = await db.ExecuteAsync(Sql.SetStorageFenced, cancellationToken,
                _dialect.Uuid("id", workspaceId), _dialect.Text("expected", expected.ToText()), _dialect.Text("desired", desired.ToText()),
                _dialect.Uuid("leaseToken", lease.Token)).ConfigureAwait(false);
            if (changed == 1)
            {
                return true;
            }

            await RequireLeaseHeldAsync(db, lease, step, $"set its storage from {expected.ToText()} to {desired.ToText()}", cancellationToken).ConfigureAwait(false);
            return false; // Held: the storage simply is not what the caller expected.
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<WorkspaceStatusChange> ChangeWorkspaceStatusAsync(
        Guid workspaceId, WorkspaceTransition transition, CancellationToken cancellationToken = default)
    {
        var step = transition.StepName(); // Rejects an unknown transition before any I/O.

        // The row is read locked (Postgres: FOR UPDATE; SQLite: the write transaction holds the file's write lock from
        // the read on), so a racing change waits here, then reads what this one wrote.
        return InTransactionAsync(write: true, async db =>
        {
            var current = await FirstAsync(db, Sql.SelectWorkspaceForUpdate, ReadWorkspace, cancellationToken, _dialect.Uuid("id", workspaceId)).ConfigureAwait(false)
                ?? throw new WorkspaceOperationException(workspaceId, step,
                    $"Cannot {step} workspace {workspaceId}: it does not exist; `coldstore status` lists the workspaces there are.",
                    WorkspaceErrorKind.NotFound);
            var wanted = WorkspaceLifecycle.Apply(current, transition);
            if (wanted is null)
            {
                return new WorkspaceStatusChange(current, current);
            }

            try
            {
                var updated = await db.ReadAllAsync(Sql.UpdateWorkspaceStatus, ReadWorkspace, cancellationToken,
                    _dialect.Uuid("id", workspaceId),
                    _dialect.Text("status", WorkspaceStatusText.ToText(wanted.Status)),
                    _dialect.Text("name", wanted.Name),
                    _dialect.Text("externalId", wanted.ExternalId)).ConfigureAwait(false);
                return new WorkspaceStatusChange(current, updated[0]);
            }
            catch (Exception e) when (_dialect.Classify(e) == Violation.Unique)
            {
                // Throwing leaves the transaction uncommitted; disposing it rolls back, so nothing changes.
                throw WorkspaceLifecycle.NameTaken(current, wanted, transition, e);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task InsertArchiveAsync(ArchiveRecord archive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        return InsertArchiveCoreAsync(archive, lease: null, cancellationToken);
    }

    /// <inheritdoc />
    public Task InsertArchiveAsync(ArchiveRecord archive, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        RequireLeaseOf(lease, archive.WorkspaceId);
        return InsertArchiveCoreAsync(archive, lease, cancellationToken);
    }

    private async Task InsertArchiveCoreAsync(ArchiveRecord archive, WorkspaceLease? lease, CancellationToken cancellationToken)
    {
        const string step = "record-archive";
        List<DbParameter> parameters =
        [
            .. ArchiveParameters(archive),
            _dialect.Instant("cutoff", archive.Cutoff),
            _dialect.Text("objectPrefix", archive.ObjectPrefix),
        ];
        if (lease is not null)
        {
            parameters.Add(_dialect.Uuid("leaseToken", lease.Token));
        }

        try
        {
            await InTransactionAsync(write: true, async db =>
            {
                var inserted = await db.ExecuteAsync(lease is null ? Sql.InsertArchive : Sql.InsertArchiveFenced, cancellationToken, [.. parameters]).ConfigureAwait(false);
                if (inserted == 0 && lease is not null)
                {
                    await RequireLeaseHeldAsync(db, lease, step, $"record archive {archive.ArchiveId}", cancellationToken).ConfigureAwait(false);
                }

                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) is Violation.PrimaryKey or Violation.Unique)
        {
            throw ArchiveConflict(archive, step, e, IsDuplicateArchiveId(e));
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
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
        var changed = await UpdateArchiveCoreAsync(archive, step, (db, parameters) =>
            db.ExecuteAsync(Sql.UpdateArchive, cancellationToken, parameters), cancellationToken).ConfigureAwait(false);
        if (changed == 0)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step,
                $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} is not in the ledger.", WorkspaceErrorKind.NotFound);
        }
    }

    /// <inheritdoc />
    public Task UpdateArchiveAsync(ArchiveRecord archive, ArchiveState expected, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        RequireLeaseOf(lease, archive.WorkspaceId);
        const string step = "update-archive";
        return UpdateArchiveCoreAsync(archive, step, async (db, parameters) =>
        {
            var changed = await db.ExecuteAsync(Sql.UpdateArchiveFenced, cancellationToken,
                [.. parameters, _dialect.Text("expected", expected.ToText()), _dialect.Uuid("leaseToken", lease.Token)]).ConfigureAwait(false);
            if (changed == 1)
            {
                return changed;
            }

            var change = $"mark archive {archive.ArchiveId} {archive.State.ToText()}";
            await RequireLeaseHeldAsync(db, lease, step, change, cancellationToken).ConfigureAwait(false);
            var current = await FirstAsync(db, Sql.SelectArchive, ReadArchive, cancellationToken, _dialect.Uuid("archiveId", archive.ArchiveId)).ConfigureAwait(false);
            if (current is null || current.WorkspaceId != archive.WorkspaceId)
            {
                throw new WorkspaceOperationException(archive.WorkspaceId, step,
                    $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} is not in the ledger.", WorkspaceErrorKind.NotFound);
            }

            throw new WorkspaceOperationException(archive.WorkspaceId, step,
                $"Cannot {change} for workspace {archive.WorkspaceId}: the ledger says {current.State.ToText()}, not {expected.ToText()} as this run expected, so something else changed it. Nothing was written; rerun the operation to resume from what the ledger says.",
                WorkspaceErrorKind.Conflict);
        }, cancellationToken);
    }

    /// <summary>The parameters of a ledger row's identity and of every field an update may change.</summary>
    private DbParameter[] ArchiveParameters(ArchiveRecord archive) =>
    [
        _dialect.Uuid("archiveId", archive.ArchiveId),
        _dialect.Uuid("workspaceId", archive.WorkspaceId),
        _dialect.Text("state", archive.State.ToText()),
        _dialect.Integer("rowCount", archive.RowCount),
        _dialect.Checksum("checksum", archive.Checksum),
        _dialect.Integer("bytes", archive.Bytes),
        _dialect.Integer("internalEventRows", archive.InternalEventRows),
        _dialect.Text("lastError", archive.LastError),
        _dialect.Text("restoreBaseline", archive.Baseline?.ToText()),
    ];

    private async Task<int> UpdateArchiveCoreAsync(
        ArchiveRecord archive, string step, Func<Db, DbParameter[], Task<int>> update, CancellationToken cancellationToken)
    {
        try
        {
            return await InTransactionAsync(write: true, db => update(db, ArchiveParameters(archive)), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.Unique)
        {
            throw ArchiveConflict(archive, step, e, duplicateId: false);
        }
    }

    /// <inheritdoc />
    public Task<ArchiveRecord?> GetArchiveAsync(Guid archiveId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => FirstAsync(db, Sql.SelectArchive, ReadArchive, cancellationToken, _dialect.Uuid("archiveId", archiveId)),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectArchives, ReadArchive, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveRecord>> ListAllArchivesAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectAllArchives, ReadArchive, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public async Task<LeaseAttempt> TryAcquireLeaseAsync(Guid workspaceId, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ValidateLease(owner, duration);
        LeaseAttempt attempt;
        try
        {
            attempt = await InTransactionAsync(write: true, async db =>
            {
                var taken = await FirstAsync(db, Sql.AcquireLease, ReadLease, cancellationToken,
                    _dialect.Uuid("workspaceId", workspaceId), _dialect.Text("owner", owner), _dialect.Uuid("token", Guid.NewGuid()),
                    _dialect.Duration("duration", duration)).ConfigureAwait(false);
                if (taken is not null)
                {
                    return new LeaseAttempt(taken, null);
                }

                // Same transaction, new statement: Postgres under READ COMMITTED sees the holder that made the upsert
                // back off, even one that committed after this transaction began; SQLite holds the write lock.
                var holder = await FirstAsync(db, Sql.SelectLeaseHolder, ReadHolder, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)).ConfigureAwait(false);
                return new LeaseAttempt(null, holder);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
        {
            throw new WorkspaceOperationException(workspaceId, "acquire-lease",
                $"Cannot lease workspace {workspaceId}: it does not exist.", WorkspaceErrorKind.NotFound, e);
        }

        if (attempt.Lease is { } acquired)
        {
            _log.LeaseAcquired(workspaceId, owner, acquired.ExpiresAt);
        }
        else
        {
            _log.LeaseRefused(workspaceId, owner, attempt.Holder?.Owner);
        }

        return attempt;
    }

    /// <inheritdoc />
    public async Task<WorkspaceLease?> RenewLeaseAsync(WorkspaceLease lease, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ValidateLease(lease.Owner, duration);
        var renewed = await InTransactionAsync(write: true, db => FirstAsync(db, Sql.RenewLease, ReadLease, cancellationToken,
            _dialect.Uuid("workspaceId", lease.WorkspaceId), _dialect.Uuid("token", lease.Token), _dialect.Duration("duration", duration)),
            cancellationToken).ConfigureAwait(false);
        if (renewed is null)
        {
            _log.LeaseLost(lease.WorkspaceId, lease.Owner);
        }

        return renewed;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FencedWriteResult>> ApplyFencedAsync(IReadOnlyList<FencedWrite> writes, CancellationToken cancellationToken = default)
    {
        // First version: each write in a transaction of its own, refusals kept per write.
        ArgumentNullException.ThrowIfNull(writes);
        var results = new List<FencedWriteResult>(writes.Count);
        var refused = new HashSet<Guid>();
        foreach (var write in writes)
        {
            if (refused.Contains(write.WorkspaceId))
            {
                results.Add(new FencedWriteResult(write, FencedWriteOutcome.Skipped, $"Workspace {write.WorkspaceId}: not written, an earlier write of the batch was refused."));
                continue;
            }

            FencedWriteResult result;
            try
            {
                var applied = write switch
                {
                    InsertArchiveWrite insert => await InsertArchiveAsync(insert.Archive, insert.Lease, cancellationToken).ContinueWith(_ => true, cancellationToken, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default).ConfigureAwait(false),
                    UpdateArchiveWrite update => await UpdateArchiveAsync(update.Archive, update.Expected, update.Lease, cancellationToken).ContinueWith(_ => true, cancellationToken, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default).ConfigureAwait(false),
                    SetStorageWrite storage => await TrySetStorageAsync(storage.WorkspaceId, storage.Expected, storage.Desired, storage.Lease, cancellationToken).ConfigureAwait(false),
                    _ => throw new ArgumentException($"Unknown fenced write {write.GetType().Name}.", nameof(writes)),
                };
                result = applied
                    ? new FencedWriteResult(write, FencedWriteOutcome.Applied, null)
                    : new FencedWriteResult(write, FencedWriteOutcome.Conflict, $"Workspace {write.WorkspaceId}: its storage is not {((SetStorageWrite)write).Expected.ToText()}; nothing was written.");
            }
            catch (LeaseLostException e)
            {
                result = new FencedWriteResult(write, FencedWriteOutcome.LeaseLost, e.Message);
            }
            catch (WorkspaceOperationException e) when (e.Kind is WorkspaceErrorKind.Conflict or WorkspaceErrorKind.NotFound)
            {
                result = new FencedWriteResult(write, e.Kind == WorkspaceErrorKind.Conflict ? FencedWriteOutcome.Conflict : FencedWriteOutcome.NotFound, e.Message);
            }

            if (!result.Applied)
            {
                refused.Add(write.WorkspaceId);
            }

            results.Add(result);
        }

        return results;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<LeaseAttempt>> TryAcquireLeasesAsync(IReadOnlyList<Guid> workspaceIds, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        // First version: one transaction per workspace.
        ArgumentNullException.ThrowIfNull(workspaceIds);
        var attempts = new List<LeaseAttempt>(workspaceIds.Count);
        foreach (var id in workspaceIds)
        {
            try
            {
                attempts.Add(await TryAcquireLeaseAsync(id, owner, duration, cancellationToken).ConfigureAwait(false));
            }
            catch (WorkspaceOperationException e) when (e.Kind == WorkspaceErrorKind.NotFound)
            {
                attempts.Add(new LeaseAttempt(null, null));
            }
        }

        return attempts;
    }

    /// <inheritdoc />
    public Task ReleaseLeaseAsync(WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return InTransactionAsync(write: true, db => db.ExecuteAsync(Sql.ReleaseLease, cancellationToken,
            _dialect.Uuid("workspaceId", lease.WorkspaceId), _dialect.Uuid("token", lease.Token)), cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await DisposeCoreAsync().ConfigureAwait(false);
        await _dialect.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what a subclass holds, before the dialect lets go of its connections.</summary>
    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;

    // ---- fencing ----

    private static void RequireLeaseOf(WorkspaceLease lease, Guid workspaceId)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (lease.WorkspaceId != workspaceId)
        {
            throw new ArgumentException($"The lease is of workspace {lease.WorkspaceId}, not of workspace {workspaceId} that the write is for.", nameof(lease));
        }
    }

    /// <summary>
    /// Called in the transaction of a fenced write that changed nothing: throws <see cref="LeaseLostException"/> when the
    /// lease is why. Reading after the write can only make the reason stale, never let a write through: the write
    /// itself checked the lease.
    /// </summary>
    private async Task RequireLeaseHeldAsync(Db db, WorkspaceLease lease, string step, string change, CancellationToken cancellationToken)
    {
        if (await db.TrueAsync(Sql.LeaseHeld, cancellationToken,
            _dialect.Uuid("workspaceId", lease.WorkspaceId), _dialect.Uuid("leaseToken", lease.Token)).ConfigureAwait(false))
        {
            return;
        }

        var holder = await FirstAsync(db, Sql.SelectLeaseHolder, ReadHolder, cancellationToken, _dialect.Uuid("workspaceId", lease.WorkspaceId)).ConfigureAwait(false);
        var now = holder is null ? "nobody holds it now" : string.Create(CultureInfo.InvariantCulture,
            $"the workspace's lease now names {holder.Owner}, until {holder.ExpiresAt:yyyy-MM-dd HH:mm:ss.fff} UTC");
        _log.FencedWriteRefused(step, lease.WorkspaceId, lease.Owner);
        throw new LeaseLostException(lease.WorkspaceId, step,
            $"Workspace {lease.WorkspaceId}: {step} refused; this run ({lease.Owner}) lost the workspace's lease before it could {change} ({now}). The lease lapsed while this process was stalled or the state store failed over, so another run may have taken over; nothing was written and this run stops. Rerun the operation (or let the worker) to resume from the ledger.");
    }

    // ---- the one place that talks to the database ----

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction, committing when it returns (throwing rolls back). Failures that
    /// mean the database cannot be used become <see cref="EngineUnavailableException"/>; statement errors propagate
    /// for the caller to map through <see cref="StateDialect.Classify"/>.
    /// </summary>
    private async Task<T> InTransactionAsync<T>(bool write, Func<Db, Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            return _dialect.RunOnPoolThread
                ? await Task.Run(() => RunAsync(write, work, cancellationToken), cancellationToken).ConfigureAwait(false)
                : await RunAsync(write, work, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException && _dialect.IsUnavailable(e))
        {
            _log.Unavailable(Description, e);
            throw _dialect.Unavailable(e);
        }
    }

    private async Task<T> RunAsync<T>(bool write, Func<Db, Task<T>> work, CancellationToken cancellationToken)
    {
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _dialect.BeginAsync(connection, write, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var result = await work(new Db(connection, transaction)).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return result;
            }
        }
    }

    private static async Task<T?> FirstAsync<T>(Db db, string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken, params DbParameter[] parameters)
        where T : class =>
        await db.ReadAllAsync(sql, read, cancellationToken, parameters).ConfigureAwait(false) is [var first, ..] ? first : null;

    /// <summary>A connection and its open transaction, with the three ways statements are run.</summary>
    private readonly record struct Db(DbConnection Connection, DbTransaction Transaction)
    {
        public async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params DbParameter[] parameters)
        {
            var command = NewCommand(sql, parameters);
            await using (command.ConfigureAwait(false))
            {
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Runs a query of one boolean (Postgres) or 0/1 (SQLite).</summary>
        public async Task<bool> TrueAsync(string sql, CancellationToken cancellationToken, params DbParameter[] parameters)
        {
            var command = NewCommand(sql, parameters);
            await using (command.ConfigureAwait(false))
            {
                return Convert.ToBoolean(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }
        }

        public async Task<IReadOnlyList<T>> ReadAllAsync<T>(string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken, params DbParameter[] parameters)
        {
            var command = NewCommand(sql, parameters);
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

#pragma warning disable CA2100 // Every statement is a constant of a dialect's SQL class; values are always bound parameters.
        private DbCommand NewCommand(string sql, DbParameter[] parameters)
        {
            var command = Connection.CreateCommand();
            command.CommandText = sql;
            command.Transaction = Transaction;
            command.Parameters.AddRange(parameters);
            return command;
        }
#pragma warning restore CA2100
    }

    // ---- rows ----

    private Workspace ReadWorkspace(DbDataReader r) => new(
        Id: _dialect.GetUuid(r, 0),
        Name: r.GetString(1),
        Status: WorkspaceStatusText.Parse(r.GetString(2)),
        Storage: StorageStateText.Parse(r.GetString(3)),
        ExternalId: r.IsDBNull(4) ? null : r.GetString(4),
        ParentWorkspaceId: r.IsDBNull(5) ? null : _dialect.GetUuid(r, 5),
        CreatedAt: _dialect.GetInstant(r, 6),
        UpdatedAt: _dialect.GetInstant(r, 7));

    private ArchiveRecord ReadArchive(DbDataReader r) => new(
        ArchiveId: _dialect.GetUuid(r, 0),
        WorkspaceId: _dialect.GetUuid(r, 1),
        State: ArchiveStateText.Parse(r.GetString(2)),
        Cutoff: _dialect.GetInstant(r, 3),
        ObjectPrefix: r.GetString(4),
        RowCount: r.IsDBNull(5) ? null : r.GetInt64(5),
        Checksum: r.IsDBNull(6) ? null : _dialect.GetChecksum(r, 6),
        Bytes: r.IsDBNull(7) ? null : r.GetInt64(7),
        InternalEventRows: r.IsDBNull(8) ? null : r.GetInt64(8),
        CreatedAt: _dialect.GetInstant(r, 9),
        UpdatedAt: _dialect.GetInstant(r, 10),
        LastError: r.IsDBNull(11) ? null : r.GetString(11))
    {
        Baseline = r.IsDBNull(12) ? null : RestoreBaseline.Parse(r.GetString(12)),
    };

    private WorkspaceLease ReadLease(DbDataReader r) => new(_dialect.GetUuid(r, 0), r.GetString(1), _dialect.GetUuid(r, 2), _dialect.GetInstant(r, 3));

    private LeaseHolder ReadHolder(DbDataReader r) => new(_dialect.GetUuid(r, 0), r.GetString(1), _dialect.GetInstant(r, 2));

    // ---- validation and messages ----

    private bool IsDuplicateArchiveId(Exception e) => _dialect.Classify(e) == Violation.PrimaryKey;

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
