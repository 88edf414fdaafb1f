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
