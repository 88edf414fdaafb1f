using System.Collections.Frozen;
using System.Collections.Immutable;
using Coldstore.Configuration;
using Coldstore.Ports;

namespace Coldstore.Sql;

/// <summary>
/// What one ClickHouse server is: its release and which of the settings Coldstore may send exist there. Built once
/// per client from <see cref="Probe"/>'s answer, then every statement's settings go through
/// <see cref="Apply"/>, which sends only settings the server has and chooses equivalents where a behaviour must be
/// the same on every supported release (24.8 LTS to 26.x). Pure: no I/O, so each release's rules are unit-tested.
/// </summary>
/// <remarks>
/// The facts behind each rule are ClickHouse's <c>src/Core/SettingsChangesHistory.cpp</c> and its settings
/// documentation:
/// <list type="bullet">
/// <item><b>Deduplication off.</b> <c>insert_deduplicate = 0</c> exists everywhere. 25.12 added
/// <c>deduplicate_insert_select</c> (it overrides <c>insert_deduplicate</c> for INSERT … SELECT; 26.1 made it
/// <c>enable_when_possible</c>), and 26.2 added <c>deduplicate_insert</c> with default <c>enable</c> ("Enable
/// deduplication for all sync and async inserts by default"), which overrides <c>insert_deduplicate</c> for
/// replicated tables, and turned <c>deduplicate_blocks_in_dependent_materialized_views</c> on. So a statement that
/// asks for <c>insert_deduplicate = 0</c> also gets <c>deduplicate_insert = 'disable'</c>,
/// <c>deduplicate_insert_select = 'disable'</c> and <c>deduplicate_blocks_in_dependent_materialized_views = 0</c>
/// wherever they exist.</item>
/// <item><b>Parquet reading bounded in memory.</b> <c>input_format_parquet_memory_high_watermark</c> (25.8) bounds
/// the Parquet reader v3 only, and v3 is the default from 25.11 (25.8–25.10 ship it off). Before that the Arrow-based
/// reader's memory is a row group (Coldstore writes them at most 32 MiB) plus what it runs beside it: a statement
/// asking for the watermark on a release before 25.11 also gets one parsing thread (<c>max_parsing_threads</c>,
/// 24.4), no row-group prefetch (<c>input_format_parquet_enable_row_group_prefetch</c>, 24.10, on by default) and
/// blocks of at most 65,409 rows and 16 MiB (<c>input_format_parquet_max_block_size</c>,
/// <c>input_format_parquet_prefer_block_bytes</c>, 24.6).</item>
/// <item><b>Tuning that does not exist is left out.</b> <c>output_format_parquet_write_bloom_filter</c> (25.2) and
/// <c>output_format_parquet_write_page_index</c> (24.7): a release without them writes neither; without
/// <c>use_hive_partitioning</c> (24.8) no path segment replaces a column.</item>
/// <item><b>ClickHouse.Driver's JSON settings</b> (<c>output_format_binary_write_json_as_string</c>,
/// <c>input_format_binary_read_json_as_string</c>, 24.10) go on every request unless the driver's JSON modes are
/// off: <see cref="AcceptsDriverJsonSettings"/> says which.</item>
/// </list>
/// A setting Coldstore needs for correctness (time zone, synchronous inserts, no deduplication, delete modes,
/// timeouts, overwriting exports) that the server lacks makes the server unsupported, as does a release before
/// <see cref="Minimum"/>: <see cref="Problem"/> says so in one line before anything is changed.
/// </remarks>
public sealed class ServerProfile
{
    /// <summary>The oldest release Coldstore supports: the 24.8 LTS.</summary>
    public static readonly ServerVersion Minimum = new(24, 8);

    /// <summary>The newest release line Coldstore was checked against.</summary>
    public const int NewestTestedMajor = 26;

    /// <summary>From this release the Parquet reader v3, which the memory watermark bounds, is the default.</summary>
    public static readonly ServerVersion ReaderV3Default = new(25, 11);

    /// <summary>What the supported range is called in messages.</summary>
    public const string SupportedRange = "24.8 LTS to 26.x";

    private const string DeduplicateInsert = "deduplicate_insert";
    private const string DeduplicateInsertSelect = "deduplicate_insert_select";
    private const string DeduplicateInDependentViews = "deduplicate_blocks_in_dependent_materialized_views";
    private const string ParquetMemoryWatermark = "input_format_parquet_memory_high_watermark";
    private const string DriverJsonRead = "output_format_binary_write_json_as_string";
    private const string DriverJsonWrite = "input_format_binary_read_json_as_string";

