namespace Coldstore.Domain;

/// <summary>A workspace's lifecycle status, as Dittofeed's <c>WorkspaceStatus</c> enum spells it.</summary>
public enum WorkspaceStatus
{
    /// <summary>In use: its events belong in the hot tables.</summary>
    Active,

    /// <summary>Deleted by the user but kept for a possible un-delete: its events belong in cold storage.</summary>
    Tombstoned,

    /// <summary>Paused: its events belong in cold storage until it resumes.</summary>
    Paused,
}

/// <summary>Text forms of <see cref="WorkspaceStatus"/>: Dittofeed's <c>WorkspaceStatus</c> enum labels.</summary>
public static class WorkspaceStatusText
{
    /// <summary>Dittofeed's label of a status: <c>Active</c>, <c>Tombstoned</c> or <c>Paused</c>, as every store persists it.</summary>
    public static string ToText(this WorkspaceStatus status) => status switch
    {
        WorkspaceStatus.Active => "Active",
        WorkspaceStatus.Tombstoned => "Tombstoned",
        WorkspaceStatus.Paused => "Paused",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown workspace status."),
    };

    /// <summary>Parses a label (<c>Active</c>, <c>Tombstoned</c>, <c>Paused</c>); throws <see cref="FormatException"/> naming the bad value.</summary>
    public static WorkspaceStatus Parse(string text) => text switch
    {
        "Active" => WorkspaceStatus.Active,
        "Tombstoned" => WorkspaceStatus.Tombstoned,
        "Paused" => WorkspaceStatus.Paused,
        _ => throw new FormatException($"Unknown workspace status '{text}'; expected Active, Tombstoned or Paused."),
    };
}

/// <summary>The one precision at which Coldstore keeps instants: UTC, whole milliseconds (as ClickHouse's DateTime64(3)).</summary>
public static class UtcMilliseconds
{
    /// <summary>
    /// The instant as UTC, truncated to whole milliseconds, so every store returns exactly what it was given.
    /// An unspecified kind is taken as UTC (Coldstore never produces local times).
    /// </summary>
    public static DateTime Truncate(DateTime value)
    {
        var utc = value.Kind switch
        {
            DateTimeKind.Local => value.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(value, DateTimeKind.Utc),
            _ => value,
        };
        return new DateTime(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);
    }
}
