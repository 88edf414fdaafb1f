using System.Globalization;

namespace Coldstore.Domain;

/// <summary>The life of one archive, as recorded in the ledger.</summary>
public enum ArchiveState
{
    /// <summary>The cutoff is fixed and rows are being copied to the archive store.</summary>
    Copying,

    /// <summary>The copy was verified against the hot rows and its manifest written; nothing deleted yet.</summary>
    Verified,

    /// <summary>The bounded deletes of the hot rows were submitted to ClickHouse.</summary>
    Deleting,

    /// <summary>The archive holds the workspace's events; the hot copies are deleted (or being deleted).</summary>
    Archived,

    /// <summary>The archive's rows are being inserted back into the hot table.</summary>
    Restoring,

    /// <summary>The rows are hot again and verified; the archive's objects are gone.</summary>
    Restored,

    /// <summary>An archive that was rolled back before its hot rows were deleted; its objects are gone.</summary>
    Abandoned,

    /// <summary>An archive removed by the retention rule: its objects are deleted, its counts and dates kept.</summary>
    Purged,
}

/// <summary>Text forms of <see cref="ArchiveState"/> as persisted by every state store.</summary>
public static class ArchiveStateText
{
    /// <summary>The persisted text of a state (its lower-case name).</summary>
    public static string ToText(this ArchiveState state) => state switch
    {
        ArchiveState.Copying => "copying",
        ArchiveState.Verified => "verified",
        ArchiveState.Deleting => "deleting",
        ArchiveState.Archived => "archived",
        ArchiveState.Restoring => "restoring",
        ArchiveState.Restored => "restored",
        ArchiveState.Abandoned => "abandoned",
        ArchiveState.Purged => "purged",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown archive state."),
    };

    /// <summary>Parses a persisted archive state; throws <see cref="FormatException"/> naming the bad value.</summary>
    public static ArchiveState Parse(string text) => text switch
    {
        "copying" => ArchiveState.Copying,
        "verified" => ArchiveState.Verified,
        "deleting" => ArchiveState.Deleting,
        "archived" => ArchiveState.Archived,
        "restoring" => ArchiveState.Restoring,
        "restored" => ArchiveState.Restored,
        "abandoned" => ArchiveState.Abandoned,
        "purged" => ArchiveState.Purged,
        _ => throw new FormatException($"Unknown archive state '{text}'."),
    };
}

/// <summary>One row of the archive ledger: everything needed to verify, resume or restore an archive.</summary>
/// <param name="ArchiveId">The archive's id; also part of its object prefix.</param>
/// <param name="WorkspaceId">The workspace whose events it holds.</param>
/// <param name="State">Where the archive is in its life.</param>
/// <param name="Cutoff">Rows with <c>processing_time</c> at or before this instant (UTC, millisecond precision) belong to the archive.</param>
/// <param name="ObjectPrefix">The key prefix in the archive store under which its objects live (ends with '/').</param>
/// <param name="RowCount">Rows copied, once verified.</param>
/// <param name="Checksum">Order-independent content checksum of the copied rows, once verified.</param>
/// <param name="Bytes">Total size of the archive's data objects, once verified.</param>
/// <param name="InternalEventRows">How many <c>internal_events</c> rows the archived rows regenerate.</param>
/// <param name="CreatedAt">When the ledger row was created (UTC).</param>
/// <param name="UpdatedAt">When the ledger row last changed (UTC).</param>
/// <param name="LastError">The last failure message, free of secrets, or null.</param>
public sealed record ArchiveRecord(
    Guid ArchiveId,
    Guid WorkspaceId,
    ArchiveState State,
    DateTime Cutoff,
    string ObjectPrefix,
    long? RowCount,
    ulong? Checksum,
    long? Bytes,
    long? InternalEventRows,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    string? LastError)
{
    /// <summary>What was hot before this archive's restore began; recorded with the move to restoring, null before.</summary>
    public RestoreBaseline? Baseline { get; init; }

    /// <summary>
    /// For one chunk of a large workspace's archive, the share of the rows up to the cutoff it holds; null for an archive
    /// of every row up to the cutoff.
    /// </summary>
    public ArchiveChunk? Chunk { get; init; }
}

/// <summary>
/// What was hot in a restore's range before it inserted anything, recorded with the ledger's move to restoring: a
/// resumed restore tells its own leftovers from older rows by it, and checks its result against it.
/// </summary>
/// <param name="Rows">The workspace's events up to the archive's cutoff.</param>
/// <param name="Checksum">Their checksum (sum of <c>ArchiveSql.RowHash</c>).</param>
/// <param name="InternalRows">The workspace's internal events up to the cutoff.</param>
/// <param name="InternalChecksum">Their checksum (sum of <c>ArchiveSql.DerivedRowHash</c>).</param>
/// <param name="ArchivedRowsHot">Of <paramref name="Rows"/>, those identical to an archived row (a replay).</param>
/// <param name="ArchivedInternalRowsHot">Of <paramref name="InternalRows"/>, those with an archived row's derived hash.</param>
public sealed record RestoreBaseline(long Rows, ulong Checksum, long InternalRows, ulong InternalChecksum, long ArchivedRowsHot, long ArchivedInternalRowsHot)
{
    private const string Version = "v1";

    /// <summary>The persisted text: a version, then the six numbers, separated by spaces.</summary>
    public string ToText() => string.Join(' ', Version,
        Rows.ToString(CultureInfo.InvariantCulture), Checksum.ToString(CultureInfo.InvariantCulture),
        InternalRows.ToString(CultureInfo.InvariantCulture), InternalChecksum.ToString(CultureInfo.InvariantCulture),
        ArchivedRowsHot.ToString(CultureInfo.InvariantCulture), ArchivedInternalRowsHot.ToString(CultureInfo.InvariantCulture));

    /// <summary>Parses <see cref="ToText"/>; throws <see cref="FormatException"/> naming the bad text.</summary>
    public static RestoreBaseline Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(' ');
        const NumberStyles Digits = NumberStyles.None;
        var culture = CultureInfo.InvariantCulture;
        return parts.Length == 7 && parts[0] == Version
            && long.TryParse(parts[1], Digits, culture, out var rows) && ulong.TryParse(parts[2], Digits, culture, out var checksum)
            && long.TryParse(parts[3], Digits, culture, out var internalRows) && ulong.TryParse(parts[4], Digits, culture, out var internalChecksum)
            && long.TryParse(parts[5], Digits, culture, out var archivedHot) && long.TryParse(parts[6], Digits, culture, out var archivedInternalHot)
            ? new RestoreBaseline(rows, checksum, internalRows, internalChecksum, archivedHot, archivedInternalHot)
            : throw new FormatException($"'{text}' is not a restore baseline (expected '{Version}' and six numbers).");
    }
}
