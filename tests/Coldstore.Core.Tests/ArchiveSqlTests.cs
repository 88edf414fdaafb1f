using Coldstore.Domain;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Core.Tests;

public sealed class ArchiveSqlTests
{
    private static readonly EventTables Tables = new("dittofeed");
    private static readonly Guid Workspace = Guid.Parse("11111111-2222-4333-8444-555555555555");
    private static readonly Guid Archive = Guid.Parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    private static readonly DateTime Cutoff = new(2024, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);

    private static readonly TableFunctionExpression Store = new(
        "s3({archive_url:String}, {archive_key:String}, {archive_secret:String}, 'Parquet')",
        [new("archive_url", "String", "http://s3/bucket/x"), new("archive_key", "String", "AKIA", true), new("archive_secret", "String", "very-secret", true)],
        new Dictionary<string, string> { ["s3_truncate_on_insert"] = "1" });

    [Fact]
    public void The_copy_writes_only_the_five_stored_columns_up_to_the_cutoff_one_object_per_month()
    {
        var query = ArchiveSql.CopyToArchive(Tables, Workspace, Cutoff, Store, TimeSpan.FromMinutes(5));

        Assert.StartsWith("INSERT INTO FUNCTION s3(", query.Sql, StringComparison.Ordinal);
        Assert.Contains("PARTITION BY toYYYYMM(processing_time)", query.Sql, StringComparison.Ordinal);
        Assert.Contains("SELECT message_raw, processing_time, workspace_id, message_id, server_time", query.Sql, StringComparison.Ordinal);
        Assert.Contains("processing_time <= {cutoff:DateTime64(3, 'UTC')}", query.Sql, StringComparison.Ordinal);
        Assert.Equal("zstd", query.Settings["output_format_parquet_compression_method"]);
        Assert.Equal("1", query.Settings["s3_truncate_on_insert"]);
        Assert.Equal("300", query.Settings["max_execution_time"]);
        Assert.Equal(Cutoff, query.Parameters.Single(p => p.Name == "cutoff").Value);
    }

