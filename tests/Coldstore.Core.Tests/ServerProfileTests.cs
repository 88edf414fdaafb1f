using System.Collections.Immutable;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Core.Tests;

/// <summary>
/// The version-to-settings mapping, release by release. Each release's settings are stated here from ClickHouse's
/// src/Core/SettingsChangesHistory.cpp (the release that added each one), independently of the code under test,
/// and each test asserts exactly what the statements send there.
/// </summary>
public sealed class ServerProfileTests
{
    private static readonly EventTables Tables = new("dittofeed");
    private static readonly Guid Workspace = Guid.Parse("11111111-2222-4333-8444-555555555555");
    private static readonly Guid ArchiveId = Guid.Parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    private static readonly DateTime Cutoff = new(2024, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    private static readonly TableFunctionExpression S3Store = new(
        "s3({archive_url:String}, 'Parquet')",
        [new("archive_url", "String", "http://s3/bucket/x")],
        new Dictionary<string, string> { ["s3_truncate_on_insert"] = "1" });

    /// <summary>Where each setting Coldstore may send first appeared, per SettingsChangesHistory.cpp (null: before 24.8).</summary>
    private static readonly Dictionary<string, ServerVersion?> FirstRelease = new(StringComparer.Ordinal)
    {
        ["session_timezone"] = null,
        ["s3_connect_timeout_ms"] = null,
        ["s3_request_timeout_ms"] = null,
        ["s3_retry_attempts"] = null,
        ["s3_max_single_read_retries"] = null,
        ["s3_max_unexpected_write_error_retries"] = null,
        ["async_insert"] = null, // its default became 1 in 26.2
        ["insert_deduplicate"] = null,
        ["mutations_sync"] = null,
        ["lightweight_deletes_sync"] = new ServerVersion(24, 4),
        ["max_execution_time"] = null,
        ["s3_truncate_on_insert"] = null,
        ["engine_file_truncate_on_insert"] = null,
        ["output_format_parquet_compression_method"] = null,
        ["output_format_parquet_row_group_size"] = null,
        ["output_format_parquet_row_group_size_bytes"] = null,
        ["output_format_parquet_write_bloom_filter"] = new ServerVersion(25, 2),
        ["output_format_parquet_write_page_index"] = new ServerVersion(24, 7),
        ["s3_min_upload_part_size"] = null,
        ["s3_max_single_part_upload_size"] = null,
        ["s3_max_inflight_parts_for_one_file"] = null,
        ["use_hive_partitioning"] = new ServerVersion(24, 8),
        ["max_threads"] = null,
        ["min_insert_block_size_rows"] = null,
        ["max_insert_block_size"] = null,
        ["min_insert_block_size_bytes"] = null,
        ["max_block_size"] = null,
        ["min_insert_block_size_rows_for_materialized_views"] = null,
        ["min_insert_block_size_bytes_for_materialized_views"] = null,
        ["storage_file_read_method"] = null,
        ["enable_global_with_statement"] = null,
        ["input_format_parquet_memory_high_watermark"] = new ServerVersion(25, 8),
        ["deduplicate_insert"] = new ServerVersion(26, 2),
        ["deduplicate_insert_select"] = new ServerVersion(25, 12),
        ["deduplicate_blocks_in_dependent_materialized_views"] = null, // its default became 1 in 26.2
        ["max_parsing_threads"] = new ServerVersion(24, 4),
        ["input_format_parquet_enable_row_group_prefetch"] = new ServerVersion(24, 10),
        ["input_format_parquet_max_block_size"] = null, // its default became 65409 in 24.6
        ["input_format_parquet_prefer_block_bytes"] = new ServerVersion(24, 6),
        ["output_format_binary_write_json_as_string"] = new ServerVersion(24, 10),
        ["input_format_binary_read_json_as_string"] = new ServerVersion(24, 10),
    };

    /// <summary>The restore insert's settings as ArchiveSql asks for them; every release sends at least the part it has.</summary>
    private static readonly Dictionary<string, string> RestoreAsked = new(StringComparer.Ordinal)
    {
        ["session_timezone"] = "UTC",
        ["async_insert"] = "0",
        ["insert_deduplicate"] = "0",
        ["use_hive_partitioning"] = "0",
        ["max_threads"] = "1",
        ["max_block_size"] = "32768",
        ["input_format_parquet_max_block_size"] = "32768",
        ["min_insert_block_size_rows"] = "65536",
        ["max_insert_block_size"] = "65536",
        ["min_insert_block_size_bytes"] = "33554432",
        ["min_insert_block_size_rows_for_materialized_views"] = "16384",
        ["min_insert_block_size_bytes_for_materialized_views"] = "16777216",
        ["input_format_parquet_memory_high_watermark"] = "67108864",
        ["max_execution_time"] = "600",
    };

    private static readonly Dictionary<string, string> ArrowReaderBounds = new(StringComparer.Ordinal)
    {
        ["max_parsing_threads"] = "1",
        ["input_format_parquet_max_block_size"] = "32768", // the restore's own, smaller than the 65,409 the bound adds
        ["input_format_parquet_prefer_block_bytes"] = "16777216",
    };

    private static readonly Dictionary<string, string> ExportAsked = new(StringComparer.Ordinal)
    {
        ["output_format_parquet_compression_method"] = "zstd",
        ["output_format_parquet_row_group_size"] = "100000",
        ["output_format_parquet_row_group_size_bytes"] = "33554432",
        ["output_format_parquet_write_bloom_filter"] = "0",
        ["output_format_parquet_write_page_index"] = "0",
        ["s3_min_upload_part_size"] = "8388608",
        ["s3_max_single_part_upload_size"] = "8388608",
        ["s3_max_inflight_parts_for_one_file"] = "2",
        ["s3_truncate_on_insert"] = "1",
        ["max_execution_time"] = "600",
    };

    /// <summary>A server of <paramref name="release"/> with exactly the settings that release has.</summary>
    private static ServerProfile Server(string release)
    {
        Assert.True(ServerVersion.TryParse(release, out var version));
        return ServerProfile.Create(release, FirstRelease.Where(s => s.Value is not { } first || first <= version).Select(s => s.Key));
    }

    private static ImmutableDictionary<string, string> Sent(ServerProfile server, ClickHouseQuery query) => server.Apply(query).Settings;

    private static ClickHouseQuery Restore() => ArchiveSql.RestoreInsert(Tables, Workspace, Cutoff, S3Store, Timeout);

    private static ClickHouseQuery Export() => ArchiveSql.CopyToArchive(Tables, Workspace, Cutoff, S3Store, Timeout);

    private static Dictionary<string, string> With(Dictionary<string, string> baseline, IEnumerable<KeyValuePair<string, string>>? add = null, params string[] without)
    {
        var result = new Dictionary<string, string>(baseline, StringComparer.Ordinal);
        foreach (var (name, value) in add ?? [])
        {
            result[name] = value;
        }

        foreach (var name in without)
        {
            result.Remove(name);
        }

        return result;
    }

    private static void AssertExactly(IReadOnlyDictionary<string, string> expected, ImmutableDictionary<string, string> actual) =>
        Assert.Equal(expected.OrderBy(s => s.Key, StringComparer.Ordinal), actual.OrderBy(s => s.Key, StringComparer.Ordinal));

    [Fact]
    public void The_test_tables_agree_with_what_coldstore_asks_for()
    {
        // Guards the tables above: a setting a builder sends that the profile does not know would bypass the mapping.
        Assert.Equal(RestoreAsked.OrderBy(s => s.Key), Restore().Settings.OrderBy(s => s.Key));
        Assert.Equal(ExportAsked.OrderBy(s => s.Key), Export().Settings.OrderBy(s => s.Key));
        Assert.Equal(FirstRelease.Keys.Order(StringComparer.Ordinal), ServerProfile.SettingNames);
    }

    [Fact]
    public void Every_setting_a_statement_builder_sends_is_one_the_profile_knows()
    {
        ClickHouseQuery[] statements =
        [
            Export(), Restore(),
            ArchiveSql.ArchiveSummary(S3Store, Workspace, Timeout),
            ArchiveSql.HotSummary(Tables, Workspace, Cutoff),
            ArchiveSql.InternalSummary(Tables, Workspace, Cutoff),
            EventSql.IngestInsert(Tables),
            .. Enum.GetValues<HotTable>().SelectMany(table => new[]
            {
                BoundedDeleteSql.DeleteInParts(Tables, table, Workspace, Cutoff, ["all_1_1_0"], synchronous: false),
                BoundedDeleteSql.DeleteInParts(Tables, table, Workspace, Cutoff, ["all_1_1_0"], synchronous: true),
                BoundedDeleteSql.DeleteInPartByHash(Tables, table, Workspace, Cutoff, "all_1_1_0", [1UL], keep: false),
                BoundedDeleteSql.ArchivedRowsByPart(Tables, table, Workspace, Cutoff, S3Store, Timeout),
                BoundedDeleteSql.HashesInPart(Tables, table, Workspace, Cutoff, "all_1_1_0", S3Store, archived: true, 10, Timeout),
                BoundedDeleteSql.ArchivedRowsHot(Tables, table, Workspace, Cutoff, S3Store, Timeout),
            }),
        ];

        var unknown = statements.SelectMany(s => s.Settings.Keys).Concat(["engine_file_truncate_on_insert"])
            .Where(name => !ServerProfile.SettingNames.Contains(name)).Distinct().ToArray();
        Assert.Empty(unknown);
    }

    [Fact]
    public void On_24_8_the_restore_bounds_the_arrow_reader_itself_and_turns_deduplication_off_with_what_exists()
    {
        // 24.8 LTS: no memory watermark (25.8), no row-group prefetch switch (24.10), no deduplicate_insert(_select).
        var server = Server("24.8.14.39");

        AssertExactly(
            With(RestoreAsked, [.. ArrowReaderBounds, new("deduplicate_blocks_in_dependent_materialized_views", "0")],
                "input_format_parquet_memory_high_watermark"),
            Sent(server, Restore()));
        Assert.Null(server.Problem("server"));
        Assert.False(server.AcceptsDriverJsonSettings);
    }

    [Fact]
    public void On_24_8_and_24_12_the_export_leaves_out_the_bloom_filter_switch_they_do_not_have()
    {
        foreach (var release in new[] { "24.8.14.39", "24.12.6.70" })
        {
            AssertExactly(With(ExportAsked, without: "output_format_parquet_write_bloom_filter"), Sent(Server(release), Export()));
        }
    }

    [Fact]
    public void On_24_12_the_restore_also_turns_the_row_group_prefetch_off_and_the_driver_may_send_its_json_settings()
    {
        // Dittofeed's pinned release: prefetch (24.10, on by default) exists, the watermark does not.
        var server = Server("24.12.6.70");

        AssertExactly(
            With(RestoreAsked,
                [.. ArrowReaderBounds, new("input_format_parquet_enable_row_group_prefetch", "0"),
                    new("deduplicate_blocks_in_dependent_materialized_views", "0")],
                "input_format_parquet_memory_high_watermark"),
            Sent(server, Restore()));
        Assert.True(server.AcceptsDriverJsonSettings);
        Assert.Null(server.Problem("server"));
    }

    [Fact]
    public void On_25_8_the_watermark_exists_but_reader_v3_is_off_so_the_arrow_reader_bounds_stay()
    {
        // 25.8 added the watermark and reader v3 with it, default off until 25.11; no deduplicate_insert(_select) yet.
        var server = Server("25.8.9.20");

        AssertExactly(
            With(RestoreAsked,
                [.. ArrowReaderBounds, new("input_format_parquet_enable_row_group_prefetch", "0"),
                    new("deduplicate_blocks_in_dependent_materialized_views", "0")]),
            Sent(server, Restore()));
        AssertExactly(ExportAsked, Sent(server, Export()));
    }

    [Fact]
    public void On_26_2_deduplicate_insert_is_disabled_beside_insert_deduplicate_and_the_watermark_alone_bounds_the_read()
    {
        // 26.2: deduplicate_insert (new, default 'enable') overrides insert_deduplicate on replicated tables;
        // deduplicate_insert_select exists since 25.12; reader v3 is the default since 25.11.
        var server = Server("26.2.4.23");

        AssertExactly(
            With(RestoreAsked,
                [new("deduplicate_insert", "disable"), new("deduplicate_insert_select", "disable"),
                    new("deduplicate_blocks_in_dependent_materialized_views", "0")]),
            Sent(server, Restore()));
        AssertExactly(ExportAsked, Sent(server, Export()));
    }

    [Fact]
    public void On_26_7_every_statement_sends_what_it_asks_for_plus_the_deduplication_equivalents()
    {
        var server = Server("26.7.2.1");

        AssertExactly(
            With(RestoreAsked,
                [new("deduplicate_insert", "disable"), new("deduplicate_insert_select", "disable"),
                    new("deduplicate_blocks_in_dependent_materialized_views", "0")]),
            Sent(server, Restore()));
        AssertExactly(ExportAsked, Sent(server, Export()));
        AssertExactly(new Dictionary<string, string> { ["mutations_sync"] = "0", ["lightweight_deletes_sync"] = "0" },
            Sent(server, BoundedDeleteSql.DeleteInParts(Tables, HotTable.Events, Workspace, Cutoff, ["all_1_1_0"], synchronous: false)));
        AssertExactly(new Dictionary<string, string> { ["use_hive_partitioning"] = "0", ["max_execution_time"] = "600" },
            Sent(server, ArchiveSql.ArchiveSummary(S3Store, Workspace, Timeout)));
        Assert.False(server.IsNewerThanTested);
    }

    [Fact]
    public void Reads_and_deletes_send_the_same_on_every_supported_release()
    {
        foreach (var release in new[] { "24.8.14.39", "24.12.6.70", "25.8.9.20", "26.2.4.23", "26.7.2.1" })
        {
            var server = Server(release);
            AssertExactly(new Dictionary<string, string> { ["use_hive_partitioning"] = "0", ["max_execution_time"] = "600" },
                Sent(server, ArchiveSql.ArchiveSummary(S3Store, Workspace, Timeout)));
            AssertExactly(new Dictionary<string, string> { ["mutations_sync"] = "2", ["lightweight_deletes_sync"] = "2" },
                Sent(server, BoundedDeleteSql.DeleteInParts(Tables, HotTable.InternalEvents, Workspace, Cutoff, ["all_1_1_0"], synchronous: true)));
            AssertExactly(new Dictionary<string, string> { ["session_timezone"] = "UTC", ["async_insert"] = "0" },
                Sent(server, EventSql.IngestInsert(Tables)));
        }
    }

    [Fact]
    public void A_release_before_24_8_is_refused_in_one_line_naming_it_the_minimum_and_what_to_do()
    {
        var server = Server("24.3.2.23");

        var problem = server.Problem("ClickHouse server at http://db:8123/default as default");

        Assert.NotNull(problem);
        Assert.DoesNotContain('\n', problem);
        Assert.Contains("ClickHouse 24.3.2.23", problem, StringComparison.Ordinal);
        Assert.Contains("older than 24.8", problem, StringComparison.Ordinal);
        Assert.Contains("upgrade it to 24.8 or later", problem, StringComparison.Ordinal);
        Assert.Contains("COLDSTORE_CLICKHOUSE", problem, StringComparison.Ordinal);
        Assert.StartsWith("ClickHouse server at http://db:8123/default as default ", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_that_lacks_a_setting_coldstore_needs_is_refused_naming_the_setting()
    {
        var server = ServerProfile.Create("25.3.1.1", ServerProfile.SettingNames.Where(s => s != "lightweight_deletes_sync"));

        var problem = server.Problem("server");

        Assert.NotNull(problem);
        Assert.Contains("has no setting lightweight_deletes_sync", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_version_that_cannot_be_read_is_refused_quoting_it()
    {
        var server = ServerProfile.Create("unknown", ServerProfile.SettingNames);

        Assert.Null(server.Version);
        Assert.Contains("'unknown'", server.Problem("server"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_after_26_x_is_used_with_what_it_has_and_flagged_as_newer_than_tested()
    {
        var server = ServerProfile.Create("27.1.1.5", ServerProfile.SettingNames);

        Assert.Null(server.Problem("server"));
        Assert.True(server.IsNewerThanTested);
        Assert.Equal("disable", Sent(server, Restore())["deduplicate_insert"]);
    }

    [Fact]
    public void A_setting_the_statement_names_itself_is_never_replaced_and_unknown_settings_pass_unchanged()
    {
        var server = Server("26.7.2.1");
        var query = new ClickHouseQuery("INSERT INTO t SELECT 1")
            .WithSetting("insert_deduplicate", "0")
            .WithSetting("deduplicate_insert", "enable")
            .WithSetting("some_future_setting", "7");

        var sent = Sent(server, query);

        Assert.Equal("enable", sent["deduplicate_insert"]);
        Assert.Equal("disable", sent["deduplicate_insert_select"]);
        Assert.Equal("7", sent["some_future_setting"]);
    }

    [Fact]
    public void A_statement_without_settings_is_returned_as_it_is()
    {
        var query = new ClickHouseQuery("SELECT 1");

        Assert.Same(query, Server("24.8.14.39").Apply(query));
    }

    [Fact]
    public void The_probe_asks_for_the_version_and_exactly_the_known_settings_in_one_row()
    {
        var probe = ServerProfile.Probe();

        Assert.Contains("version()", probe.Sql, StringComparison.Ordinal);
        Assert.Contains("FROM system.settings", probe.Sql, StringComparison.Ordinal);
        Assert.Equal(ServerProfile.SettingNames, (string[])probe.Parameters.Single(p => p.Name == "names").Value);
        Assert.Empty(probe.Settings);
    }

    [Fact]
    public void The_probe_row_becomes_a_profile()
    {
        var row = new ClickHouseRow(new Dictionary<string, int> { ["version"] = 0, ["settings"] = 1 },
            ["24.12.6.70", "insert_deduplicate,async_insert,not_ours"]);

        var server = ServerProfile.FromProbe(row);

        Assert.Equal(new ServerVersion(24, 12, 6, 70), server.Version);
        Assert.True(server.Has("async_insert"));
        Assert.False(server.Has("not_ours"));
        Assert.Equal(2, server.ExistingSettings.Count);
    }

    [Theory]
    [InlineData("24.8.14.39", 24, 8, 14, 39)]
    [InlineData("26.7.2.1", 26, 7, 2, 1)]
    [InlineData("24.3.2.23 (official build)", 24, 3, 2, 23)]
    [InlineData("25.3.3.42-lts", 25, 3, 3, 42)]
    [InlineData("24.12", 24, 12, 0, 0)]
    public void Versions_parse_as_clickhouse_reports_them(string text, int major, int minor, int patch, int build)
    {
        Assert.True(ServerVersion.TryParse(text, out var version));
        Assert.Equal(new ServerVersion(major, minor, patch, build), version);
    }

    [Theory]
    [InlineData("")]
    [InlineData("24")]
    [InlineData("v24.8")]
    [InlineData("24.x.1")]
    [InlineData("1.2.3.4.5")]
    public void Text_that_is_no_release_does_not_parse(string text) => Assert.False(ServerVersion.TryParse(text, out _));

    [Fact]
    public void Releases_order_by_number_not_by_text()
    {
        Assert.True(new ServerVersion(24, 12) > new ServerVersion(24, 8));
        Assert.True(new ServerVersion(24, 8, 1, 5) >= ServerProfile.Minimum);
        Assert.True(new ServerVersion(24, 7, 99, 99) < ServerProfile.Minimum);
        Assert.Equal("24.8", ServerProfile.Minimum.ToString());
    }
}
