using Coldstore.Errors;
using Coldstore.Sql;

namespace Coldstore.Configuration;

/// <summary>Which ClickHouse to use.</summary>
public abstract record ClickHouseTarget
{
    /// <summary>Embedded chDB with its data in <paramref name="Directory"/> (absolute).</summary>
    public sealed record Embedded(string Directory) : ClickHouseTarget;

    /// <summary>A ClickHouse server over HTTP(S); the URL may carry user, password and database.</summary>
    public sealed record Server(string Url) : ClickHouseTarget
    {
        /// <inheritdoc />
        public override string ToString() => $"Server {{ Url = {SettingText.MaskUrlPassword(Url)} }}";
    }
}

/// <summary>Which state store to use.</summary>
public abstract record StateTarget
{
    /// <summary>A SQLite database file (absolute path).</summary>
    public sealed record Sqlite(string Path) : StateTarget;

    /// <summary>A Postgres database, as an Npgsql connection string.</summary>
    public sealed record Postgres(string ConnectionString) : StateTarget
    {
        /// <inheritdoc />
        public override string ToString() => "Postgres { ConnectionString = *** }";
    }
}

/// <summary>Which archive store to use.</summary>
public abstract record ArchiveTarget
{
    /// <summary>A local directory (absolute path).</summary>
    public sealed record LocalDirectory(string Path) : ArchiveTarget;

    /// <summary>An S3 bucket and key prefix (empty for the bucket's root).</summary>
    public sealed record S3(string Bucket, string Prefix) : ArchiveTarget;
}

/// <summary>
/// Coldstore's configuration: where ClickHouse, the state and the archive are. Read from <c>COLDSTORE_*</c>
/// environment variables (each overridable by a CLI flag) and validated once, with errors that quote the bad
/// value (passwords masked) and the accepted forms. With nothing set, everything is embedded under
/// <c>./.coldstore/</c>.
/// </summary>
public sealed record ColdstoreSettings
{
    /// <summary>ClickHouse: <c>embedded:&lt;dir&gt;</c> or an <c>http(s)://</c> URL.</summary>
    public const string ClickHouseVariable = "COLDSTORE_CLICKHOUSE";

    /// <summary>The ClickHouse database holding the event tables.</summary>
    public const string DatabaseVariable = "COLDSTORE_CLICKHOUSE_DATABASE";

    /// <summary>
    /// The ClickHouse cluster the event tables are replicated across (unset: one server). With it, the statements an
    /// earlier run left running and unfinished deletes are looked for on every replica, and orphans killed on all.
    /// </summary>
    public const string ClusterVariable = "COLDSTORE_CLICKHOUSE_CLUSTER";

    /// <summary>State: <c>sqlite:&lt;file&gt;</c> or a Postgres connection string or URL.</summary>
    public const string StateVariable = "COLDSTORE_STATE";

    /// <summary>Archive: <c>file:&lt;dir&gt;</c> or <c>s3://bucket/prefix</c>.</summary>
    public const string ArchiveVariable = "COLDSTORE_ARCHIVE";

    /// <summary>The S3 endpoint Coldstore uses (MinIO, an emulator); unset for AWS.</summary>
    public const string S3EndpointVariable = "COLDSTORE_S3_ENDPOINT";

    /// <summary>The S3 endpoint as ClickHouse reaches it, when it differs from Coldstore's.</summary>
    public const string S3EndpointForClickHouseVariable = "COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE";

    /// <summary>A ClickHouse named collection holding the S3 credentials, so they never travel with queries.</summary>
    public const string S3NamedCollectionVariable = "COLDSTORE_S3_NAMED_COLLECTION";

    /// <summary>
    /// Seconds an archive or restore goes on trying to reach S3 once it stops answering, before the step fails with
    /// one line naming the endpoint and the step (5 to 3600; default 120). Bounds ClickHouse's <c>s3()</c> reads and
    /// writes and Coldstore's own S3 calls alike.
    /// </summary>
    public const string S3OutageVariable = "COLDSTORE_S3_OUTAGE_SECONDS";

    /// <summary>
    /// Seconds of fixed wait after an archive's cutoff, for writers the server does not show as running (decimal;
    /// default 0).
    /// </summary>
    public const string SettleWindowVariable = "COLDSTORE_SETTLE_SECONDS";

    /// <summary>
    /// The most seconds an archive waits for inserts that started by its cutoff and are still running (decimal;
    /// default 30).
    /// </summary>
    public const string InsertWaitVariable = "COLDSTORE_INSERT_WAIT_SECONDS";

    /// <summary>The most unfinished mutations a table may have for Coldstore to add a delete (1 to 900; default 100).</summary>
    public const string MutationBudgetVariable = "COLDSTORE_MUTATION_BUDGET";