    /// <summary>Every setting Coldstore may send, and what happens where the server lacks it.</summary>
    private static readonly FrozenDictionary<string, Absence> Catalogue = new Dictionary<string, Absence>(StringComparer.Ordinal)
    {
        // Correctness: without these an archive or restore would not be what it claims.
        ["session_timezone"] = Absence.Unsupported,
        ["async_insert"] = Absence.Unsupported,
        ["insert_deduplicate"] = Absence.Unsupported,
        ["mutations_sync"] = Absence.Unsupported,
        ["lightweight_deletes_sync"] = Absence.Unsupported,
        ["max_execution_time"] = Absence.Unsupported,
        ["s3_truncate_on_insert"] = Absence.Unsupported,
        ["engine_file_truncate_on_insert"] = Absence.Unsupported,
        // The S3 store's bounded waits (all in 24.3+): without them an outage hangs a statement for most of an hour.
        ["s3_connect_timeout_ms"] = Absence.Unsupported,
        ["s3_request_timeout_ms"] = Absence.Unsupported,
        ["s3_retry_attempts"] = Absence.Unsupported,
        ["s3_max_single_read_retries"] = Absence.Unsupported,
        ["s3_max_unexpected_write_error_retries"] = Absence.Unsupported,

        // Tuning and feature switches: a release without them behaves as the setting asks anyway, or only slower.
        ["output_format_parquet_compression_method"] = Absence.Omitted,
        ["output_format_parquet_row_group_size"] = Absence.Omitted,
        ["output_format_parquet_row_group_size_bytes"] = Absence.Omitted,
        ["output_format_parquet_write_bloom_filter"] = Absence.Omitted,
        ["output_format_parquet_write_page_index"] = Absence.Omitted,
        ["s3_min_upload_part_size"] = Absence.Omitted,
        ["s3_max_single_part_upload_size"] = Absence.Omitted,
        ["s3_max_inflight_parts_for_one_file"] = Absence.Omitted,
        ["use_hive_partitioning"] = Absence.Omitted,
        ["max_threads"] = Absence.Omitted,
        ["min_insert_block_size_rows"] = Absence.Omitted,
        ["max_insert_block_size"] = Absence.Omitted,
        ["min_insert_block_size_bytes"] = Absence.Omitted,
        ["max_block_size"] = Absence.Omitted,
        ["min_insert_block_size_rows_for_materialized_views"] = Absence.Omitted,
        ["min_insert_block_size_bytes_for_materialized_views"] = Absence.Omitted,
        ["storage_file_read_method"] = Absence.Omitted,
        ["enable_global_with_statement"] = Absence.Omitted,
        [ParquetMemoryWatermark] = Absence.Omitted,

        // Equivalents this profile adds itself.
        [DeduplicateInsert] = Absence.Omitted,
        [DeduplicateInsertSelect] = Absence.Omitted,
        [DeduplicateInDependentViews] = Absence.Omitted,
        ["max_parsing_threads"] = Absence.Omitted,
        ["input_format_parquet_enable_row_group_prefetch"] = Absence.Omitted,
        ["input_format_parquet_max_block_size"] = Absence.Omitted,
        ["input_format_parquet_prefer_block_bytes"] = Absence.Omitted,

        // Sent by ClickHouse.Driver itself, not by statements.
        [DriverJsonRead] = Absence.Omitted,
        [DriverJsonWrite] = Absence.Omitted,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private readonly FrozenSet<string> _existing;

    private ServerProfile(string reportedVersion, ServerVersion? version, FrozenSet<string> existing)
    {
        ReportedVersion = reportedVersion;
        Version = version;
        _existing = existing;
    }

    /// <summary>The names <see cref="Probe"/> asks about: every setting Coldstore may send, in a stable order.</summary>
    public static IReadOnlyList<string> SettingNames { get; } = [.. Catalogue.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The release as the server reported it, e.g. <c>24.12.6.70</c>.</summary>
    public string ReportedVersion { get; }

    /// <summary>The parsed release, or null when <see cref="ReportedVersion"/> could not be read.</summary>
    public ServerVersion? Version { get; }

    /// <summary>Which of <see cref="SettingNames"/> the server has.</summary>
    public IReadOnlySet<string> ExistingSettings => _existing;

    /// <summary>True when ClickHouse.Driver may send its JSON settings (24.10 and later); otherwise its JSON modes must be off.</summary>
    public bool AcceptsDriverJsonSettings => _existing.Contains(DriverJsonRead) && _existing.Contains(DriverJsonWrite);

    /// <summary>True for a release after the newest line Coldstore was checked against (it is used all the same).</summary>
    public bool IsNewerThanTested => Version is { } v && v.Major > NewestTestedMajor;

    /// <summary>The statement that learns the profile: the release and which of <see cref="SettingNames"/> exist, in one row.</summary>
    public static ClickHouseQuery Probe() =>
        new ClickHouseQuery("""
            SELECT version() AS version, arrayStringConcat(groupArray(name), ',') AS settings
            FROM system.settings
            WHERE name IN {names:Array(String)}
            """)
            .With("names", "Array(String)", SettingNames.ToArray())
            .For("learn server version and settings");

    /// <summary>Builds the profile from <see cref="Probe"/>'s row.</summary>
    public static ServerProfile FromProbe(ClickHouseRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var settings = row.IsNull("settings") ? string.Empty : row.GetString("settings");
        return Create(row.GetString("version"), settings.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>Builds the profile from a reported release and the names of the settings that exist there.</summary>
    /// <param name="reportedVersion">What <c>version()</c> returned.</param>
    /// <param name="existingSettings">Setting names the server has; names outside <see cref="SettingNames"/> are ignored.</param>
    public static ServerProfile Create(string reportedVersion, IEnumerable<string> existingSettings)
    {
        ArgumentNullException.ThrowIfNull(reportedVersion);
        ArgumentNullException.ThrowIfNull(existingSettings);
        var version = ServerVersion.TryParse(reportedVersion, out var parsed) ? parsed : (ServerVersion?)null;
        return new ServerProfile(reportedVersion.Trim(), version,
            existingSettings.Where(Catalogue.ContainsKey).ToFrozenSet(StringComparer.Ordinal));
    }

    /// <summary>True when the server has the setting (only settings in <see cref="SettingNames"/> are known).</summary>
    public bool Has(string setting) => _existing.Contains(setting);

    /// <summary>
    /// Null when Coldstore can work with this server; otherwise one line for the operator naming the release found,
    /// the minimum and what to do.
    /// </summary>
    /// <param name="engine">How to name the server in the line, e.g. "ClickHouse server at http://host:8123/default as default".</param>
    public string? Problem(string engine)
    {
        if (Version is not { } version)
        {
            return $"{engine} reports version '{ReportedVersion}', which Coldstore cannot read as a ClickHouse release; " +
                $"Coldstore supports {SupportedRange}: point {ColdstoreSettings.ClickHouseVariable} at such a server. Nothing was changed on it.";
        }

        if (version < Minimum)
        {
            return $"{engine} runs ClickHouse {ReportedVersion}, older than {Minimum}, the oldest release Coldstore supports ({SupportedRange}): " +
                $"upgrade it to {Minimum} or later, or point {ColdstoreSettings.ClickHouseVariable} at a server that is. Nothing was changed on it.";
        }

        var missing = Catalogue.Where(entry => entry.Value == Absence.Unsupported && !_existing.Contains(entry.Key))
            .Select(entry => entry.Key).Order(StringComparer.Ordinal).ToArray();
        return missing.Length == 0
            ? null
            : $"{engine} runs ClickHouse {ReportedVersion} but has no setting {string.Join(", ", missing)}, which Coldstore needs to archive and restore exactly; " +
                $"use a server of {SupportedRange} whose settings are not restricted, or point {ColdstoreSettings.ClickHouseVariable} at one. Nothing was changed on it.";
    }

    /// <summary>Returns the statement with its settings as this server must receive them (see <see cref="SettingsFor"/>).</summary>
    public ClickHouseQuery Apply(ClickHouseQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var settings = SettingsFor(query.Settings);
        return ReferenceEquals(settings, query.Settings) ? query : query with { Settings = settings };
    }

    /// <summary>
    /// The settings to send for a statement that asks for <paramref name="requested"/>: the equivalents described on
    /// the type added (a setting the statement names itself is never replaced), then every setting of
    /// <see cref="SettingNames"/> the server lacks removed. Settings outside <see cref="SettingNames"/> pass unchanged.
    /// </summary>
    public ImmutableDictionary<string, string> SettingsFor(ImmutableDictionary<string, string> requested)
    {
        ArgumentNullException.ThrowIfNull(requested);
        if (requested.IsEmpty)
        {
            return requested;
        }

        var settings = requested.ToBuilder();
        if (requested.TryGetValue("insert_deduplicate", out var deduplicate) && deduplicate is "0" or "false")
        {
            // 26.2 deduplicates inserts into replicated tables by default, over insert_deduplicate = 0.
            AddIfExists(settings, DeduplicateInsert, "disable");
            AddIfExists(settings, DeduplicateInsertSelect, "disable");
            AddIfExists(settings, DeduplicateInDependentViews, "0");
        }

        if (requested.ContainsKey(ParquetMemoryWatermark))
        {
            if (Version is not { } version || version < ReaderV3Default)
            {
                // The Arrow-based reader: the watermark does not bound it (absent before 25.8, inert until 25.11).
                AddIfExists(settings, "max_parsing_threads", "1");
                AddIfExists(settings, "input_format_parquet_enable_row_group_prefetch", "0");
                AddIfExists(settings, "input_format_parquet_max_block_size", "65409");
                AddIfExists(settings, "input_format_parquet_prefer_block_bytes", "16777216");
            }
        }

        foreach (var name in requested.Keys)
        {
            if (Catalogue.ContainsKey(name) && !_existing.Contains(name))
            {
                settings.Remove(name);
            }
        }

        return settings.ToImmutable();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"ClickHouse {ReportedVersion} ({_existing.Count} of {Catalogue.Count} known settings)";

    private void AddIfExists(ImmutableDictionary<string, string>.Builder settings, string name, string value)
    {
        if (_existing.Contains(name) && !settings.ContainsKey(name))
        {
            settings[name] = value;
        }
    }

    /// <summary>What a missing setting means.</summary>
    private enum Absence
    {
        /// <summary>The statement runs without it and means the same (or is only slower).</summary>
        Omitted,

        /// <summary>Coldstore cannot keep its guarantees without it: the server is unsupported.</summary>
        Unsupported,
    }
}
