namespace Coldstore.Errors;

/// <summary>
/// The base of Coldstore's few exception types. Each carries enough context to act on, and says whether
/// retrying the same operation can help.
/// </summary>
public abstract class ColdstoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected ColdstoreException(string message, Exception? inner = null) : base(message, inner)
    {
    }

    /// <summary>True when the same call may succeed if retried (a network blip, a busy engine).</summary>
    public virtual bool IsTransient => false;
}

/// <summary>A setting is missing or malformed. The message quotes the setting's name and the accepted forms.</summary>
public sealed class ConfigurationException : ColdstoreException
{
    /// <summary>Creates the exception for <paramref name="setting"/>.</summary>
    public ConfigurationException(string setting, string message, Exception? inner = null) : base(message, inner)
    {
        Setting = setting;
    }

    /// <summary>The name of the setting, e.g. <c>COLDSTORE_CLICKHOUSE</c>.</summary>
    public string Setting { get; }
}

/// <summary>An engine (ClickHouse, the state store, the archive store) cannot be reached or refused us.</summary>
public sealed class EngineUnavailableException : ColdstoreException
{
    /// <summary>Creates the exception for the engine configured by <paramref name="setting"/>.</summary>
    public EngineUnavailableException(string setting, string message, Exception? inner = null) : base(message, inner)
    {
        Setting = setting;
    }

    /// <summary>The setting that points at the unreachable engine.</summary>
    public string Setting { get; }

    /// <inheritdoc />
    public override bool IsTransient => true;
}

/// <summary>
/// An operation on a workspace cannot go ahead: bad input, wrong state, or another operation in the way.
/// Names the workspace and the step.
/// </summary>
public sealed class WorkspaceOperationException : ColdstoreException
{
    /// <summary>Creates the exception.</summary>
    public WorkspaceOperationException(Guid? workspaceId, string step, string message, WorkspaceErrorKind kind, Exception? inner = null)
        : base(message, inner)
    {
        WorkspaceId = workspaceId;
        Step = step;
        Kind = kind;
    }

    /// <summary>The workspace concerned, when known.</summary>
    public Guid? WorkspaceId { get; }

    /// <summary>The step that refused, e.g. <c>acquire-lease</c> or <c>verify-copy</c>.</summary>
    public string Step { get; }

    /// <summary>What kind of refusal this is; the CLI maps it to an exit code.</summary>
    public WorkspaceErrorKind Kind { get; }
}

/// <summary>The kinds of <see cref="WorkspaceOperationException"/>.</summary>
public enum WorkspaceErrorKind
{
    /// <summary>The input is malformed (not a UUID, an empty name).</summary>
    InvalidInput,

    /// <summary>The workspace does not exist.</summary>
    NotFound,

    /// <summary>The workspace's status does not allow the change, or a uniqueness rule would be broken.</summary>
    Conflict,

    /// <summary>Another operation holds the workspace's lease; retrying later (or waiting longer) succeeds.</summary>
    Busy,

    /// <summary>The operation ran and failed (verification mismatch, engine error); nothing was lost.</summary>
    Failed,
}

/// <summary>
/// A write of an operation was refused because the operation no longer holds the workspace's lease: it lapsed (the
/// process stalled, or the state store failed over) and may have been taken over by another holder. Nothing was
/// written; the operation stops, and whoever holds the lease now resumes from the ledger. Retrying the same run
/// cannot help, rerunning the operation can.
/// </summary>
public sealed class LeaseLostException : ColdstoreException
{
    /// <summary>Creates the exception.</summary>
    public LeaseLostException(Guid workspaceId, string step, string message, Exception? inner = null) : base(message, inner)
    {
        WorkspaceId = workspaceId;
        Step = step;
    }

    /// <summary>The workspace whose lease was lost.</summary>
    public Guid WorkspaceId { get; }

    /// <summary>The write that was refused, e.g. <c>update-archive</c> or <c>set-storage</c>.</summary>
    public string Step { get; }
}