    /// <summary>How many workspaces a batch moves together (1 to 1000; default 100); 1 moves each alone.</summary>
    public const string BatchSizeVariable = "COLDSTORE_BATCH_SIZE";

    /// <summary>
    /// Days a workspace must have been Tombstoned (or its row deleted) before the worker (and <c>coldstore purge</c>)
    /// purges its archives (1 to 36500); unset, archives are kept forever. A legal hold stops it.
    /// </summary>
    public const string PurgeAfterVariable = "COLDSTORE_PURGE_TOMBSTONED_AFTER_DAYS";

    /// <summary>
    /// The most rows one archive statement moves (100 to 1,000,000,000; default 1,000,000): a workspace with more is
    /// archived and restored in chunks of about this many, one by one, in bounded memory.
    /// </summary>
    public const string ChunkRowsVariable = "COLDSTORE_CHUNK_ROWS";

    /// <summary>
    /// <c>on</c> (default) or <c>off</c>. Off, lifecycle changes only set the status (as Dittofeed does without
    /// Coldstore) and the worker has nothing to do.
    /// </summary>
    public const string ColdStorageVariable = "COLDSTORE_COLD_STORAGE";

    /// <summary>Seconds a workspace lease lasts without renewal; a crashed holder blocks others this long (5 to 3600).</summary>
    public const string LeaseSecondsVariable = "COLDSTORE_LEASE_SECONDS";

    /// <summary>How many workspaces one worker moves at a time (1 to 64).</summary>
    public const string WorkerConcurrencyVariable = "COLDSTORE_WORKER_CONCURRENCY";

    /// <summary>Seconds between the worker's full passes over every workspace (notifications come sooner on Postgres).</summary>
    public const string WorkerPollSecondsVariable = "COLDSTORE_WORKER_POLL_SECONDS";

    /// <summary>The folder the embedded defaults live in, relative to the working directory.</summary>
    public const string DefaultHome = ".coldstore";

    /// <summary>Where ClickHouse is.</summary>
    public required ClickHouseTarget ClickHouse { get; init; }

    /// <summary>Where Coldstore's state is.</summary>
    public required StateTarget State { get; init; }

    /// <summary>Where archives go.</summary>
    public required ArchiveTarget Archive { get; init; }

    /// <summary>The ClickHouse event tables.</summary>
    public EventTables Tables { get; init; } = new();

    /// <summary>The S3 endpoint for Coldstore's own S3 calls, or null for AWS.</summary>
    public Uri? S3Endpoint { get; init; }

    /// <summary>The S3 endpoint ClickHouse uses, or null to use <see cref="S3Endpoint"/>.</summary>
    public Uri? S3EndpointForClickHouse { get; init; }

    /// <summary>The ClickHouse named collection with S3 credentials, or null.</summary>
    public string? S3NamedCollection { get; init; }

