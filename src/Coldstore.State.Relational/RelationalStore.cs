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
    /// <summary>The savepoint a batch's statement runs under where a statement error would abort the transaction.</summary>
    private const string StatementSavepoint = "coldstore_statement";

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
        var write = new SetStorageWrite(expected, desired, lease);
        return InTransactionAsync(write: true, async db =>
            await WriteFencedAsync(db, write, isolate: false, cancellationToken).ConfigureAwait(false) switch
            {
                null => true,
                { Outcome: FencedWriteOutcome.Conflict } => false, // Held: the storage simply is not what the caller expected.
                var refusal => throw refusal.ToException(workspaceId),
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
        return InsertArchiveCoreAsync(archive, cancellationToken);
    }

    /// <inheritdoc />
    public Task InsertArchiveAsync(ArchiveRecord archive, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        RequireLeaseOf(lease, archive.WorkspaceId);
        return WriteFencedAsync(new InsertArchiveWrite(archive, lease), cancellationToken);
    }

    private async Task InsertArchiveCoreAsync(ArchiveRecord archive, CancellationToken cancellationToken)
    {
        const string step = "record-archive";
        try
        {
            await InTransactionAsync(write: true, async db =>
            {
                // The ledger has no foreign key to Workspace (the application may delete a row whose archives the ledger
                // must keep), so a new archive of a workspace that does not exist is refused here instead.
                if (await FirstAsync(db, Sql.SelectWorkspace, ReadWorkspace, cancellationToken, _dialect.Uuid("id", archive.WorkspaceId)).ConfigureAwait(false) is null)
                {
                    throw new WorkspaceOperationException(archive.WorkspaceId, step, MissingWorkspaceMessage(archive), WorkspaceErrorKind.NotFound);
                }

                return await db.ExecuteAsync(Sql.InsertArchive, cancellationToken, InsertParameters(archive)).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) is Violation.PrimaryKey or Violation.Unique)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step, ArchiveConflictMessage(archive, IsDuplicateArchiveId(e)), WorkspaceErrorKind.Conflict, e);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step, MissingWorkspaceMessage(archive), WorkspaceErrorKind.NotFound, e);
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
            changed = await InTransactionAsync(write: true, db => db.ExecuteAsync(Sql.UpdateArchive, cancellationToken, ArchiveParameters(archive)),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.Unique)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step, ArchiveConflictMessage(archive, duplicateId: false), WorkspaceErrorKind.Conflict, e);
        }

        if (changed == 0)
        {
            throw new WorkspaceOperationException(archive.WorkspaceId, step, NotInLedgerMessage(archive), WorkspaceErrorKind.NotFound);
        }
    }

    /// <inheritdoc />
    public Task UpdateArchiveAsync(ArchiveRecord archive, ArchiveState expected, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        RequireLeaseOf(lease, archive.WorkspaceId);
        return WriteFencedAsync(new UpdateArchiveWrite(archive, expected, lease), cancellationToken);
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
        _dialect.Text("chunk", archive.Chunk?.ToText()),
    ];

    /// <summary>The parameters of a whole new ledger row.</summary>
    private DbParameter[] InsertParameters(ArchiveRecord archive) =>
    [
        .. ArchiveParameters(archive),
        _dialect.Instant("cutoff", archive.Cutoff),
        _dialect.Text("objectPrefix", archive.ObjectPrefix),
    ];

    /// <inheritdoc />
    public Task<ArchiveRecord?> GetArchiveAsync(Guid archiveId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => FirstAsync(db, Sql.SelectArchive, ReadArchive, cancellationToken, _dialect.Uuid("archiveId", archiveId)),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveRecord>> ListArchivesAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectArchives, ReadArchive, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)),
            cancellationToken);

    /// <inheritdoc />
    public async Task<WorkspaceHold> PlaceHoldAsync(Guid workspaceId, string reason, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            throw new WorkspaceOperationException(workspaceId, "hold", $"A hold on workspace {workspaceId} needs a reason (--reason TEXT): who asked for it and why.", WorkspaceErrorKind.InvalidInput);
        }

        return await InTransactionAsync(write: true, async db =>
            (await db.ReadAllAsync(Sql.PlaceHold, ReadHold, cancellationToken, _dialect.Uuid("workspaceId", workspaceId), _dialect.Text("reason", reason.Trim()))
                .ConfigureAwait(false)).Single(), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<bool> ReleaseHoldAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: true, async db =>
            await db.ExecuteAsync(Sql.ReleaseHold, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)).ConfigureAwait(false) > 0, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<WorkspaceHold>> ListHoldsAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectHolds, ReadHold, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public async Task InsertErasureAsync(ErasureRecord erasure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(erasure);
        if (erasure.State != ErasureState.Pending)
        {
            throw new ArgumentException($"An erasure is recorded pending, not {erasure.State.ToText()}; it is applied by a fenced update.", nameof(erasure));
        }

        try
        {
            await InTransactionAsync(write: true, db => db.ExecuteAsync(Sql.InsertErasure, cancellationToken,
                _dialect.Uuid("erasureId", erasure.ErasureId), _dialect.Uuid("workspaceId", erasure.WorkspaceId), _dialect.Text("requestedBy", erasure.RequestedBy),
                _dialect.Text("identities", erasure.Identities.ToJson()), _dialect.Text("state", erasure.State.ToText()),
                _dialect.Text("progress", erasure.Progress.ToJson())), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) is Violation.PrimaryKey or Violation.Unique)
        {
            throw new WorkspaceOperationException(erasure.WorkspaceId, "record-erasure",
                $"Erasure {erasure.ErasureId} of workspace {erasure.WorkspaceId} is already recorded; nothing was written.", WorkspaceErrorKind.Conflict, e);
        }
    }

    /// <inheritdoc />
    public async Task UpdateErasureAsync(ErasureRecord erasure, WorkspaceLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(erasure);
        ArgumentNullException.ThrowIfNull(lease);
        RequireLeaseOf(lease, erasure.WorkspaceId);
        const string step = "update-erasure";
        var refusal = await InTransactionAsync<Refusal?>(write: true, async db =>
        {
            var changed = await db.ExecuteAsync(Sql.UpdateErasureFenced, cancellationToken,
                _dialect.Uuid("erasureId", erasure.ErasureId), _dialect.Uuid("workspaceId", erasure.WorkspaceId), _dialect.Text("state", erasure.State.ToText()),
                _dialect.Text("progress", erasure.Progress.ToJson()), _dialect.Text("lastError", erasure.LastError), _dialect.Uuid("leaseToken", lease.Token)).ConfigureAwait(false);
            if (changed == 1)
            {
                return null;
            }

            var change = $"record erasure {erasure.ErasureId} {erasure.State.ToText()}";
            if (!await LeaseHeldAsync(db, lease, cancellationToken).ConfigureAwait(false))
            {
                return await LeaseLostAsync(db, lease, step, change, cancellationToken).ConfigureAwait(false);
            }

            var current = await FirstAsync(db, Sql.SelectErasure, ReadErasure, cancellationToken, _dialect.Uuid("erasureId", erasure.ErasureId)).ConfigureAwait(false);
            return current is null || current.WorkspaceId != erasure.WorkspaceId
                ? new Refusal(FencedWriteOutcome.NotFound, step, $"Erasure {erasure.ErasureId} of workspace {erasure.WorkspaceId} is not recorded; nothing was written.")
                : new Refusal(FencedWriteOutcome.Conflict, step,
                    $"Cannot {change} for workspace {erasure.WorkspaceId}: it is {current.State.ToText()} already, so another run applied it. Nothing was written.");
        }, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            throw refusal.ToException(erasure.WorkspaceId);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ErasureRecord>> ListPendingErasuresAsync(CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectPendingErasures, ReadErasure, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ErasureRecord>> ListErasuresAsync(Guid workspaceId, CancellationToken cancellationToken = default) =>
        InTransactionAsync(write: false, db => db.ReadAllAsync(Sql.SelectErasures, ReadErasure, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)),
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
            attempt = await InTransactionAsync(write: true, db => AcquireLeaseAsync(db, workspaceId, owner, duration, isolate: false, cancellationToken),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
        {
            throw new WorkspaceOperationException(workspaceId, "acquire-lease",
                $"Cannot lease workspace {workspaceId}: it does not exist.", WorkspaceErrorKind.NotFound, e);
        }

        LogAttempt(workspaceId, owner, attempt);
        return attempt;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<LeaseAttempt>> TryAcquireLeasesAsync(
        IReadOnlyList<Guid> workspaceIds, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspaceIds);
        ValidateLease(owner, duration);
        if (workspaceIds.Count == 0)
        {
            return [];
        }

        var attempts = await InTransactionAsync(write: true, async db =>
        {
            var made = new LeaseAttempt[workspaceIds.Count];
            for (var i = 0; i < made.Length; i++)
            {
                try
                {
                    made[i] = await AcquireLeaseAsync(db, workspaceIds[i], owner, duration, isolate: true, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
                {
                    made[i] = new LeaseAttempt(null, null); // No such workspace; the savepoint kept the others' attempts.
                }
            }

            return made;
        }, cancellationToken).ConfigureAwait(false);

        // Logged once committed, like the single attempt: a lease is only acquired when its transaction commits.
        for (var i = 0; i < attempts.Length; i++)
        {
            if (attempts[i] is { Lease: not null } or { Holder: not null })
            {
                LogAttempt(workspaceIds[i], owner, attempts[i]);
            }
        }

        return attempts;
    }

    /// <summary>
    /// One lease attempt in <paramref name="db"/>'s transaction: the upsert, then, when it backed off, who holds the
    /// lease. Throws the driver's foreign-key error when the workspace does not exist (after rolling back to the
    /// statement's savepoint when <paramref name="isolate"/>).
    /// </summary>
    private async Task<LeaseAttempt> AcquireLeaseAsync(Db db, Guid workspaceId, string owner, TimeSpan duration, bool isolate, CancellationToken cancellationToken)
    {
        var taken = await IsolatedAsync(db, isolate, () => FirstAsync(db, Sql.AcquireLease, ReadAcquired, cancellationToken,
            _dialect.Uuid("workspaceId", workspaceId), _dialect.Text("owner", owner), _dialect.Uuid("token", Guid.NewGuid()),
            _dialect.Duration("duration", duration)), cancellationToken).ConfigureAwait(false);
        if (taken is not null)
        {
            return taken;
        }

        // Same transaction, new statement: Postgres under READ COMMITTED sees the holder that made the upsert
        // back off, even one that committed after this transaction began; SQLite holds the write lock.
        var holder = await FirstAsync(db, Sql.SelectLeaseHolder, ReadHolder, cancellationToken, _dialect.Uuid("workspaceId", workspaceId)).ConfigureAwait(false);
        return new LeaseAttempt(null, holder);
    }

    private void LogAttempt(Guid workspaceId, string owner, LeaseAttempt attempt)
    {
        if (attempt.Lease is { } acquired)
        {
            _log.LeaseAcquired(workspaceId, owner, acquired.ExpiresAt);
        }
        else
        {
            _log.LeaseRefused(workspaceId, owner, attempt.Holder?.Owner);
        }
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
    /// <remarks>
    /// One write transaction for the whole batch: on SQLite one BEGIN IMMEDIATE and one commit (one fsync) instead of
    /// one per write. Each write runs its single counterpart's statement; a refusal is read as the single method
    /// would read it, and on Postgres a statement that a constraint rejects runs under a savepoint so that it does not
    /// abort the transaction the other writes share.
    /// </remarks>
    public async Task<IReadOnlyList<FencedWriteResult>> ApplyFencedAsync(IReadOnlyList<FencedWrite> writes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writes);
        foreach (var write in writes)
        {
            RequireWellFormed(write); // All before any I/O: a malformed batch writes nothing.
        }

        if (writes.Count == 0)
        {
            return [];
        }

        return await InTransactionAsync(write: true, async db =>
        {
            var results = new FencedWriteResult[writes.Count];
            var refused = new HashSet<Guid>();
            for (var i = 0; i < results.Length; i++)
            {
                var write = writes[i];
                if (refused.Contains(write.WorkspaceId))
                {
                    results[i] = new FencedWriteResult(write, FencedWriteOutcome.Skipped,
                        $"Workspace {write.WorkspaceId}: not tried, an earlier write of this workspace in the batch was refused.");
                    continue;
                }

                var refusal = await WriteFencedAsync(db, write, isolate: true, cancellationToken).ConfigureAwait(false);
                if (refusal is not null)
                {
                    refused.Add(write.WorkspaceId);
                }

                results[i] = new FencedWriteResult(write, refusal?.Outcome ?? FencedWriteOutcome.Applied, refusal?.Message);
            }

            return results;
        }, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Checks what a fenced write needs before any I/O: a lease, and a ledger row of the lease's workspace.</summary>
    private static void RequireWellFormed(FencedWrite write)
    {
        ArgumentNullException.ThrowIfNull(write);
        switch (write)
        {
            case InsertArchiveWrite insert:
                ArgumentNullException.ThrowIfNull(insert.Archive);
                RequireLeaseOf(insert.Lease, insert.Archive.WorkspaceId);
                break;
            case UpdateArchiveWrite update:
                ArgumentNullException.ThrowIfNull(update.Archive);
                RequireLeaseOf(update.Lease, update.Archive.WorkspaceId);
                break;
            case SetStorageWrite storage:
                ArgumentNullException.ThrowIfNull(storage.Lease);
                break;
            default:
                throw new ArgumentException($"Unknown fenced write {write.GetType().Name}.", nameof(write));
        }
    }

    /// <summary>One fenced write in a transaction of its own, throwing its refusal: the single methods.</summary>
    private async Task WriteFencedAsync(FencedWrite write, CancellationToken cancellationToken) =>
        await InTransactionAsync(write: true, async db =>
            await WriteFencedAsync(db, write, isolate: false, cancellationToken).ConfigureAwait(false) is { } refusal
                ? throw refusal.ToException(write.WorkspaceId)
                : true, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Makes one fenced write in <paramref name="db"/>'s transaction: its statement checks the lease (and the expected
    /// state) and writes, at once. Returns null when it wrote; otherwise why not, read in the same transaction.
    /// Reading after the write can only make the reason stale, never let a write through: the write itself checked.
    /// </summary>
    /// <param name="db">The transaction.</param>
    /// <param name="write">The write.</param>
    /// <param name="isolate">True when the transaction goes on after this write, so a statement a constraint rejects must not end it.</param>
    /// <param name="cancellationToken">Cancels.</param>
    private Task<Refusal?> WriteFencedAsync(Db db, FencedWrite write, bool isolate, CancellationToken cancellationToken) => write switch
    {
        InsertArchiveWrite insert => InsertFencedAsync(db, insert, isolate, cancellationToken),
        UpdateArchiveWrite update => UpdateFencedAsync(db, update, isolate, cancellationToken),
        SetStorageWrite storage => SetStorageFencedAsync(db, storage, cancellationToken),
        _ => throw new ArgumentException($"Unknown fenced write {write.GetType().Name}.", nameof(write)),
    };

    private async Task<Refusal?> InsertFencedAsync(Db db, InsertArchiveWrite write, bool isolate, CancellationToken cancellationToken)
    {
        const string step = "record-archive";
        var archive = write.Archive;
        var (inserted, rejected) = await LedgerStatementAsync(db, isolate, step, archive, Sql.InsertArchiveFenced,
            [.. InsertParameters(archive), _dialect.Uuid("leaseToken", write.Lease.Token)], cancellationToken).ConfigureAwait(false);
        if (rejected is not null)
        {
            return rejected;
        }

        // The lease is the statement's only condition: nothing inserted means it was not held when the statement ran,
        // even should it be held again by the time the reason is read (its holder renewed a lapsed lease meanwhile).
        return inserted == 1 ? null : await LeaseLostAsync(db, write.Lease, step, $"record archive {archive.ArchiveId}", cancellationToken).ConfigureAwait(false);
    }

    private async Task<Refusal?> UpdateFencedAsync(Db db, UpdateArchiveWrite write, bool isolate, CancellationToken cancellationToken)
    {
        const string step = "update-archive";
        var archive = write.Archive;
        var (changed, rejected) = await LedgerStatementAsync(db, isolate, step, archive, Sql.UpdateArchiveFenced,
            [.. ArchiveParameters(archive), _dialect.Text("expected", write.Expected.ToText()), _dialect.Uuid("leaseToken", write.Lease.Token)],
            cancellationToken).ConfigureAwait(false);
        if (rejected is not null || changed == 1)
        {
            return rejected;
        }

        var change = $"mark archive {archive.ArchiveId} {archive.State.ToText()}";
        if (!await LeaseHeldAsync(db, write.Lease, cancellationToken).ConfigureAwait(false))
        {
            return await LeaseLostAsync(db, write.Lease, step, change, cancellationToken).ConfigureAwait(false);
        }

        var current = await FirstAsync(db, Sql.SelectArchive, ReadArchive, cancellationToken, _dialect.Uuid("archiveId", archive.ArchiveId)).ConfigureAwait(false);
        return current is null || current.WorkspaceId != archive.WorkspaceId
            ? new Refusal(FencedWriteOutcome.NotFound, step, NotInLedgerMessage(archive))
            : new Refusal(FencedWriteOutcome.Conflict, step,
                $"Cannot {change} for workspace {archive.WorkspaceId}: the ledger says {current.State.ToText()}, not {write.Expected.ToText()} as this run expected, so something else changed it. Nothing was written; rerun the operation to resume from what the ledger says.");
    }

    /// <summary>
    /// Runs a fenced ledger statement; a constraint's rejection (the archive id taken, a second archive in flight, the
    /// workspace missing) becomes the refusal the single methods throw for it. An update keeps the id and workspace, so
    /// only the in-flight rule can reject it.
    /// </summary>
    private async Task<(int Changed, Refusal? Rejected)> LedgerStatementAsync(
        Db db, bool isolate, string step, ArchiveRecord archive, string sql, DbParameter[] parameters, CancellationToken cancellationToken)
    {
        try
        {
            return (await IsolatedAsync(db, isolate, () => db.ExecuteAsync(sql, cancellationToken, parameters), cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception e) when (_dialect.Classify(e) is Violation.PrimaryKey or Violation.Unique)
        {
            return (0, new Refusal(FencedWriteOutcome.Conflict, step, ArchiveConflictMessage(archive, IsDuplicateArchiveId(e)), e));
        }
        catch (Exception e) when (_dialect.Classify(e) == Violation.ForeignKey)
        {
            return (0, new Refusal(FencedWriteOutcome.NotFound, step, MissingWorkspaceMessage(archive), e));
        }
    }

    /// <remarks>
    /// No savepoint: no constraint rejects a storage value the enum wrote, and the expectation is the statement's
    /// WHERE, so this statement fails only when the store does (which ends any batch anyway).
    /// </remarks>
    private async Task<Refusal?> SetStorageFencedAsync(Db db, SetStorageWrite write, CancellationToken cancellationToken)
    {
        const string step = "set-storage";
        var (expected, desired) = (write.Expected.ToText(), write.Desired.ToText());
        var changed = await db.ExecuteAsync(Sql.SetStorageFenced, cancellationToken,
            _dialect.Uuid("id", write.WorkspaceId), _dialect.Text("expected", expected), _dialect.Text("desired", desired),
            _dialect.Uuid("leaseToken", write.Lease.Token)).ConfigureAwait(false);
        if (changed == 1)
        {
            return null;
        }

        var change = $"set its storage from {expected} to {desired}";
        return await LeaseHeldAsync(db, write.Lease, cancellationToken).ConfigureAwait(false)
            ? new Refusal(FencedWriteOutcome.Conflict, step, $"Workspace {write.WorkspaceId}: cannot {change}, its storage is not {expected}; nothing was written.")
            : await LeaseLostAsync(db, write.Lease, step, change, cancellationToken).ConfigureAwait(false);
    }

    private Task<bool> LeaseHeldAsync(Db db, WorkspaceLease lease, CancellationToken cancellationToken) =>
        db.TrueAsync(Sql.LeaseHeld, cancellationToken, _dialect.Uuid("workspaceId", lease.WorkspaceId), _dialect.Uuid("leaseToken", lease.Token));

    /// <summary>The refusal of a write whose lease was not held, naming who holds the lease now; logged.</summary>
    private async Task<Refusal> LeaseLostAsync(Db db, WorkspaceLease lease, string step, string change, CancellationToken cancellationToken)
    {
        var holder = await FirstAsync(db, Sql.SelectLeaseHolder, ReadHolder, cancellationToken, _dialect.Uuid("workspaceId", lease.WorkspaceId)).ConfigureAwait(false);
        var now = holder is null ? "nobody holds it now" : string.Create(CultureInfo.InvariantCulture,
            $"the workspace's lease now names {holder.Owner}, until {holder.ExpiresAt:yyyy-MM-dd HH:mm:ss.fff} UTC");
        _log.FencedWriteRefused(step, lease.WorkspaceId, lease.Owner);
        return new Refusal(FencedWriteOutcome.LeaseLost, step,
            $"Workspace {lease.WorkspaceId}: {step} refused; this run ({lease.Owner}) lost the workspace's lease before it could {change} ({now}). The lease lapsed while this process was stalled or the state store failed over, so another run may have taken over; nothing was written and this run stops. Rerun the operation (or let the worker) to resume from the ledger.");
    }

    /// <summary>Why a fenced write was not made: what a batch reports for it, and what a single method throws.</summary>
    private sealed record Refusal(FencedWriteOutcome Outcome, string Step, string Message, Exception? Cause = null)
    {
        public Exception ToException(Guid workspaceId) => Outcome switch
        {
            FencedWriteOutcome.LeaseLost => new LeaseLostException(workspaceId, Step, Message, Cause),
            FencedWriteOutcome.NotFound => new WorkspaceOperationException(workspaceId, Step, Message, WorkspaceErrorKind.NotFound, Cause),
            _ => new WorkspaceOperationException(workspaceId, Step, Message, WorkspaceErrorKind.Conflict, Cause),
        };
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

    /// <summary>
    /// Runs one statement of a transaction that must outlive the statement's constraint error (a batch). Postgres
    /// aborts the whole transaction on any error, so there the statement runs under a savepoint, rolled back to when a
    /// constraint rejects it; SQLite undoes only the failed statement by itself, so it needs none (and saves the round
    /// trips). Any other error is left to end the transaction.
    /// </summary>
    private async Task<T> IsolatedAsync<T>(Db db, bool isolate, Func<Task<T>> statement, CancellationToken cancellationToken)
    {
        if (!isolate || !_dialect.StatementErrorAbortsTransaction)
        {
            return await statement().ConfigureAwait(false);
        }

        await db.Transaction.SaveAsync(StatementSavepoint, cancellationToken).ConfigureAwait(false);
        T result;
        try
        {
            result = await statement().ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.Classify(e) != Violation.None)
        {
            await db.Transaction.RollbackAsync(StatementSavepoint, cancellationToken).ConfigureAwait(false);
            throw;
        }

        // Released at once: each savepoint open at a time is a subtransaction, and past 64 of them Postgres slows every snapshot.
        await db.Transaction.ReleaseAsync(StatementSavepoint, cancellationToken).ConfigureAwait(false);
        return result;
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
        Chunk = r.IsDBNull(13) ? null : ArchiveChunk.Parse(r.GetString(13)),
    };

    private ErasureRecord ReadErasure(DbDataReader r) => new(
        _dialect.GetUuid(r, 0), _dialect.GetUuid(r, 1), r.GetString(2), _dialect.GetInstant(r, 3), ErasureIdentities.Parse(r.GetString(4)),
        ErasureStateText.Parse(r.GetString(5)), ErasureProgress.Parse(r.GetString(6)), _dialect.GetInstant(r, 7),
        r.IsDBNull(8) ? null : _dialect.GetInstant(r, 8), r.IsDBNull(9) ? null : r.GetString(9));

    private WorkspaceHold ReadHold(DbDataReader r) => new(_dialect.GetUuid(r, 0), r.GetString(1), _dialect.GetInstant(r, 2));

    private WorkspaceLease ReadLease(DbDataReader r) => new(_dialect.GetUuid(r, 0), r.GetString(1), _dialect.GetUuid(r, 2), _dialect.GetInstant(r, 3));

    /// <summary>An acquired lease and, when it replaced a lapsed one, whose that was (column 4).</summary>
    private LeaseAttempt ReadAcquired(DbDataReader r) => new(ReadLease(r), null) { TakenOverFrom = r.IsDBNull(4) ? null : r.GetString(4) };

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

    private static string ArchiveConflictMessage(ArchiveRecord archive, bool duplicateId) =>
        duplicateId
            ? $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} is already in the ledger."
            : $"Workspace {archive.WorkspaceId} already has an archive in flight (copying, verified, deleting or restoring); finish or abandon it before archive {archive.ArchiveId} can be {archive.State.ToText()}.";

    private static string MissingWorkspaceMessage(ArchiveRecord archive) =>
        $"Cannot record archive {archive.ArchiveId}: workspace {archive.WorkspaceId} does not exist.";

    private static string NotInLedgerMessage(ArchiveRecord archive) =>
        $"Archive {archive.ArchiveId} of workspace {archive.WorkspaceId} is not in the ledger.";
}