    [Fact]
    public void No_statement_carries_a_value_or_a_secret_in_its_text()
    {
        ClickHouseQuery[] statements =
        [
            ArchiveSql.CopyToArchive(Tables, Workspace, Cutoff, Store, TimeSpan.FromMinutes(1)),
            ArchiveSql.ArchiveSummary(Store, Workspace, TimeSpan.FromMinutes(1)),
            ArchiveSql.RestoreInsert(Tables, Workspace, Cutoff, Store, TimeSpan.FromMinutes(1)),
            ArchiveSql.HotSummary(Tables, Workspace, Cutoff),
            ArchiveSql.InternalSummary(Tables, Workspace, Cutoff),
            ArchiveSql.PendingDeletes(Tables, Workspace),
            ArchiveSql.WorkspaceChecksums(Tables, Workspace),
            .. Mutations(),
            .. Enum.GetValues<HotTable>().SelectMany(table => new[]
            {
                BoundedDeleteSql.PartSummaries(Tables, table, Workspace, Cutoff),
                BoundedDeleteSql.ArchivedRowsByPart(Tables, table, Workspace, Cutoff, Store, TimeSpan.FromMinutes(1)),
                BoundedDeleteSql.HashesInPart(Tables, table, Workspace, Cutoff, "all_1_1_0", Store, archived: true, 100, TimeSpan.FromMinutes(1)),
                BoundedDeleteSql.ArchivedRowsHot(Tables, table, Workspace, Cutoff, Store, TimeSpan.FromMinutes(1)),
            }),
        ];

        foreach (var statement in statements)
        {
            Assert.DoesNotContain(Workspace.ToString(), statement.Sql, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Archive.ToString(), statement.Sql, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("very-secret", statement.Sql, StringComparison.Ordinal);
            Assert.DoesNotContain("very-secret", statement.ToString(), StringComparison.Ordinal);
            Assert.NotNull(statement.Purpose);
        }
    }

    /// <summary>Every mutation Coldstore can submit, on both tables.</summary>
    internal static ClickHouseQuery[] Mutations() =>
    [
        .. Enum.GetValues<HotTable>().SelectMany(table => new[]
        {
            BoundedDeleteSql.DeleteInParts(Tables, table, Workspace, Cutoff, ["all_1_1_0", "all_2_2_0"], synchronous: false),
            BoundedDeleteSql.DeleteInParts(Tables, table, Workspace, Cutoff, ["all_1_1_0"], synchronous: true),
            BoundedDeleteSql.DeleteInPartByHash(Tables, table, Workspace, Cutoff, "all_1_3_1", [1UL, 2UL], keep: false),
            BoundedDeleteSql.DeleteInPartByHash(Tables, table, Workspace, Cutoff, "all_1_3_1", [3UL], keep: true),
        }),
    ];

    [Fact]
    public void Deletes_are_bounded_by_literal_parts_and_hashes_with_no_subquery_and_no_clock()
    {
        foreach (var delete in Mutations())
        {
            Assert.StartsWith("DELETE FROM `dittofeed`.`", delete.Sql, StringComparison.Ordinal);
            // A replicated or shared table refuses a mutation with a subquery or a non-deterministic function (code 36).
            Assert.DoesNotContain("SELECT", delete.Sql, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("now", delete.Sql, StringComparison.OrdinalIgnoreCase);
            // A mutation's text is stored verbatim: it must never read s3() (and so never hold credentials).
            Assert.DoesNotContain("s3(", delete.Sql, StringComparison.Ordinal);
            Assert.Contains("workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}", delete.Sql, StringComparison.Ordinal);
            Assert.Contains("_part", delete.Sql, StringComparison.Ordinal);
        }

        var background = BoundedDeleteSql.DeleteInParts(Tables, HotTable.Events, Workspace, Cutoff, ["all_1_1_0"], synchronous: false);
        Assert.Equal("0", background.Settings["mutations_sync"]);
        Assert.Equal("0", background.Settings["lightweight_deletes_sync"]);
        Assert.Equal(new[] { "all_1_1_0" }, (string[])background.Parameters.Single(p => p.Name == "parts").Value);
        Assert.StartsWith("DELETE FROM `dittofeed`.`internal_events`", BoundedDeleteSql.DeleteInParts(Tables, HotTable.InternalEvents, Workspace, Cutoff, ["p"], false).Sql, StringComparison.Ordinal);
        var keep = BoundedDeleteSql.DeleteInPartByHash(Tables, HotTable.Events, Workspace, Cutoff, "all_1_3_1", [3UL], keep: true);
        Assert.Contains("NOT IN {hashes:Array(UInt64)}", keep.Sql, StringComparison.Ordinal);
        Assert.Equal("2", keep.Settings["mutations_sync"]);
        Assert.Throws<ArgumentException>(() => BoundedDeleteSql.DeleteInParts(Tables, HotTable.Events, Workspace, Cutoff, [], false));
    }

    [Fact]
    public void The_restore_inserts_stored_columns_in_utc_without_deduplication_and_without_hive_partitioning()
    {
        var restore = ArchiveSql.RestoreInsert(Tables, Workspace, Cutoff, Store, TimeSpan.FromHours(1));

        Assert.StartsWith("INSERT INTO `dittofeed`.`user_events_v2` (message_raw, processing_time, workspace_id, message_id, server_time)", restore.Sql, StringComparison.Ordinal);
        Assert.Equal("UTC", restore.Settings["session_timezone"]);
        Assert.Equal("0", restore.Settings["insert_deduplicate"]);
        Assert.Equal("0", restore.Settings["use_hive_partitioning"]);
        // Only the workspace's own rows up to the cutoff, whatever the objects hold by the time they are read again.
        Assert.Contains("WHERE workspace_id = {workspace_id:String} AND processing_time <= {cutoff:DateTime64(3, 'UTC')}", restore.Sql, StringComparison.Ordinal);
        Assert.Equal(Workspace.ToString("D"), restore.Parameters.Single(p => p.Name == "workspace_id").Value);
        Assert.Equal("0", ArchiveSql.ArchiveSummary(Store, Workspace, TimeSpan.FromHours(1)).Settings["use_hive_partitioning"]);
    }

    [Theory]
    [InlineData(0.2, "1")]
    [InlineData(1, "1")]
    [InlineData(90.5, "91")]
    public void Statement_timeouts_are_whole_seconds_and_never_zero(double seconds, string expected)
    {
        Assert.Equal(expected, ArchiveSql.RestoreInsert(Tables, Workspace, Cutoff, Store, TimeSpan.FromSeconds(seconds)).Settings["max_execution_time"]);
    }

    [Fact]
    public void The_checksum_sums_a_hash_so_duplicates_change_it()
    {
        Assert.Contains("sum(", ArchiveSql.HotSummary(Tables, Workspace, Cutoff).Sql, StringComparison.Ordinal);
        Assert.DoesNotContain("groupBitXor", ArchiveSql.HotSummary(Tables, Workspace, Cutoff).Sql, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_round_trips_exactly_including_a_checksum_above_two_to_the_sixty_three()
    {
        var manifest = SampleManifest();

        var parsed = ArchiveManifest.Parse(manifest.ToJson());

        Assert.Equal(manifest.Checksum, parsed.Checksum);
        Assert.Equal(ulong.MaxValue, parsed.ChecksumValue);
        Assert.Equal(manifest.Objects, parsed.Objects);
        Assert.Equal(Cutoff, parsed.Cutoff);
        Assert.Equal(DateTimeKind.Utc, parsed.Cutoff.Kind);
        Assert.Equal(1234, parsed.Bytes);
    }

    [Fact]
    public void A_manifest_from_a_newer_coldstore_is_refused()
    {
        var error = Assert.Throws<FormatException>(() => ArchiveManifest.Parse((SampleManifest() with { FormatVersion = ArchiveManifest.CurrentFormatVersion + 1 }).ToJson()));
        Assert.Contains($"format version {ArchiveManifest.CurrentFormatVersion + 1}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_with_a_checksum_that_is_not_a_number_is_refused()
    {
        var error = Assert.Throws<FormatException>(() => ArchiveManifest.Parse((SampleManifest() with { Checksum = "-1" }).ToJson()));
        Assert.Contains("'-1'", error.Message, StringComparison.Ordinal);
    }

    private static ArchiveManifest SampleManifest() =>
        new()
        {
            FormatVersion = 1,
            WorkspaceId = Workspace,
            ArchiveId = Archive,
            Cutoff = Cutoff,
            SourceTable = "dittofeed.user_events_v2",
            Columns = ["message_raw", "processing_time", "workspace_id", "message_id", "server_time"],
            Format = "Parquet",
            Objects = [new ManifestObject("month=202403.parquet", 1234)],
            RowCount = 42,
            Checksum = ulong.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ChecksumExpression = $"sum({ArchiveSql.RowHash})",
            InternalEventRows = 7,
            CreatedAt = Cutoff.AddMinutes(1),
        };

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("""{"formatVersion": 1}""", "not valid JSON")]
    [InlineData("null", "empty")]
    public void A_broken_manifest_is_refused_with_a_reason(string json, string reason)
    {
        var error = Assert.Throws<FormatException>(() => ArchiveManifest.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }
}

public sealed class OrphanSearchOnClusterTests
{
    private static readonly EventTables Single = new("dittofeed");
    private static readonly EventTables Replicated = new("dittofeed") { Cluster = "events_cluster" };

    [Fact]
    public void On_one_server_orphans_and_pending_deletes_are_looked_for_in_its_own_system_tables()
    {
        Assert.Equal("SELECT query_id, elapsed FROM system.processes WHERE startsWith(query_id, {prefix:String})", ArchiveSql.RunningStatements(Single, "coldstore:x:").Sql);
        Assert.Equal("KILL QUERY WHERE startsWith(query_id, {prefix:String}) ASYNC", ArchiveSql.KillStatements(Single, "coldstore:x:").Sql);
        Assert.Contains("FROM system.mutations", ArchiveSql.PendingDeletes(Single, Guid.NewGuid()).Sql, StringComparison.Ordinal);
        Assert.DoesNotContain(ArchiveSql.RunningStatements(Single, "p").Parameters, p => p.Name == "cluster");
    }

    [Fact]
    public void With_a_cluster_they_are_looked_for_on_every_replica_and_killed_on_all()
    {
        var running = ArchiveSql.RunningStatements(Replicated, "coldstore:x:");
        var pending = ArchiveSql.PendingDeletes(Replicated, Guid.NewGuid());

        Assert.Contains("FROM clusterAllReplicas({cluster:String}, system.processes)", running.Sql, StringComparison.Ordinal);
        Assert.Contains("FROM clusterAllReplicas({cluster:String}, system.mutations)", pending.Sql, StringComparison.Ordinal);
        Assert.Equal("events_cluster", running.Parameters.Single(p => p.Name == "cluster").Value);
        Assert.Equal("events_cluster", pending.Parameters.Single(p => p.Name == "cluster").Value);
        Assert.Equal("KILL QUERY ON CLUSTER `events_cluster` WHERE startsWith(query_id, {prefix:String}) ASYNC", ArchiveSql.KillStatements(Replicated, "coldstore:x:").Sql);
    }

    [Fact]
    public void The_inserts_an_archive_waits_for_are_the_tables_own_started_by_the_cutoff_on_every_replica()
    {
        var cutoff = new DateTime(2026, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        var single = ArchiveSql.InsertsInFlight(Single, cutoff, "coldstore:abc:");
        var replicated = ArchiveSql.InsertsInFlight(Replicated, cutoff, "coldstore:abc:");

        Assert.Contains("FROM system.processes", single.Sql, StringComparison.Ordinal);
        Assert.Contains("FROM system.asynchronous_inserts", single.Sql, StringComparison.Ordinal);
        Assert.Contains("query_kind = 'Insert'", single.Sql, StringComparison.Ordinal);
        Assert.Contains("NOT startsWith(query_id, {own_prefix:String})", single.Sql, StringComparison.Ordinal);
        Assert.Equal("user_events_v2", single.Parameters.Single(p => p.Name == "events").Value);
        Assert.Equal(cutoff, single.Parameters.Single(p => p.Name == "cutoff").Value);
        Assert.Contains("FROM clusterAllReplicas({cluster:String}, system.processes)", replicated.Sql, StringComparison.Ordinal);
        Assert.Contains("FROM clusterAllReplicas({cluster:String}, system.asynchronous_inserts)", replicated.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain("2026", single.Sql, StringComparison.Ordinal);
    }

    [Fact]
    public void The_mutation_budget_counts_one_table_per_replica_and_takes_the_fullest()
    {
        var single = ArchiveSql.UnfinishedMutationsOfTable(Single, "user_events_v2");
        var replicated = ArchiveSql.UnfinishedMutationsOfTable(Replicated, "internal_events");

        Assert.Contains("FROM system.mutations", single.Sql, StringComparison.Ordinal);
        Assert.Contains("GROUP BY host", single.Sql, StringComparison.Ordinal);
        Assert.Contains("max(unfinished)", single.Sql, StringComparison.Ordinal);
        Assert.Equal("user_events_v2", single.Parameters.Single(p => p.Name == "table").Value);
        Assert.Contains("FROM clusterAllReplicas({cluster:String}, system.mutations)", replicated.Sql, StringComparison.Ordinal);
        Assert.Equal("internal_events", replicated.Parameters.Single(p => p.Name == "table").Value);
    }

    [Fact]
    public void A_cluster_name_that_could_end_its_quoting_is_refused() =>
        Assert.Throws<ArgumentException>(() => new EventTables("dittofeed") { Cluster = "c` SYNC --" });
}

public sealed class ClusterSettingTests
{
    private static Configuration.ColdstoreSettings Read(string? cluster) => Configuration.ColdstoreSettings.Read(Configuration.SettingSource.FromEnvironment(
        new Dictionary<string, string?>(StringComparer.Ordinal) { [Configuration.ColdstoreSettings.ClusterVariable] = cluster },
        null, Path.GetTempPath()));

    [Fact]
    public void The_cluster_setting_reaches_the_tables_and_a_bad_name_is_refused_naming_the_setting()
    {
        Assert.Null(Read(null).Tables.Cluster);
        Assert.Equal("events_cluster", Read("events_cluster").Tables.Cluster);
        var error = Assert.Throws<Errors.ConfigurationException>(() => Read("no such'cluster"));
        Assert.Equal(Configuration.ColdstoreSettings.ClusterVariable, error.Setting);
    }
}