    /// <summary>How long a step goes on trying to reach S3 once it stops answering (see <see cref="S3OutageVariable"/>).</summary>
    public TimeSpan S3OutageBound { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The fixed wait after an archive's cutoff (see <see cref="SettleWindowVariable"/>).</summary>
    public TimeSpan SettleWindow { get; init; } = TimeSpan.Zero;

    /// <summary>The longest wait for inserts in flight at an archive's cutoff (see <see cref="InsertWaitVariable"/>).</summary>
    public TimeSpan InFlightInsertWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The most unfinished mutations per table before a delete waits (see <see cref="MutationBudgetVariable"/>).</summary>
    public int MutationBudget { get; init; } = 100;

    /// <summary>How many workspaces a batch moves together (see <see cref="BatchSizeVariable"/>).</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>How long a workspace stays Tombstoned before its archives are purged, or null for never (see <see cref="PurgeAfterVariable"/>).</summary>
    public TimeSpan? PurgeTombstonedAfter { get; init; }

    /// <summary>The most rows one archive statement moves (see <see cref="ChunkRowsVariable"/>).</summary>
    public long ChunkRows { get; init; } = 1_000_000;

    /// <summary>Whether lifecycle changes move events to and from cold storage.</summary>
    public bool ColdStorageEnabled { get; init; } = true;

    /// <summary>How long a workspace lease lasts without renewal.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many workspaces one worker moves at a time.</summary>
    public int WorkerConcurrency { get; init; } = 2;

    /// <summary>How often the worker re-reads every workspace.</summary>
    public TimeSpan WorkerPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The S3 region (from <c>AWS_REGION</c> or <c>AWS_DEFAULT_REGION</c>; default <c>us-east-1</c>).</summary>
    public string S3Region { get; init; } = "us-east-1";

    /// <summary>
    /// Reads and validates settings. <paramref name="overrides"/> (from CLI flags) win over <paramref name="environment"/>;
    /// relative paths resolve against <paramref name="workingDirectory"/>.
    /// </summary>
    /// <exception cref="ConfigurationException">A value is malformed; the message names the setting and quotes the value.</exception>
    public static ColdstoreSettings Read(
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyDictionary<string, string?> overrides,
        string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(overrides);
        string? Get(string name) =>
            overrides.TryGetValue(name, out var o) && !string.IsNullOrWhiteSpace(o) ? o.Trim()
            : environment.TryGetValue(name, out var e) && !string.IsNullOrWhiteSpace(e) ? e.Trim()
            : null;

        var home = Path.Combine(workingDirectory, DefaultHome);
        var database = Get(DatabaseVariable) ?? "default";
        if (!EventTables.IsValidIdentifier(database))
        {
            throw new ConfigurationException(DatabaseVariable,
                $"{DatabaseVariable}='{database}' is not a valid ClickHouse database name: use letters, digits and underscores, starting with a letter or underscore.");
        }

        var namedCollection = Get(S3NamedCollectionVariable);
        if (namedCollection is not null && !EventTables.IsValidIdentifier(namedCollection))
        {
            throw new ConfigurationException(S3NamedCollectionVariable,
                $"{S3NamedCollectionVariable}='{namedCollection}' is not a valid named collection name: use letters, digits and underscores.");
        }

        return new ColdstoreSettings
        {
            ClickHouse = ParseClickHouse(Get(ClickHouseVariable), home, workingDirectory),
            State = ParseState(Get(StateVariable), home, workingDirectory),
            Archive = ParseArchive(Get(ArchiveVariable), home, workingDirectory),
            Tables = new EventTables(database) { Cluster = ParseCluster(Get(ClusterVariable)) },
            S3Endpoint = ParseEndpoint(S3EndpointVariable, Get(S3EndpointVariable)),
            S3EndpointForClickHouse = ParseEndpoint(S3EndpointForClickHouseVariable, Get(S3EndpointForClickHouseVariable)),
            S3NamedCollection = namedCollection,
            S3Region = Get("AWS_REGION") ?? Get("AWS_DEFAULT_REGION") ?? "us-east-1",
            S3OutageBound = ParseSeconds(S3OutageVariable, Get(S3OutageVariable), TimeSpan.FromMinutes(2), minimum: 5),
            SettleWindow = ParseSeconds(SettleWindowVariable, Get(SettleWindowVariable), TimeSpan.Zero),
            InFlightInsertWait = ParseSeconds(InsertWaitVariable, Get(InsertWaitVariable), TimeSpan.FromSeconds(30)),
            MutationBudget = ParseCount(MutationBudgetVariable, Get(MutationBudgetVariable), fallback: 100, maximum: 900),
            BatchSize = ParseCount(BatchSizeVariable, Get(BatchSizeVariable), fallback: 100, maximum: 1000),
            PurgeTombstonedAfter = Get(PurgeAfterVariable) is { } days
                ? TimeSpan.FromDays(ParseCount(PurgeAfterVariable, days, fallback: 0, maximum: 36_500))
                : null,
            ChunkRows = ParseCount(ChunkRowsVariable, Get(ChunkRowsVariable), fallback: 1_000_000, maximum: 1_000_000_000, minimum: 100),
            ColdStorageEnabled = ParseSwitch(ColdStorageVariable, Get(ColdStorageVariable), fallback: true),
            LeaseDuration = ParseSeconds(LeaseSecondsVariable, Get(LeaseSecondsVariable), TimeSpan.FromSeconds(60), minimum: 5),
            WorkerConcurrency = ParseCount(WorkerConcurrencyVariable, Get(WorkerConcurrencyVariable), fallback: 2, maximum: 64),
            WorkerPollInterval = ParseSeconds(WorkerPollSecondsVariable, Get(WorkerPollSecondsVariable), TimeSpan.FromSeconds(30), minimum: 0.1),
        };
    }

    private static string? ParseCluster(string? value) =>
        value is null ? null
        : EventTables.IsValidIdentifier(value) ? value
        : throw new ConfigurationException(ClusterVariable,
            $"{ClusterVariable}='{value}' is not a valid ClickHouse cluster name: use letters, digits and underscores, starting with a letter or underscore.");

    /// <summary>Reads settings from this process's environment.</summary>
    public static ColdstoreSettings FromEnvironment(IReadOnlyDictionary<string, string?>? overrides = null, string? workingDirectory = null)
    {
        var environment = Environment.GetEnvironmentVariables()
            .Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);
        return Read(environment, overrides ?? new Dictionary<string, string?>(), workingDirectory ?? Directory.GetCurrentDirectory());
    }

    internal static ClickHouseTarget ParseClickHouse(string? value, string home, string workingDirectory)
    {
        if (value is null)
        {
            return new ClickHouseTarget.Embedded(Path.Combine(home, "chdb"));
        }

        if (value.StartsWith("embedded:", StringComparison.Ordinal) && value.Length > "embedded:".Length)
        {
            return new ClickHouseTarget.Embedded(Path.GetFullPath(value["embedded:".Length..], workingDirectory));
        }

        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && !string.IsNullOrEmpty(uri.Host))
        {
            return new ClickHouseTarget.Server(value);
        }

