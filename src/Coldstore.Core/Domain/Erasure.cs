using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coldstore.Domain;

/// <summary>Where an erasure stands.</summary>
public enum ErasureState
{
    /// <summary>Recorded, not yet (fully) applied: the next operation holding the workspace's lease applies it.</summary>
    Pending,

    /// <summary>The users' rows are gone from the hot tables and from every archive of the workspace.</summary>
    Applied,
}

/// <summary>Text forms of <see cref="ErasureState"/> as persisted by every state store.</summary>
public static class ErasureStateText
{
    /// <summary>The persisted text: <c>pending</c> or <c>applied</c>.</summary>
    public static string ToText(this ErasureState state) => state switch
    {
        ErasureState.Pending => "pending",
        ErasureState.Applied => "applied",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown erasure state."),
    };

    /// <summary>Parses a persisted erasure state; throws <see cref="FormatException"/> naming the bad value.</summary>
    public static ErasureState Parse(string text) => text switch
    {
        "pending" => ErasureState.Pending,
        "applied" => ErasureState.Applied,
        _ => throw new FormatException($"Unknown erasure state '{text}'; expected pending or applied."),
    };
}

/// <summary>
/// Whom an erasure removes, as salted SHA-256 hashes: the ledger never holds the ids in clear text. ClickHouse
/// matches rows by computing the same hash (<c>hex(SHA256(concat(salt, user_id)))</c>), so applying an erasure later,
/// from another process, needs nothing but this record; and whoever holds an id can still prove it was erased.
/// </summary>
/// <param name="Salt">Random per erasure, so the hashes of one erasure cannot be looked up in a table made for another.</param>
/// <param name="UserIdHashes">Upper-case hex SHA-256 of salt + <c>user_id</c>, one per user.</param>
/// <param name="AnonymousIdHashes">The same for <c>anonymous_id</c> values.</param>
public sealed record ErasureIdentities(string Salt, IReadOnlyList<string> UserIdHashes, IReadOnlyList<string> AnonymousIdHashes)
{
    /// <summary>Hashes the given ids under a fresh random salt.</summary>
    public static ErasureIdentities Create(IEnumerable<string> userIds, IEnumerable<string> anonymousIds)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        ArgumentNullException.ThrowIfNull(anonymousIds);
        var salt = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        return new ErasureIdentities(salt, [.. userIds.Select(id => Hash(salt, id)).Distinct(StringComparer.Ordinal)],
            [.. anonymousIds.Select(id => Hash(salt, id)).Distinct(StringComparer.Ordinal)]);
    }

    /// <summary>The hash an id has under <paramref name="salt"/>: upper-case hex SHA-256 of the UTF-8 of salt then id.</summary>
    public static string Hash(string salt, string id)
    {
        ArgumentNullException.ThrowIfNull(salt);
        ArgumentNullException.ThrowIfNull(id);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(salt + id)));
    }

    /// <summary>True when <paramref name="id"/> is one of this erasure's users or anonymous ids.</summary>
    public bool Names(string id)
    {
        var hash = Hash(Salt, id);
        return UserIdHashes.Contains(hash, StringComparer.Ordinal) || AnonymousIdHashes.Contains(hash, StringComparer.Ordinal);
    }

    /// <summary>The persisted JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ErasureJsonContext.Default.ErasureIdentities);

    /// <summary>Parses <see cref="ToJson"/>; throws <see cref="FormatException"/>.</summary>
    public static ErasureIdentities Parse(string json) => ErasureJson.Parse(json, ErasureJsonContext.Default.ErasureIdentities);
}

/// <summary>How far an erasure has got with one archive. Each step is recorded before the next begins.</summary>
public enum ErasedArchiveStep
{
    /// <summary>The replacement objects are being written (what is under their keys is not trusted).</summary>
    Writing,

    /// <summary>The replacement objects are written and verified; the new manifest and ledger values are recorded here.</summary>
    Written,

    /// <summary>The new manifest and the ledger describe the archive without the erased rows; the old objects are next.</summary>
    Swapped,

    /// <summary>The objects the erasure replaced are deleted.</summary>
    Done,
}

