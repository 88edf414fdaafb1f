using System.Security.Cryptography;
using System.Text;
using Coldstore.Domain;

namespace Coldstore.Core.Tests;

/// <summary>An erasure's salted hashes and its persisted JSON: what ClickHouse must reproduce and what the ledger keeps.</summary>
public sealed class ErasureRecordTests
{
    /// <summary>Upper-case hex SHA-256 of salt then id in UTF-8, computed here without the code under test.</summary>
    private static string ExpectedHash(string salt, string id)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(salt + id));
        return string.Concat(digest.Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static ErasedArchive Archive(Guid id, ErasedArchiveStep step, long rowsErased = 3) => new(
        id, step, rowsErased, ["month=202401.parquet"], [new ManifestObject("month=202401.e1.parquet", 2_048)], 997, "18446744073709551615", 41);

    [Fact]
    public void A_hash_is_the_known_SHA256_of_salt_then_id()
    {
        // The standard test vector: SHA-256("abc").
        Assert.Equal("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", ErasureIdentities.Hash("a", "bc"));
        Assert.Equal("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", ErasureIdentities.Hash("", "abc"));
    }

    [Theory]
    [InlineData("00112233445566778899AABBCCDDEEFF", "user-42")]
    [InlineData("5A17", "Jürgen Müller ✓")]
    [InlineData("", "")]
    public void A_hash_is_upper_case_hex_of_the_utf8_of_salt_then_id(string salt, string id)
    {
        var hash = ErasureIdentities.Hash(salt, id);

        Assert.Equal(ExpectedHash(salt, id), hash);
        Assert.Matches("^[0-9A-F]{64}$", hash);
    }

    [Fact]
    public void A_hash_depends_on_the_salt_and_on_the_ids_case()
    {
        Assert.NotEqual(ErasureIdentities.Hash("AA", "user"), ErasureIdentities.Hash("BB", "user"));
        Assert.NotEqual(ErasureIdentities.Hash("AA", "user"), ErasureIdentities.Hash("AA", "User"));
        Assert.Throws<ArgumentNullException>(() => ErasureIdentities.Hash(null!, "user"));
        Assert.Throws<ArgumentNullException>(() => ErasureIdentities.Hash("AA", null!));
    }

    [Fact]
    public void Create_hashes_each_distinct_id_once_in_order_under_its_own_salt()
    {
        var identities = ErasureIdentities.Create(["alice", "bob", "alice", "Alice"], ["anon-1", "anon-1", "anon-2"]);

        Assert.Matches("^[0-9A-F]{32}$", identities.Salt);
        Assert.Equal(
            [ExpectedHash(identities.Salt, "alice"), ExpectedHash(identities.Salt, "bob"), ExpectedHash(identities.Salt, "Alice")],
            identities.UserIdHashes);
        Assert.Equal([ExpectedHash(identities.Salt, "anon-1"), ExpectedHash(identities.Salt, "anon-2")], identities.AnonymousIdHashes);
    }

    [Fact]
    public void Create_draws_a_fresh_salt_each_time_so_the_same_id_hashes_differently()
    {
        var salts = Enumerable.Range(0, 20).Select(_ => ErasureIdentities.Create(["alice"], []).Salt).ToList();
        var one = ErasureIdentities.Create(["alice"], []);
        var two = ErasureIdentities.Create(["alice"], []);

        Assert.Equal(salts.Count, salts.Distinct(StringComparer.Ordinal).Count());
        Assert.All(salts, s => Assert.Equal(32, s.Length));
        Assert.NotEqual(one.UserIdHashes[0], two.UserIdHashes[0]);
    }

    [Fact]
    public void Create_with_no_ids_has_empty_lists_and_refuses_null()
    {
        var none = ErasureIdentities.Create([], []);

        Assert.Empty(none.UserIdHashes);
        Assert.Empty(none.AnonymousIdHashes);
        Assert.False(none.Names("alice"));
        Assert.Throws<ArgumentNullException>(() => ErasureIdentities.Create(null!, []));
        Assert.Throws<ArgumentNullException>(() => ErasureIdentities.Create([], null!));
    }

    [Fact]
    public void Names_is_true_exactly_for_the_users_and_anonymous_ids_it_was_made_from()
    {
        var identities = ErasureIdentities.Create(["alice", "bob"], ["anon-1"]);

        Assert.True(identities.Names("alice"));
        Assert.True(identities.Names("bob"));
        Assert.True(identities.Names("anon-1"));
        Assert.False(identities.Names("carol"));
        Assert.False(identities.Names("Alice"));
        Assert.False(identities.Names("alice "));
        Assert.False(identities.Names(identities.UserIdHashes[0])); // A hash is not an id.
        Assert.False(identities.Names(""));
    }

    [Fact]
    public void Identities_round_trip_through_json_and_hold_no_id_in_clear_text()
    {
        var identities = ErasureIdentities.Create(["user-zeta@example.com", "bob"], ["anon-qwxyz"]);

        var json = identities.ToJson();
        var parsed = ErasureIdentities.Parse(json);

        Assert.Equal(identities.Salt, parsed.Salt);
        Assert.Equal(identities.UserIdHashes, parsed.UserIdHashes);
        Assert.Equal(identities.AnonymousIdHashes, parsed.AnonymousIdHashes);
        Assert.Equal(json, parsed.ToJson());
        Assert.True(parsed.Names("bob"));
        Assert.StartsWith($$"""{"salt":"{{identities.Salt}}","userIdHashes":["{{identities.UserIdHashes[0]}}",""", json, StringComparison.Ordinal);
        Assert.DoesNotContain("zeta", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("bob", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("qwxyz", json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Progress_round_trips_through_json_with_enums_as_text_and_a_checksum_above_the_signed_limit()
    {
        var first = Archive(Guid.NewGuid(), ErasedArchiveStep.Swapped);
        var second = Archive(Guid.NewGuid(), ErasedArchiveStep.Done, rowsErased: 5) with { NewObjects = [], Checksum = "9223372036854775808" };
        var progress = new ErasureProgress(true, [first, second]);

        var json = progress.ToJson();
        var parsed = ErasureProgress.Parse(json);

        Assert.Contains("\"step\":\"Swapped\"", json, StringComparison.Ordinal);
        Assert.Contains("\"step\":\"Done\"", json, StringComparison.Ordinal);
        Assert.Contains("\"checksum\":\"18446744073709551615\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("checksumValue", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("archivedRowsErased", json, StringComparison.OrdinalIgnoreCase);
        Assert.True(parsed.HotRowsDeleted);
        Assert.Equal([first.ArchiveId, second.ArchiveId], parsed.Archives.Select(a => a.ArchiveId));
        Assert.Equal(first with { ReplacedKeys = parsed.Archives[0].ReplacedKeys, NewObjects = parsed.Archives[0].NewObjects }, parsed.Archives[0]);
        Assert.Equal(first.ReplacedKeys, parsed.Archives[0].ReplacedKeys);
        Assert.Equal(first.NewObjects, parsed.Archives[0].NewObjects);
        Assert.Empty(parsed.Archives[1].NewObjects);
        Assert.Equal(ulong.MaxValue, parsed.Archives[0].ChecksumValue);
        Assert.Equal(9_223_372_036_854_775_808UL, parsed.Archives[1].ChecksumValue);
        Assert.Equal(8, parsed.ArchivedRowsErased);
        Assert.Equal(json, parsed.ToJson());
    }

    [Fact]
    public void No_progress_is_nothing_done_and_round_trips()
    {
        var parsed = ErasureProgress.Parse(ErasureProgress.None.ToJson());

        Assert.False(parsed.HotRowsDeleted);
        Assert.Empty(parsed.Archives);
        Assert.Equal(0, parsed.ArchivedRowsErased);
        Assert.Null(parsed.Of(Guid.NewGuid()));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("""{"salt":"AA","userIdHashes":["X"]""")]
    [InlineData("""{"userIdHashes":[],"anonymousIdHashes":[]}""")]
    public void Parsing_bad_identities_is_a_format_error(string json)
    {
        var e = Assert.Throws<FormatException>(() => ErasureIdentities.Parse(json));

        Assert.Contains("ErasureIdentities", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("null")]
    [InlineData("""{"hotRowsDeleted":"yes","archives":[]}""")]
    [InlineData("""{"hotRowsDeleted":true}""")]
    [InlineData("""{"hotRowsDeleted":true,"archives":[{"archiveId":"6f1c1d6e-2f0a-4d8e-9f3a-1b2c3d4e5f60","step":"Rewinding","rowsErased":1,"replacedKeys":[],"newObjects":[],"rows":0,"checksum":"0","internalEventRows":0}]}""")]
    public void Parsing_bad_progress_is_a_format_error(string json)
    {
        var e = Assert.Throws<FormatException>(() => ErasureProgress.Parse(json));

        Assert.Contains("ErasureProgress", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_adds_a_new_archive_and_replaces_the_record_of_one_already_there()
    {
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();
        var started = ErasureProgress.None.With(Archive(a, ErasedArchiveStep.Writing)).With(Archive(b, ErasedArchiveStep.Writing, rowsErased: 4));

        var written = Archive(a, ErasedArchiveStep.Written, rowsErased: 6);
        var updated = started.With(written);

        Assert.Equal(2, started.Archives.Count);
        Assert.Equal([a, b], started.Archives.Select(r => r.ArchiveId));
        Assert.Equal(2, updated.Archives.Count);
        Assert.Single(updated.Archives, r => r.ArchiveId == a);
        Assert.Same(written, updated.Of(a));
        Assert.Equal(ErasedArchiveStep.Writing, updated.Of(b)!.Step);
        Assert.Equal(10, updated.ArchivedRowsErased);
        Assert.Equal(ErasedArchiveStep.Writing, started.Of(a)!.Step); // The original is unchanged.
        Assert.Equal(7, started.ArchivedRowsErased);
        Assert.Throws<ArgumentNullException>(() => started.With(null!));
    }

    [Theory]
    [InlineData(ErasureState.Pending, "pending")]
    [InlineData(ErasureState.Applied, "applied")]
    public void Erasure_states_persist_as_lower_case_text_and_parse_back(ErasureState state, string text)
    {
        Assert.Equal(text, state.ToText());
        Assert.Equal(state, ErasureStateText.Parse(text));
    }

    [Fact]
    public void An_unknown_erasure_state_is_refused_both_ways()
    {
        Assert.Contains("'Applied'", Assert.Throws<FormatException>(() => ErasureStateText.Parse("Applied")).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => ((ErasureState)7).ToText());
    }
}
