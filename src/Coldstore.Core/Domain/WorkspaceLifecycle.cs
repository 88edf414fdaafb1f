using Coldstore.Errors;

namespace Coldstore.Domain;

/// <summary>The lifecycle changes a workspace's status can go through, as Dittofeed names them.</summary>
public enum WorkspaceTransition
{
    /// <summary>Active (or Paused) → Tombstoned; name and external id gain the <c>DfTombstoned-</c> prefix.</summary>
    Tombstone,

    /// <summary>Tombstoned → Active; the prefix is stripped again.</summary>
    Activate,

    /// <summary>Active → Paused.</summary>
    Pause,

    /// <summary>Paused → Active.</summary>
    Resume,
}

/// <summary>The identity columns of a workspace after a transition.</summary>
/// <param name="Status">The new status.</param>
/// <param name="Name">The new name.</param>
/// <param name="ExternalId">The new external id (null stays null).</param>
public sealed record WorkspaceIdentity(WorkspaceStatus Status, string Name, string? ExternalId);

/// <summary>What a lifecycle change did to the <c>Workspace</c> row.</summary>
/// <param name="Before">The row as it was.</param>
/// <param name="After">The row as it is now (equal to <paramref name="Before"/> when the workspace was already there).</param>
public sealed record WorkspaceStatusChange(Workspace Before, Workspace After)
{
    /// <summary>True when the row changed; false when the workspace already had the target status.</summary>
    public bool Changed => Before.Status != After.Status;
}

/// <summary>
/// Dittofeed's lifecycle rules, free of I/O so every state store applies exactly the same ones inside its own
/// transaction, and the rule for where a status wants its events.
/// </summary>
public static class WorkspaceLifecycle
{
    /// <summary>The prefix Dittofeed puts on the name and external id of a tombstoned workspace, so both can be reused.</summary>
    public const string TombstonePrefix = "DfTombstoned-";

    /// <summary>Where the events of a workspace with this status belong: Active → hot; Paused and Tombstoned → cold.</summary>
    public static StorageState DesiredStorage(WorkspaceStatus status) =>
        status == WorkspaceStatus.Active ? StorageState.Hot : StorageState.Cold;

    /// <summary>The step name a transition reports in errors and results (<c>tombstone</c>, <c>activate</c>, …).</summary>
    public static string StepName(this WorkspaceTransition transition) => transition switch
    {
        WorkspaceTransition.Tombstone => "tombstone",
        WorkspaceTransition.Activate => "activate",
        WorkspaceTransition.Pause => "pause",
        WorkspaceTransition.Resume => "resume",
        _ => throw new ArgumentOutOfRangeException(nameof(transition), transition, "Unknown transition."),
    };

    /// <summary>
    /// The identity columns after <paramref name="transition"/>, or null when the workspace already has the target
    /// status (a repeated call changes nothing, so callers can retry freely).
    /// </summary>
    /// <exception cref="WorkspaceOperationException">Kind Conflict: the transition does not apply to the current status; the message says which one does.</exception>
    public static WorkspaceIdentity? Apply(Workspace current, WorkspaceTransition transition)
    {
        ArgumentNullException.ThrowIfNull(current);
        var step = transition.StepName();
        return (transition, current.Status) switch
        {
            (WorkspaceTransition.Tombstone, WorkspaceStatus.Tombstoned) => null,
            (WorkspaceTransition.Tombstone, _) => new WorkspaceIdentity(
                WorkspaceStatus.Tombstoned, AddPrefix(current.Name), current.ExternalId is { } e ? AddPrefix(e) : null),

            (WorkspaceTransition.Activate, WorkspaceStatus.Active) => null,
            (WorkspaceTransition.Activate, WorkspaceStatus.Tombstoned) => new WorkspaceIdentity(
                WorkspaceStatus.Active, StripPrefix(current.Name), current.ExternalId is { } e ? StripPrefix(e) : null),
            (WorkspaceTransition.Activate, _) => throw Refused(current, step, "it is Paused; resume it instead"),

            (WorkspaceTransition.Pause, WorkspaceStatus.Paused) => null,
            (WorkspaceTransition.Pause, WorkspaceStatus.Active) => new WorkspaceIdentity(WorkspaceStatus.Paused, current.Name, current.ExternalId),
            (WorkspaceTransition.Pause, _) => throw Refused(current, step, "it is Tombstoned; activate it first"),

            (WorkspaceTransition.Resume, WorkspaceStatus.Active) => null,
            (WorkspaceTransition.Resume, WorkspaceStatus.Paused) => new WorkspaceIdentity(WorkspaceStatus.Active, current.Name, current.ExternalId),
            (WorkspaceTransition.Resume, _) => throw Refused(current, step, "it is Tombstoned; activate it instead"),

            _ => throw new ArgumentOutOfRangeException(nameof(transition), transition, "Unknown transition."),
        };
    }

    /// <summary>The error a store raises when the new name or external id is already used by a sibling workspace.</summary>
    public static WorkspaceOperationException NameTaken(Workspace current, WorkspaceIdentity wanted, WorkspaceTransition transition, Exception? inner = null)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(wanted);
        var externalId = wanted.ExternalId is null ? "" : $" or external id '{wanted.ExternalId}'";
        return new WorkspaceOperationException(
            current.Id,
            transition.StepName(),
            $"Cannot {transition.StepName()} workspace {current.Id}: another workspace with the same parent already uses the name '{wanted.Name}'{externalId}. Rename that workspace (or this one) and run {transition.StepName()} again; nothing was changed.",
            WorkspaceErrorKind.Conflict,
            inner);
    }

    private static string AddPrefix(string value) => TombstonePrefix + value;

    private static string StripPrefix(string value) =>
        value.StartsWith(TombstonePrefix, StringComparison.Ordinal) ? value[TombstonePrefix.Length..] : value;

    private static WorkspaceOperationException Refused(Workspace current, string step, string why) =>
        new(current.Id, step, $"Cannot {step} workspace {current.Id}: {why}. Nothing was changed.", WorkspaceErrorKind.Conflict);
}
