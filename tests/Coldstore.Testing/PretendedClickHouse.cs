using Coldstore.ClickHouse.Http;
using Coldstore.Ports;

namespace Coldstore.Testing;

/// <summary>
/// Older ClickHouse releases the HTTP interface can pretend to be (<c>--server-version</c>), with every setting
/// Coldstore may send (or ClickHouse.Driver adds) that the release lacks hidden (<c>--hide-setting</c>): the release
/// each one arrived in is from ClickHouse's src/Core/SettingsChangesHistory.cpp. The engine behind stays chDB 26.7,
/// so this checks what is sent, not the older release's behaviour.
/// </summary>
public static class PretendedReleases
{
    /// <summary>Settings Coldstore may send that arrived after 24.3, and the release that added each.</summary>
    private static readonly (string Setting, Sql.ServerVersion Since)[] Added =
    [
        ("lightweight_deletes_sync", new(24, 4)),
        ("max_parsing_threads", new(24, 4)),
        ("input_format_parquet_prefer_block_bytes", new(24, 6)),
        ("output_format_parquet_write_page_index", new(24, 7)),
        ("use_hive_partitioning", new(24, 8)),
        ("input_format_parquet_enable_row_group_prefetch", new(24, 10)),
        ("output_format_binary_write_json_as_string", new(24, 10)),
        ("input_format_binary_read_json_as_string", new(24, 10)),
        ("output_format_parquet_write_bloom_filter", new(25, 2)),
        ("input_format_parquet_memory_high_watermark", new(25, 8)),
        ("deduplicate_insert_select", new(25, 12)),
        ("deduplicate_insert", new(26, 2)),
    ];

    /// <summary>The settings of <see cref="Added"/> that <paramref name="release"/> does not have yet.</summary>
    public static IReadOnlyList<string> SettingsAbsentFrom(string release) =>
        Sql.ServerVersion.TryParse(release, out var version)
            ? [.. Added.Where(a => a.Since > version).Select(a => a.Setting)]
            : throw new ArgumentException($"'{release}' is not a release", nameof(release));

    /// <summary>The interface's arguments that pretend <paramref name="release"/>.</summary>
    public static IReadOnlyList<string> ArgumentsFor(string release) =>
        ["--server-version", release, .. SettingsAbsentFrom(release).SelectMany(setting => new[] { "--hide-setting", setting })];
}

/// <summary>
/// A test class's database on an HTTP interface of its own that pretends to be an older release, reached through
/// ClickHouse.Driver exactly as a server of that release would be.
/// </summary>
public abstract class PretendedReleaseFixture(string release) : ClickHouseDatabaseFixture
{
    private readonly Lazy<ClickHouseHttpTestServer.InterfaceProcess> _server =
        new(() => ClickHouseHttpTestServer.StartInterface(PretendedReleases.ArgumentsFor(release)), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The release the interface pretends to be.</summary>
    public string Release { get; } = release;

    /// <summary>The interface's URL.</summary>
    public string Url => _server.Value.Url;

    /// <inheritdoc />
    public override IClickHouseClient OpenClient() => HttpClickHouseClient.Create(Url);

    /// <inheritdoc />
    public override string Setting => Url;

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (_server.IsValueCreated)
            {
                _server.Value.Dispose();
            }
        }
    }
}

/// <summary>The 24.8 LTS, the oldest release Coldstore supports.</summary>
public sealed class Release24Dot8Fixture() : PretendedReleaseFixture("24.8.14.39");

/// <summary>24.12, the release Dittofeed pins (clickhouse/clickhouse-server:24.12.6.70).</summary>
public sealed class Release24Dot12Fixture() : PretendedReleaseFixture("24.12.6.70");

/// <summary>The 25.8 LTS: the memory watermark exists, reader v3 is still off by default.</summary>
public sealed class Release25Dot8Fixture() : PretendedReleaseFixture("25.8.9.20");