        throw new ConfigurationException(ClickHouseVariable,
            $"{ClickHouseVariable}='{SettingText.MaskUrlPassword(value)}' is not valid: use embedded:<directory> for embedded chDB, or http(s)://[user[:password]@]host:port[/database] for a ClickHouse server.");
    }

    internal static StateTarget ParseState(string? value, string home, string workingDirectory)
    {
        if (value is null)
        {
            return new StateTarget.Sqlite(Path.Combine(home, "state.db"));
        }

        if (value.StartsWith("sqlite:", StringComparison.Ordinal) && value.Length > "sqlite:".Length)
        {
            return new StateTarget.Sqlite(Path.GetFullPath(value["sqlite:".Length..], workingDirectory));
        }

        if (value.StartsWith("postgres://", StringComparison.Ordinal) || value.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            return new StateTarget.Postgres(SettingText.PostgresUrlToConnectionString(value, StateVariable));
        }

        if (value.Contains("Host=", StringComparison.OrdinalIgnoreCase) || value.Contains("Server=", StringComparison.OrdinalIgnoreCase))
        {
            return new StateTarget.Postgres(value);
        }

        throw new ConfigurationException(StateVariable,
            $"{StateVariable}='{SettingText.MaskConnectionString(value)}' is not valid: use sqlite:<file>, a Postgres URL postgres://user:password@host:5432/database, or an Npgsql connection string Host=…;Database=…;Username=….");
    }

    internal static ArchiveTarget ParseArchive(string? value, string home, string workingDirectory)
    {
        if (value is null)
        {
            return new ArchiveTarget.LocalDirectory(Path.Combine(home, "archive"));
        }

        if (value.StartsWith("file:", StringComparison.Ordinal) && value.Length > "file:".Length)
        {
            var path = value["file:".Length..];
            // Accept file:///abs/path as well as file:relative/path.
            path = path.StartsWith("//", StringComparison.Ordinal) ? path[2..] : path;
            return new ArchiveTarget.LocalDirectory(Path.GetFullPath(path, workingDirectory));
        }

        if (value.StartsWith("s3://", StringComparison.Ordinal))
        {
            var rest = value["s3://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..].Trim('/');
            if (IsValidBucket(bucket) && !prefix.Contains("//", StringComparison.Ordinal) && !prefix.Split('/').Contains(".."))
            {
                return new ArchiveTarget.S3(bucket, prefix.Length == 0 ? string.Empty : prefix + "/");
            }
        }

        throw new ConfigurationException(ArchiveVariable,
            $"{ArchiveVariable}='{value}' is not valid: use file:<directory> for a local directory, or s3://bucket[/prefix] (bucket: 3-63 lower-case letters, digits, dots or hyphens).");
    }

    private static TimeSpan ParseSeconds(string variable, string? value, TimeSpan fallback, double minimum = 0)
    {
        if (value is null)
        {
            return fallback;
        }

        return double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            && seconds >= minimum && seconds <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : throw new ConfigurationException(variable, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{variable}='{value}' is not valid: use a number of seconds from {minimum} to 3600, e.g. {Math.Max(minimum, 2)} or {Math.Max(minimum, 30)}."));
    }

    private static bool ParseSwitch(string variable, string? value, bool fallback) => value?.ToLowerInvariant() switch
    {
        null => fallback,
        "on" or "true" or "1" or "yes" => true,
        "off" or "false" or "0" or "no" => false,
        _ => throw new ConfigurationException(variable, $"{variable}='{value}' is not valid: use on or off."),
    };

    private static int ParseCount(string variable, string? value, int fallback, int maximum, int minimum = 1)
    {
        if (value is null)
        {
            return fallback;
        }

        return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count)
            && count >= minimum && count <= maximum
            ? count
            : throw new ConfigurationException(variable, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{variable}='{value}' is not valid: use a whole number from {minimum} to {maximum}."));
    }

    private static bool IsValidBucket(string bucket) =>
        bucket.Length is >= 3 and <= 63
        && bucket.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-')
        && char.IsAsciiLetterOrDigit(bucket[0]) && char.IsAsciiLetterOrDigit(bucket[^1]);

    private static Uri? ParseEndpoint(string variable, string? value)
    {
        if (value is null)
        {
            return null;
        }

        return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && string.IsNullOrEmpty(uri.UserInfo)
            ? uri
            : throw new ConfigurationException(variable,
                $"{variable}='{SettingText.MaskUrlPassword(value)}' is not valid: use an http(s)://host:port URL without credentials (credentials come from the AWS variables or a named collection).");
    }
}
