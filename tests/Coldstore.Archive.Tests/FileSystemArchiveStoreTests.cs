using Coldstore.Archive.FileSystem;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Archive.Tests;

/// <summary>The archive-store contract on a local directory, plus what only the local store does.</summary>
public sealed class FileSystemArchiveStoreTests : ArchiveStoreContract
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coldstore-archive-{Guid.NewGuid():N}");

    private FileSystemArchiveStore Local => (FileSystemArchiveStore)Store;

    protected override IArchiveStore CreateStore() => FileSystemArchiveStore.Open(_root);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void Opening_creates_the_root_and_describes_it()
    {
        Assert.True(Directory.Exists(_root));
        Assert.Equal(_root, Local.RootDirectory);
        Assert.Equal($"directory {_root}", Store.Description);
    }

    [Fact]
    public void The_table_function_is_file_with_the_absolute_path_as_a_parameter()
    {
        var expression = Store.TableFunction("ws1/*.parquet", "Parquet", "p");

        Assert.Equal("file({p_path:String}, 'Parquet')", expression.Sql);
        var path = Assert.Single(expression.Parameters);
        Assert.Equal(new ClickHouseParameter("p_path", "String", $"{_root}/ws1/*.parquet"), path);
        Assert.Equal(new Dictionary<string, string> { ["engine_file_truncate_on_insert"] = "1" }, expression.WriteSettings);
    }

    [Fact]
    public async Task Writing_leaves_no_temporary_file_behind()
    {
        await Store.WriteAsync("ws1/manifest.json", "{}"u8.ToArray());
        await Store.WriteAsync("ws1/manifest.json", "{ }"u8.ToArray());

        Assert.Equal(
            [Path.Combine(_root, "ws1", "manifest.json")],
            Directory.GetFiles(_root, "*", SearchOption.AllDirectories));
    }

    // Real S3 makes one PUT visible atomically; s3rver writes in place, so this runs on the local store only.
    [Fact]
    public async Task Concurrent_writes_of_one_key_leave_one_whole_version()
    {
        var versions = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)('a' + i), 10_000 + i).ToArray()).ToArray();

        await Task.WhenAll(versions.Select(v => Store.WriteAsync("race/object", v)));

        var content = await Store.ReadAsync("race/object");
        Assert.Contains(versions, v => v.AsSpan().SequenceEqual(content));
        Assert.Equal(["race/object"], (await Store.ListAsync("")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_write_in_progress_is_not_listed()
    {
        Directory.CreateDirectory(Path.Combine(_root, "ws1"));
        await File.WriteAllTextAsync(Path.Combine(_root, "ws1", ".manifest.json.0123.coldstore-tmp"), "half");

        Assert.Empty(await Store.ListAsync(""));
    }

    [Fact]
    public async Task Deleting_a_prefix_removes_the_folders_it_emptied_but_not_the_root()
    {
        await Store.WriteAsync("ws1/month=202401/a.parquet", "a"u8.ToArray());
        await Store.WriteAsync("ws1/month=202402/b.parquet", "b"u8.ToArray());
        await Store.WriteAsync("ws2/c.parquet", "c"u8.ToArray());

        await Store.DeletePrefixAsync("ws1/");

        Assert.False(Directory.Exists(Path.Combine(_root, "ws1")));
        Assert.True(File.Exists(Path.Combine(_root, "ws2", "c.parquet")));
        await Store.DeletePrefixAsync("");
        Assert.True(Directory.Exists(_root));
        Assert.Empty(Directory.GetFileSystemEntries(_root));
    }

    [Theory]
    [InlineData("/tmp/arch*ive")]
    [InlineData("/tmp/{a,b}")]
    [InlineData("/tmp/what?")]
    public void A_root_with_characters_file_reads_as_globs_is_refused(string root)
    {
        var e = Assert.Throws<ArgumentException>(() => FileSystemArchiveStore.Open(root));

        Assert.Contains(root, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(root));
    }

    [Theory]
    [InlineData("file:/var/lib/coldstore", "/var/lib/coldstore")]
    [InlineData("file:///var/lib/coldstore/", "/var/lib/coldstore")]
    [InlineData("FILE:/data", "/data")]
    public void The_archive_setting_parses_a_local_directory(string value, string expected)
    {
        Assert.Equal(expected, FileSystemArchiveStore.ParseArchiveSetting(value));
    }

    [Fact]
    public void A_relative_directory_in_the_archive_setting_resolves_against_the_current_directory()
    {
        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "archive"), FileSystemArchiveStore.ParseArchiveSetting("file:archive"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/var/lib/coldstore")]
    [InlineData("s3://bucket/prefix")]
    [InlineData("file:")]
    [InlineData("file://server/share")]
    [InlineData("file:/data?x=1")]
    public void A_malformed_archive_setting_names_the_setting_and_the_accepted_forms(string value)
    {
        var e = Assert.Throws<ConfigurationException>(() => FileSystemArchiveStore.ParseArchiveSetting(value));

        Assert.Equal("COLDSTORE_ARCHIVE", e.Setting);
        Assert.Contains($"'{value}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("file:/absolute/dir", e.Message, StringComparison.Ordinal);
        Assert.Contains("s3://bucket/prefix", e.Message, StringComparison.Ordinal);
    }
}