/// <summary>
/// An erasure's record of one archive it rewrote: the objects it replaced, the ones it wrote in their place, and the
/// archive's count, checksum and internal events once those rows are gone: the values the new manifest and ledger
/// row carry, recorded before either is written, so a crash between the two is finished from here.
/// </summary>
/// <param name="ArchiveId">The archive.</param>
/// <param name="Step">How far the erasure has got with it.</param>
/// <param name="RowsErased">How many of its rows the erasure removes.</param>
/// <param name="ReplacedKeys">Keys (relative to the archive's prefix) of the objects that held erased rows.</param>
/// <param name="NewObjects">The objects written in their place (none for an object that held only erased rows).</param>
/// <param name="Rows">The archive's row count after the erasure.</param>
/// <param name="Checksum">Its checksum after the erasure (decimal text).</param>
/// <param name="InternalEventRows">The internal events its rows derive after the erasure.</param>
public sealed record ErasedArchive(
    Guid ArchiveId, ErasedArchiveStep Step, long RowsErased, IReadOnlyList<string> ReplacedKeys, IReadOnlyList<ManifestObject> NewObjects,
    long Rows, string Checksum, long InternalEventRows)
{
    /// <summary>The checksum as a number.</summary>
    [JsonIgnore]
    public ulong ChecksumValue => ulong.Parse(Checksum, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>What an erasure has done so far.</summary>
/// <param name="HotRowsDeleted">True once its deletes of the hot tables have applied.</param>
/// <param name="Archives">The archives it rewrote (or is rewriting), in the order it took them.</param>
public sealed record ErasureProgress(bool HotRowsDeleted, IReadOnlyList<ErasedArchive> Archives)
{
    /// <summary>Nothing done yet.</summary>
    public static ErasureProgress None { get; } = new(false, []);

    /// <summary>Rows removed from archives.</summary>
    [JsonIgnore]
    public long ArchivedRowsErased => Archives.Sum(a => a.RowsErased);

    /// <summary>The record of one archive, if the erasure has begun on it.</summary>
    public ErasedArchive? Of(Guid archiveId) => Archives.FirstOrDefault(a => a.ArchiveId == archiveId);

    /// <summary>This progress with <paramref name="archive"/>'s record added or replaced.</summary>
    public ErasureProgress With(ErasedArchive archive)
    {
        ArgumentNullException.ThrowIfNull(archive);
        // A record replaced keeps its place: the list stays in the order the erasure took the archives.
        return this with
        {
            Archives = Archives.Any(a => a.ArchiveId == archive.ArchiveId)
                ? [.. Archives.Select(a => a.ArchiveId == archive.ArchiveId ? archive : a)]
                : [.. Archives, archive],
        };
    }

    /// <summary>The persisted JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ErasureJsonContext.Default.ErasureProgress);

    /// <summary>Parses <see cref="ToJson"/>; throws <see cref="FormatException"/>.</summary>
    public static ErasureProgress Parse(string json) => ErasureJson.Parse(json, ErasureJsonContext.Default.ErasureProgress);
}

/// <summary>
/// One request to erase users from a workspace's cold (and hot) data, as the ledger keeps it: who asked and when, the
/// salted hashes of the ids (never the ids), and what has been done.
/// </summary>
/// <param name="ErasureId">The erasure's id.</param>
/// <param name="WorkspaceId">The workspace.</param>
/// <param name="RequestedBy">Who asked for it (as given; an operator's name or a ticket).</param>
/// <param name="RequestedAt">When it was recorded (UTC, the state store's clock).</param>
/// <param name="Identities">Whom it erases, hashed.</param>
/// <param name="State">Pending or applied.</param>
/// <param name="Progress">What has been done.</param>
/// <param name="UpdatedAt">Its last change (UTC).</param>
/// <param name="AppliedAt">When it was applied, if it was.</param>
/// <param name="LastError">Why its last attempt stopped, if it did.</param>
public sealed record ErasureRecord(
    Guid ErasureId, Guid WorkspaceId, string RequestedBy, DateTime RequestedAt, ErasureIdentities Identities,
    ErasureState State, ErasureProgress Progress, DateTime UpdatedAt, DateTime? AppliedAt, string? LastError);

internal static class ErasureJson
{
    public static T Parse<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new FormatException($"The erasure's {typeof(T).Name} is empty.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"The erasure's {typeof(T).Name} is not valid JSON: {e.Message}", e);
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ErasureIdentities))]
[JsonSerializable(typeof(ErasureProgress))]
internal sealed partial class ErasureJsonContext : JsonSerializerContext;
