using Coldstore.Domain;

namespace Coldstore.State.Postgres;

/// <summary>Conversions shared by the store's reads and writes. Pure.</summary>
internal static class StateTime
{
    /// <summary>
    /// The instant as UTC, truncated to whole milliseconds. Why truncate here: Postgres rounds to the column's
    /// precision, SQLite keeps what it is given; truncating first makes both stores return the same value.
    /// An unspecified kind is taken as UTC (Coldstore never produces local times).
    /// </summary>
    public static DateTime ToUtcMilliseconds(DateTime value)
    {
        var utc = value.Kind switch
        {
            DateTimeKind.Local => value.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(value, DateTimeKind.Utc),
            _ => value,
        };
        return new DateTime(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);
    }

    /// <summary>Dittofeed's <c>WorkspaceStatus</c> enum label as <see cref="WorkspaceStatus"/>.</summary>
    public static WorkspaceStatus ParseStatus(string text) => text switch
    {
        "Active" => WorkspaceStatus.Active,
        "Tombstoned" => WorkspaceStatus.Tombstoned,
        "Paused" => WorkspaceStatus.Paused,
        _ => throw new FormatException($"Unknown workspace status '{text}'; expected Active, Tombstoned or Paused."),
    };
}
