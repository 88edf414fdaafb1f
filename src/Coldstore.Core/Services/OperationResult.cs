using Coldstore.Domain;

namespace Coldstore.Services;

/// <summary>One step of an operation, as it ran.</summary>
/// <param name="Name">The step's name (see <see cref="Steps"/>), or a descriptive name for steps that are not failpoints.</param>
/// <param name="Duration">How long it took.</param>
/// <param name="Detail">What it did, for people (counts, keys).</param>
public sealed record StepReport(string Name, TimeSpan Duration, string? Detail);

/// <summary>One archive touched by an operation.</summary>
/// <param name="ArchiveId">The archive.</param>
/// <param name="State">Its state after the operation.</param>
/// <param name="Cutoff">Its cutoff (UTC).</param>
/// <param name="Rows">Rows it holds (or held).</param>
/// <param name="Bytes">Bytes of its data objects.</param>
/// <param name="Checksum">Its content checksum.</param>
/// <param name="InternalEventRows">Internal events its rows derive.</param>
/// <param name="ObjectPrefix">Where its objects live in the archive store.</param>
public sealed record ArchiveOutcome(Guid ArchiveId, ArchiveState State, DateTime Cutoff, long Rows, long Bytes, ulong Checksum, long InternalEventRows, string ObjectPrefix);

/// <summary>What an archive or restore did, step by step.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Operation"><c>archive</c> or <c>restore</c>.</param>
/// <param name="Storage">The workspace's storage state afterwards.</param>
/// <param name="Rows">Rows moved (archived or restored) by this operation.</param>
/// <param name="Bytes">Archive bytes written or read.</param>
/// <param name="Checksum">Sum (wrapping) of the checksums of the archives moved.</param>
/// <param name="Archives">The archives touched.</param>
/// <param name="Steps">The steps in order, with timings.</param>
/// <param name="Duration">The whole operation's duration.</param>
public sealed record OperationResult(
    Guid WorkspaceId,
    string Operation,
    StorageState Storage,
    long Rows,
    long Bytes,
    ulong Checksum,
    IReadOnlyList<ArchiveOutcome> Archives,
    IReadOnlyList<StepReport> Steps,
    TimeSpan Duration);

/// <summary>Whom to erase from a workspace's data, and who asks.</summary>
/// <param name="UserIds">Values of <c>user_id</c> whose events go.</param>
/// <param name="AnonymousIds">Values of <c>anonymous_id</c> whose events go.</param>
/// <param name="RequestedBy">Who asks (recorded in the ledger): an operator, a ticket.</param>
public sealed record ErasureRequest(IReadOnlyList<string> UserIds, IReadOnlyList<string> AnonymousIds, string RequestedBy);

/// <summary>What an erase did, or why it is still pending.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Erasure">The erasure as the ledger has it now (applied, or pending).</param>
/// <param name="PendingBecause">Why it is still pending (another operation holds the workspace, or an archive is unfinished), or null.</param>
/// <param name="AlsoApplied">Other pending erasures of the workspace this run applied on the way.</param>
/// <param name="Steps">The steps in order, with timings.</param>
/// <param name="Duration">How long it took.</param>
public sealed record ErasureResult(
    Guid WorkspaceId, ErasureRecord? Erasure, string? PendingBecause, IReadOnlyList<ErasureRecord> AlsoApplied, IReadOnlyList<StepReport> Steps, TimeSpan Duration);

/// <summary>One dependency's answer to a readiness check.</summary>
/// <param name="Name"><c>state</c>, <c>clickhouse</c> or <c>archive</c>.</param>
/// <param name="Ok">True when it answered as needed.</param>
/// <param name="Problem">Why not, or null.</param>
public sealed record ReadinessCheck(string Name, bool Ok, string? Problem);

/// <summary>Whether an instance can work now (<see cref="ColdstoreService.CheckReadinessAsync"/>).</summary>
/// <param name="Ready">True when every check passed.</param>
/// <param name="Checks">Each dependency's answer.</param>
public sealed record ReadinessReport(bool Ready, IReadOnlyList<ReadinessCheck> Checks);

/// <summary>Progress of a running operation.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Step">The step running or just finished.</param>
/// <param name="Detail">What is happening, for people.</param>
public sealed record OperationProgress(Guid WorkspaceId, string Step, string? Detail);

