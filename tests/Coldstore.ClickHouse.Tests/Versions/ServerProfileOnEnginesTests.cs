using Coldstore.ClickHouseHttp;
using Coldstore.Ports;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Versions;

/// <summary>
/// The server profile on the real path: what the engine sees of a statement's settings once the adapter has applied
/// the profile, read back with <c>getSetting</c> inside the statement itself.
/// </summary>
public abstract class ServerProfileOnEnginesTests(ClickHouseDatabaseFixture engine)
{
    protected ClickHouseDatabaseFixture Engine { get; } = engine;

    protected static ClickHouseQuery Read(string setting) =>
        new ClickHouseQuery("SELECT toString(getSetting({name:String})) AS value").With("name", "String", setting).For("test: read a setting");

    protected async Task<string> SeenAsync(ClickHouseQuery query) => (await Engine.Client.QueryAsync(query)).Single().GetString("value");

    [Fact]
    public async Task Concurrent_first_statements_of_a_new_client_all_run()
    {
        await using var client = Engine.OpenClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.ScalarAsync(new ClickHouseQuery("SELECT 1 AS one"))));

        Assert.All(answers, answer => Assert.Equal(1L, answer));
    }
}

/// <summary>26.7 (the interface as it is, and chDB): deduplication off means deduplicate_insert off too.</summary>
public abstract class CurrentReleaseProfileTests(ClickHouseDatabaseFixture engine) : ServerProfileOnEnginesTests(engine)
{
    [Fact]
    public async Task Asking_for_no_deduplication_also_disables_deduplicate_insert_and_deduplicate_insert_select()
    {
        Assert.Equal("disable", await SeenAsync(Read("deduplicate_insert").WithSetting("insert_deduplicate", "0")));
        Assert.Equal("disable", await SeenAsync(Read("deduplicate_insert_select").WithSetting("insert_deduplicate", "0")));
        // Without the request the release's default stays.
        Assert.Equal("enable", await SeenAsync(Read("deduplicate_insert")));
    }

    [Fact]
    public async Task The_bounded_parquet_read_sends_the_watermark_and_leaves_the_reader_v3_alone()
    {
        var query = Read("input_format_parquet_memory_high_watermark").WithSetting("input_format_parquet_memory_high_watermark", "268435456");

        Assert.Equal("268435456", await SeenAsync(query));
        Assert.Equal("true", await SeenAsync(Read("input_format_parquet_enable_row_group_prefetch")
            .WithSetting("input_format_parquet_memory_high_watermark", "268435456")));
    }
}

public sealed class CurrentReleaseProfileOnChdb(ChdbDatabaseFixture engine) : CurrentReleaseProfileTests(engine), IClassFixture<ChdbDatabaseFixture>;

public sealed class CurrentReleaseProfileOverHttp(HttpDatabaseFixture engine) : CurrentReleaseProfileTests(engine), IClassFixture<HttpDatabaseFixture>;

/// <summary>24.12 pretended: the Arrow-based reader is bounded by the settings that exist there.</summary>
public sealed class Release24Dot12ProfileOverHttp(Release24Dot12Fixture engine) : ServerProfileOnEnginesTests(engine), IClassFixture<Release24Dot12Fixture>
{
    [Fact]
    public async Task The_bounded_parquet_read_turns_prefetch_off_and_uses_one_parsing_thread_instead_of_the_watermark()
    {
        ClickHouseQuery Bounded(string setting) => Read(setting).WithSetting("input_format_parquet_memory_high_watermark", "268435456");

        Assert.Equal("false", await SeenAsync(Bounded("input_format_parquet_enable_row_group_prefetch")));
        Assert.Equal("1", await SeenAsync(Bounded("max_parsing_threads")));
        Assert.Equal("16777216", await SeenAsync(Bounded("input_format_parquet_prefer_block_bytes")));
    }

    [Fact]
    public async Task The_client_reports_the_pretended_release()
    {
        Assert.Equal("24.12.6.70", await Engine.Client.ScalarAsync(new ClickHouseQuery("SELECT version()")));
    }
}

/// <summary>The interface's text surgery for pretending: version() and system.settings.</summary>
public sealed class PretendedReleaseTextTests
{
    [Theory]
    [InlineData("SELECT version()", "SELECT '24.8.1.1'")]
    [InlineData("SELECT VERSION ( ) AS version", "SELECT '24.8.1.1' AS version")]
    [InlineData("SELECT my_version(), t.version() FROM t", "SELECT my_version(), t.version() FROM t")]
    [InlineData("SELECT version FROM t", "SELECT version FROM t")]
    public void Version_calls_become_the_pretended_release(string sql, string expected) =>
        Assert.Equal(expected, StatementText.RewriteVersion(sql, "24.8.1.1"));

    [Theory]
    [InlineData("SELECT name FROM system.settings", "SELECT name FROM _coldstore_http.settings")]
    [InlineData("SELECT * FROM `system`.`settings` WHERE 1", "SELECT * FROM _coldstore_http.settings WHERE 1")]
    [InlineData("SELECT * FROM system.settings_changes", "SELECT * FROM system.settings_changes")]
    [InlineData("SELECT * FROM system.merge_tree_settings", "SELECT * FROM system.merge_tree_settings")]
    public void System_settings_becomes_the_view_without_hidden_settings(string sql, string expected) =>
        Assert.Equal(expected, StatementText.RewriteSettings(sql));

    [Fact]
    public void The_view_leaves_out_exactly_the_hidden_names()
    {
        Assert.EndsWith("WHERE name NOT IN ('a_b', 'c')", StatementText.CreateSettingsView(["a_b", "c"]), StringComparison.Ordinal);
        Assert.EndsWith("FROM system.settings", StatementText.CreateSettingsView([]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("24.12.6.70", true)]
    [InlineData("24.8", true)]
    [InlineData("24", false)]
    [InlineData("24.8'; DROP", false)]
    public void Only_release_numbers_can_be_pretended(string text, bool accepted) => Assert.Equal(accepted, StatementText.IsVersion(text));

    [Fact]
    public void The_pretended_releases_hide_what_they_lack()
    {
        Assert.Contains("output_format_binary_write_json_as_string", PretendedReleases.SettingsAbsentFrom("24.8.14.39"));
        Assert.DoesNotContain("output_format_binary_write_json_as_string", PretendedReleases.SettingsAbsentFrom("24.12.6.70"));
        Assert.Equal(["deduplicate_insert_select", "deduplicate_insert"], PretendedReleases.SettingsAbsentFrom("25.8.9.20"));
        Assert.All(PretendedReleases.SettingsAbsentFrom("24.3.2.23"), setting => Assert.Contains(setting, ServerProfile.SettingNames));
    }
}
