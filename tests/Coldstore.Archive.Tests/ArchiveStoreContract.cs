using System.Text;
using Coldstore.Ports;

namespace Coldstore.Archive.Tests;

/// <summary>
/// The contract every <see cref="IArchiveStore"/> keeps, run once per adapter against a real store. Each test gets
/// a store with a root of its own, so tests never see each other's objects.
/// </summary>
public abstract partial class ArchiveStoreContract : IAsyncLifetime
{
    private IArchiveStore? _store;

    protected IArchiveStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    /// <summary>Creates a store with an empty root no other test uses.</summary>
    protected abstract IArchiveStore CreateStore();

    public virtual Task InitializeAsync()
    {
        _store = CreateStore();
        return Task.CompletedTask;
    }

    public virtual Task DisposeAsync()
    {
        (_store as IDisposable)?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_written_object_reads_back_byte_for_byte()
    {
        // Seven bytes: the body s3rver corrupted with chunk signatures when the SDK's chunk encoding was on.
        var small = "7 bytes"u8.ToArray();
        var binary = new byte[70_000];
        new Random(42).NextBytes(binary);

        await Store.WriteAsync("ws1/manifest.json", small);
        await Store.WriteAsync("ws1/deep/er/blob.bin", binary);

        Assert.Equal(small, await Store.ReadAsync("ws1/manifest.json"));
        Assert.Equal(binary, await Store.ReadAsync("ws1/deep/er/blob.bin"));
    }

    [Fact]
    public async Task An_empty_object_reads_back_empty_not_missing()
    {
        await Store.WriteAsync("empty", ReadOnlyMemory<byte>.Empty);

        var content = await Store.ReadAsync("empty");

        Assert.NotNull(content);
        Assert.Empty(content);
    }

    [Fact]
    public async Task Writing_again_replaces_the_whole_object()
    {
        await Store.WriteAsync("ws1/manifest.json", Encoding.UTF8.GetBytes("a much longer first version"));
        await Store.WriteAsync("ws1/manifest.json", "v2"u8.ToArray());

        Assert.Equal("v2", Encoding.UTF8.GetString((await Store.ReadAsync("ws1/manifest.json"))!));
        var listed = Assert.Single(await Store.ListAsync(""));
        Assert.Equal(new ArchiveObject("ws1/manifest.json", 2), listed);
    }

    [Fact]
    public async Task Reading_a_missing_object_returns_null()
    {
        await Store.WriteAsync("ws1/present/object", "x"u8.ToArray());

        Assert.Null(await Store.ReadAsync("ws1/absent"));
        Assert.Null(await Store.ReadAsync("nowhere/at/all"));
        // A "folder" is not an object.
        Assert.Null(await Store.ReadAsync("ws1/present"));
    }

    [Fact]
    public async Task Listing_returns_every_object_with_its_size_in_key_order()
    {
        var keys = new[] { "ws1/b.parquet", "ws1/a.parquet", "ws1/month=202401/data.parquet", "ws1/A.parquet", "ws1/.hidden" };
        foreach (var (key, i) in keys.Select((k, i) => (k, i)))
        {
            await Store.WriteAsync(key, new byte[i + 1]);
        }

        var listed = await Store.ListAsync("ws1/");

        Assert.Equal(
            keys.Select((k, i) => new ArchiveObject(k, i + 1)).OrderBy(o => o.Key, StringComparer.Ordinal),
            listed);
    }

    [Fact]
    public async Task Listing_an_unknown_prefix_returns_nothing()
    {
        await Store.WriteAsync("ws1/a", "x"u8.ToArray());

        Assert.Empty(await Store.ListAsync("ws2/"));
        Assert.Empty(await Store.ListAsync("zzz"));
    }

    [Fact]
    public async Task A_folder_prefix_does_not_list_a_sibling_that_starts_alike()
    {
        await Store.WriteAsync("ws1/a.parquet", "1"u8.ToArray());
        await Store.WriteAsync("ws10/a.parquet", "10"u8.ToArray());
        await Store.WriteAsync("ws1-old/a.parquet", "old"u8.ToArray());

        Assert.Equal(["ws1/a.parquet"], (await Store.ListAsync("ws1/")).Select(o => o.Key));
        // A prefix without the slash is a text prefix, as in S3.
        Assert.Equal(["ws1-old/a.parquet", "ws1/a.parquet", "ws10/a.parquet"], (await Store.ListAsync("ws1")).Select(o => o.Key));
        Assert.Equal(3, (await Store.ListAsync("")).Count);
    }

    [Fact]
    public async Task Listing_and_deleting_go_past_one_page_of_a_thousand()
    {
        const int count = 1_005;
        await Parallel.ForEachAsync(
            Enumerable.Range(0, count),
            new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, ct) => await Store.WriteAsync($"many/{i:D5}", new byte[i % 7], ct));
        await Store.WriteAsync("keep/me", "k"u8.ToArray());

        var listed = await Store.ListAsync("many/");

        Assert.Equal(count, listed.Count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => new ArchiveObject($"many/{i:D5}", i % 7)), listed);
        Assert.Equal(count, await Store.DeletePrefixAsync("many/"));
        Assert.Empty(await Store.ListAsync("many/"));
        Assert.Single(await Store.ListAsync(""));
    }

    [Fact]
    public async Task Deleting_a_prefix_removes_only_what_is_under_it_and_is_idempotent()
    {
        await Store.WriteAsync("ws1/a.parquet", "a"u8.ToArray());
        await Store.WriteAsync("ws1/month=202401/b.parquet", "b"u8.ToArray());
        await Store.WriteAsync("ws10/a.parquet", "keep"u8.ToArray());

        Assert.Equal(2, await Store.DeletePrefixAsync("ws1/"));
        Assert.Equal(0, await Store.DeletePrefixAsync("ws1/"));
        Assert.Equal(0, await Store.DeletePrefixAsync("never-written/"));

        Assert.Empty(await Store.ListAsync("ws1/"));
        Assert.Null(await Store.ReadAsync("ws1/a.parquet"));
        Assert.Equal(["ws10/a.parquet"], (await Store.ListAsync("")).Select(o => o.Key));
    }

    [Fact]
    public async Task An_object_can_be_written_again_after_its_prefix_was_deleted()
    {
        await Store.WriteAsync("ws1/x/a", "1"u8.ToArray());
        await Store.DeletePrefixAsync("ws1/");

        await Store.WriteAsync("ws1/x/a", "2"u8.ToArray());

        Assert.Equal("2"u8.ToArray(), await Store.ReadAsync("ws1/x/a"));
    }

    public static TheoryData<string> BadKeys() =>
    [
        "", "/abs", "../escape", "a/../../b", "a/..", "..", ".", "a/./b", "a\\b", "a//b", "a/", "x\u0000y", "x\ny",
        "glob*", "what?", "{a,b}",
    ];

    public static TheoryData<string> BadPrefixes() =>
    [
        "/", "/abs/", "../", "..", "a/../", "a\\b/", "a//", "./",
    ];

    public static TheoryData<string> BadPatterns() =>
    [
        "", "/abs/*.parquet", "../*.parquet", "ws1/../ws2/*.parquet", "ws1\\*.parquet", "ws1//*.parquet", "ws1/",
    ];

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task A_key_that_could_escape_the_root_or_is_malformed_is_refused(string key)
    {
        var read = await Assert.ThrowsAsync<ArgumentException>(() => Store.ReadAsync(key));
        var write = await Assert.ThrowsAsync<ArgumentException>(() => Store.WriteAsync(key, "x"u8.ToArray()));

        Assert.Equal("key", read.ParamName);
        Assert.Equal("key", write.ParamName);
        Assert.Contains("key", read.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BadPrefixes))]
    public async Task A_prefix_that_could_escape_the_root_or_is_malformed_is_refused(string prefix)
    {
        var list = await Assert.ThrowsAsync<ArgumentException>(() => Store.ListAsync(prefix));
        var delete = await Assert.ThrowsAsync<ArgumentException>(() => Store.DeletePrefixAsync(prefix));

        Assert.Equal("prefix", list.ParamName);
        Assert.Equal("prefix", delete.ParamName);
    }

    [Theory]
    [MemberData(nameof(BadPatterns))]
    public void A_key_pattern_that_could_escape_the_root_is_refused(string pattern)
    {
        var e = Assert.Throws<ArgumentException>(() => Store.TableFunction(pattern, "Parquet"));

        Assert.Equal("keyPattern", e.ParamName);
    }

    [Theory]
    [InlineData("Parquet')--", "x")]
    [InlineData("Parquet", "bad-prefix")]
    [InlineData("", "x")]
    [InlineData("Parquet", "1st")]
    public void A_format_or_parameter_prefix_that_is_not_an_identifier_is_refused(string format, string parameterPrefix)
    {
        Assert.Throws<ArgumentException>(() => Store.TableFunction("ws1/*.parquet", format, parameterPrefix));
    }

    [Fact]
    public void The_table_function_keeps_values_out_of_the_sql_and_names_its_parameters_with_the_prefix()
    {
        var expression = Store.TableFunction("ws1/month=202401/{_partition_id}.parquet", "Parquet", "archive");

        Assert.NotEmpty(expression.Parameters);
        Assert.All(expression.Parameters, p => Assert.StartsWith("archive_", p.Name, StringComparison.Ordinal));
        Assert.All(expression.Parameters, p => Assert.Contains($"{{{p.Name}:{p.Type}}}", expression.Sql, StringComparison.Ordinal));
        Assert.All(expression.Parameters, p => Assert.DoesNotContain((string)p.Value, expression.Sql, StringComparison.Ordinal));
        Assert.DoesNotContain("ws1", expression.Sql, StringComparison.Ordinal);
        Assert.Contains("'Parquet'", expression.Sql, StringComparison.Ordinal);
        Assert.Equal("1", Assert.Single(expression.WriteSettings).Value);
        Assert.EndsWith("_truncate_on_insert", Assert.Single(expression.WriteSettings).Key, StringComparison.Ordinal);
    }

    [Fact]
    public void The_description_says_where_the_store_is()
    {
        Assert.False(string.IsNullOrWhiteSpace(Store.Description));
        Assert.Equal(Store.Description, Store.ToString());
    }
}
