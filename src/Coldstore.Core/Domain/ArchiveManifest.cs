using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coldstore.Domain;

/// <summary>One data object of an archive, relative to the archive's prefix.</summary>
/// <param name="Key">The key relative to the archive prefix, e.g. <c>month=202401.parquet</c>.</param>
/// <param name="Size">Its size in bytes when the archive was verified.</param>
public sealed record ManifestObject(string Key, long Size);

/// <summary>
/// The small JSON document written beside an archive's data. It makes the archive self-describing: with only
/// the store, one can tell what the archive holds and check it has not been truncated or altered.
/// </summary>
public sealed record ArchiveManifest
{
    /// <summary>The newest format version; readers refuse newer ones. Version 2 adds <see cref="Chunk"/>.</summary>
    public const int CurrentFormatVersion = 2;

    /// <summary>The version a manifest is written with: 1 unless it describes a chunk, so older readers still read every other archive.</summary>
    public static int FormatVersionFor(ArchiveChunk? chunk) => chunk is null ? 1 : 2;

    /// <summary>The object name of the manifest inside an archive's prefix.</summary>
    public const string FileName = "manifest.json";

    /// <summary>The manifest format version.</summary>
    public required int FormatVersion { get; init; }

    /// <summary>The workspace whose events the archive holds.</summary>
    public required Guid WorkspaceId { get; init; }

    /// <summary>The archive's id.</summary>
    public required Guid ArchiveId { get; init; }

    /// <summary>Rows with <c>processing_time</c> at or before this instant (UTC) were archived.</summary>
    public required DateTime Cutoff { get; init; }

    /// <summary>The source table, e.g. <c>default.user_events_v2</c>.</summary>
    public required string SourceTable { get; init; }

    /// <summary>The columns stored, in order.</summary>
    public required IReadOnlyList<string> Columns { get; init; }

    /// <summary>The file format of the data objects.</summary>
    public required string Format { get; init; }

    /// <summary>The data objects, relative to the archive prefix, ordered by key.</summary>
    public required IReadOnlyList<ManifestObject> Objects { get; init; }

    /// <summary>Rows in the archive.</summary>
    public required long RowCount { get; init; }

    /// <summary>Sum of the row hashes (as decimal text: JSON numbers cannot hold every 64-bit value exactly).</summary>
    public required string Checksum { get; init; }

    /// <summary>The expression whose sum is <see cref="Checksum"/>.</summary>
    public required string ChecksumExpression { get; init; }

    /// <summary>How many <c>internal_events</c> rows the archived rows regenerate on restore.</summary>
    public required long InternalEventRows { get; init; }

    /// <summary>When the manifest was written (UTC).</summary>
    public required DateTime CreatedAt { get; init; }

    /// <summary>For a chunk of a large workspace's archive, the rows up to the cutoff it holds (format version 2); else absent.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArchiveChunk? Chunk { get; init; }

    /// <summary>The erasures that removed rows from this archive since it was made, oldest first; absent when none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<Guid>? Erasures { get; init; }

    /// <summary>The checksum as a number.</summary>
    [JsonIgnore]
    public ulong ChecksumValue => ulong.Parse(Checksum, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>Total bytes of the data objects.</summary>
    [JsonIgnore]
    public long Bytes => Objects.Sum(o => o.Size);

    /// <summary>Serializes the manifest as indented UTF-8 JSON.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, ManifestJsonContext.Default.ArchiveManifest);

    /// <summary>Parses a manifest; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static ArchiveManifest Parse(ReadOnlySpan<byte> json)
    {
        ArchiveManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, ManifestJsonContext.Default.ArchiveManifest);
        }
        catch (JsonException e)
        {
            throw new FormatException($"The manifest is not valid JSON: {e.Message}", e);
        }

        if (manifest is null)
        {
            throw new FormatException("The manifest is empty.");
        }

        if (manifest.FormatVersion is < 1 or > CurrentFormatVersion)
        {
            throw new FormatException($"The manifest has format version {manifest.FormatVersion}; this Coldstore reads versions 1 to {CurrentFormatVersion}.");
        }

        if (manifest.Chunk is not null && manifest.FormatVersion < 2)
        {
            throw new FormatException($"The manifest describes a chunk but has format version {manifest.FormatVersion}; chunks need version 2.");
        }

        if (!ulong.TryParse(manifest.Checksum, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            throw new FormatException($"The manifest's checksum '{manifest.Checksum}' is not an unsigned 64-bit number.");
        }

        return manifest;
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ArchiveManifest))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
