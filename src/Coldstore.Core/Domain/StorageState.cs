namespace Coldstore.Domain;

/// <summary>
/// Where a workspace's events are. Stored in the <c>Workspace</c> table's
/// <c>coldstoreStorage</c> column as the lower-case name.
/// </summary>
public enum StorageState
{
    /// <summary>All events are in the hot ClickHouse tables (the default for every workspace).</summary>
    Hot,

    /// <summary>An archive has started and not yet finished; rerunning archive (or restore) resumes it.</summary>
    Archiving,

    /// <summary>The events up to the last archive's cutoff live in the archive store.</summary>
    Cold,

    /// <summary>A restore has started and not yet finished; rerunning restore resumes it.</summary>
    Restoring,
}

/// <summary>Text forms of <see cref="StorageState"/> as persisted by every state store.</summary>
public static class StorageStateText
{
    /// <summary>The persisted text of a state: <c>hot</c>, <c>archiving</c>, <c>cold</c> or <c>restoring</c>.</summary>
    public static string ToText(this StorageState state) => state switch
    {
        StorageState.Hot => "hot",
        StorageState.Archiving => "archiving",
        StorageState.Cold => "cold",
        StorageState.Restoring => "restoring",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown storage state."),
    };

    /// <summary>Parses a persisted storage text; throws <see cref="FormatException"/> naming the bad value.</summary>
    public static StorageState Parse(string text) => text switch
    {
        "hot" => StorageState.Hot,
        "archiving" => StorageState.Archiving,
        "cold" => StorageState.Cold,
        "restoring" => StorageState.Restoring,
        _ => throw new FormatException($"Unknown storage state '{text}'; expected hot, archiving, cold or restoring."),
    };
}