/// <summary>The result of checking one archive against its manifest and ledger row.</summary>
/// <param name="ArchiveId">The archive.</param>
/// <param name="State">Its ledger state.</param>
/// <param name="Rows">Rows the ledger says it holds.</param>
/// <param name="Bytes">Bytes of its objects.</param>
/// <param name="Ok">True when manifest, objects and content all match.</param>
/// <param name="Problem">What does not match, or null.</param>
public sealed record ArchiveCheck(Guid ArchiveId, ArchiveState State, long Rows, long Bytes, bool Ok, string? Problem);

/// <summary>Full-row checksums of one workspace in both event tables.</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="EventRows">Rows in the events table.</param>
/// <param name="EventChecksum">Sum of full-row hashes over every column of the events table.</param>
/// <param name="InternalEventRows">Rows in internal events.</param>
/// <param name="InternalEventChecksum">Sum of full-row hashes over every column of internal events.</param>
public sealed record WorkspaceChecksums(Guid WorkspaceId, long EventRows, ulong EventChecksum, long InternalEventRows, ulong InternalEventChecksum);

/// <summary>What reconciling one workspace did: nothing (it was already where its status says), an archive, or a restore.</summary>
/// <param name="Workspace">The workspace as read under the lease, before moving anything.</param>
/// <param name="Desired">Where its status says the events belong.</param>
/// <param name="Operation">The archive or restore that ran, or null when nothing had to move.</param>
public sealed record ReconcileResult(Workspace Workspace, StorageState Desired, OperationResult? Operation)
{
    /// <summary><c>none</c>, <c>archive</c> or <c>restore</c>.</summary>
    public string Action => Operation?.Operation ?? "none";

    /// <summary>Where the events are afterwards.</summary>
    public StorageState Storage => Operation?.Storage ?? Workspace.Storage;
}

/// <summary>What a lifecycle call did: the status change, and the move of the events when it made it itself.</summary>
/// <param name="Transition">The lifecycle change asked for.</param>
/// <param name="Change">The <c>Workspace</c> row before and after.</param>
/// <param name="Reconcile">The move of the events, or null when left to the worker (or cold storage is off).</param>
/// <param name="ColdStorageEnabled">Whether cold storage was on; when off only the status changes.</param>
public sealed record LifecycleResult(WorkspaceTransition Transition, WorkspaceStatusChange Change, ReconcileResult? Reconcile, bool ColdStorageEnabled)
{
    /// <summary>The workspace after the status change.</summary>
    public Workspace Workspace => Change.After;

    /// <summary>Where the events are afterwards, as far as this call knows.</summary>
    public StorageState Storage => Reconcile?.Storage ?? Change.After.Storage;
}

/// <summary>The result of a query over a workspace's archives (<c>coldstore query</c>).</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="Archives">The archives the query read.</param>
/// <param name="Columns">The result's column names, in order (empty when it has no rows).</param>
/// <param name="Rows">The result's rows.</param>
public sealed record ArchiveQueryResult(Guid WorkspaceId, IReadOnlyList<Guid> Archives, IReadOnlyList<string> Columns, IReadOnlyList<Ports.ClickHouseRow> Rows);

/// <summary>One archive as <c>coldstore archives</c> shows it: its ledger row and what its manifest lists.</summary>
/// <param name="Record">The ledger row (state, cutoff, chunk, rows, checksum, bytes).</param>
/// <param name="Objects">The data objects the manifest lists, with sizes (none when the archive has no objects any more).</param>
/// <param name="Months">The months (<c>yyyy-MM</c>) of <c>processing_time</c> its objects hold.</param>
/// <param name="Problem">Why its manifest could not be read, or null.</param>
public sealed record ArchiveDescription(ArchiveRecord Record, IReadOnlyList<ManifestObject> Objects, IReadOnlyList<string> Months, string? Problem);

/// <summary>One archive the retention rule purged (or, in a dry run, would purge).</summary>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="ArchiveId">The archive.</param>
/// <param name="Rows">Rows it held.</param>
/// <param name="Bytes">Bytes of its objects.</param>
/// <param name="Reason">Why the rule takes it (tombstoned since when, or its workspace row deleted).</param>
/// <param name="Purged">True when it was purged; false in a dry run or when the purge stopped.</param>
/// <param name="Error">Why the purge of its workspace stopped, or null.</param>
public sealed record PurgeOutcome(Guid WorkspaceId, Guid ArchiveId, long Rows, long Bytes, string Reason, bool Purged, string? Error);
