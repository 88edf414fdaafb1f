using Coldstore.Sql;

namespace Coldstore.Configuration;

/// <summary>
/// The core's own settings: which tables, how archives settle and wait, batching, chunking, retention, leases and the
/// worker's pace. Where ClickHouse, the state and the archives are is the adapters' business (each declares and
/// validates its own settings); the composition picks them. Every setting is read through a <see cref="SettingSource"/>,
/// so flags, <c>COLDSTORE_*</c> variables and a configuration section fill the same values, validated the same way.
/// </summary>
public sealed record ColdstoreSettings
{
    /// <summary>The variable naming ClickHouse (the composition reads it; messages point at it).</summary>
    public const string ClickHouseVariable = "COLDSTORE_CLICKHOUSE";

    /// <summary>The variable naming the state store.</summary>
    public const string StateVariable = "COLDSTORE_STATE";

    /// <summary>The variable naming the archive store.</summary>
    public const string ArchiveVariable = "COLDSTORE_ARCHIVE";

    /// <summary>The ClickHouse database holding the event tables.</summary>
    public const string DatabaseVariable = "COLDSTORE_CLICKHOUSE_DATABASE";

    /// <summary>The ClickHouse cluster the event tables are replicated across.</summary>
    public const string ClusterVariable = "COLDSTORE_CLICKHOUSE_CLUSTER";

    /// <summary>Seconds of fixed wait after an archive's cutoff.</summary>
    public const string SettleWindowVariable = "COLDSTORE_SETTLE_SECONDS";

    /// <summary>The most seconds an archive waits for inserts running at its cutoff.</summary>
    public const string InsertWaitVariable = "COLDSTORE_INSERT_WAIT_SECONDS";

    /// <summary>The most unfinished mutations a table may have for Coldstore to add a delete.</summary>
    public const string MutationBudgetVariable = "COLDSTORE_MUTATION_BUDGET";

    /// <summary>How many workspaces a batch moves together.</summary>
    public const string BatchSizeVariable = "COLDSTORE_BATCH_SIZE";

    /// <summary>Days a workspace stays Tombstoned (or deleted) before its archives are purged.</summary>
    public const string PurgeAfterVariable = "COLDSTORE_PURGE_TOMBSTONED_AFTER_DAYS";

    /// <summary>The most rows one archive statement moves.</summary>
    public const string ChunkRowsVariable = "COLDSTORE_CHUNK_ROWS";

    /// <summary><c>on</c> or <c>off</c>: whether lifecycle changes move events.</summary>
    public const string ColdStorageVariable = "COLDSTORE_COLD_STORAGE";

    /// <summary>Seconds a workspace lease lasts without renewal.</summary>
    public const string LeaseSecondsVariable = "COLDSTORE_LEASE_SECONDS";

    /// <summary>How many workspaces one worker moves at a time.</summary>
    public const string WorkerConcurrencyVariable = "COLDSTORE_WORKER_CONCURRENCY";

    /// <summary>Seconds between the worker's full passes.</summary>
    public const string WorkerPollSecondsVariable = "COLDSTORE_WORKER_POLL_SECONDS";

    /// <summary>The core's settings as every surface names them (configuration key, variable, flag).</summary>
    public static class Definitions
    {
        /// <summary>
        /// Which ClickHouse (<c>ClickHouse</c>). Its value picks the adapter, which reads it; the composition lists the
        /// accepted forms. Unset: embedded.
        /// </summary>
        public static SettingDefinition ClickHouse { get; } = new("ClickHouse", ClickHouseVariable, "--clickhouse", "where ClickHouse is");

        /// <summary>Which state store (<c>State</c>); as <see cref="ClickHouse"/>.</summary>
        public static SettingDefinition State { get; } = new("State", StateVariable, "--state", "where Coldstore's state is");

        /// <summary>Which archive store (<c>Archive</c>); as <see cref="ClickHouse"/>.</summary>
        public static SettingDefinition Archive { get; } = new("Archive", ArchiveVariable, "--archive", "where archives go");

        /// <summary>The database (<c>Database</c>; default <c>default</c>).</summary>
        public static SettingDefinition Database { get; } = new("Database", DatabaseVariable, "--database",
            "ClickHouse database holding user_events_v2 (default: default)");

        /// <summary>The cluster (<c>Cluster</c>; unset: one server).</summary>
        public static SettingDefinition Cluster { get; } = new("Cluster", ClusterVariable, "--cluster",
            "ClickHouse cluster the event tables are replicated across: orphaned statements and pending deletes are looked for on every replica (default: one server)");

        /// <summary>The settle window (<c>SettleSeconds</c>).</summary>
        public static SettingDefinition SettleSeconds { get; } = new("SettleSeconds", SettleWindowVariable, "--settle-seconds",
            "fixed seconds an archive waits after its cutoff, for writers the server does not show (0 to 3600; default 0)");

        /// <summary>The in-flight insert wait (<c>InsertWaitSeconds</c>).</summary>
        public static SettingDefinition InsertWaitSeconds { get; } = new("InsertWaitSeconds", InsertWaitVariable, "--insert-wait-seconds",
            "most seconds an archive waits for inserts running at its cutoff (0 to 3600; default 30)");

        /// <summary>The mutation budget (<c>MutationBudget</c>).</summary>
        public static SettingDefinition MutationBudget { get; } = new("MutationBudget", MutationBudgetVariable, "--mutation-budget",
            "most unfinished mutations a table may have for a delete to be added (1 to 900; default 100)");

        /// <summary>The batch size (<c>BatchSize</c>).</summary>
        public static SettingDefinition BatchSize { get; } = new("BatchSize", BatchSizeVariable, "--batch-size",
            "workspaces moved together in one batch (1 to 1000; default 100); 1 moves each alone");

        /// <summary>The retention (<c>PurgeTombstonedAfterDays</c>).</summary>
        public static SettingDefinition PurgeTombstonedAfterDays { get; } = new("PurgeTombstonedAfterDays", PurgeAfterVariable, "--purge-after-days",
            "purge archives of workspaces tombstoned (or deleted) this many days ago, unless held (1 to 36500; default: never)");

        /// <summary>The chunk size (<c>ChunkRows</c>).</summary>
        public static SettingDefinition ChunkRows { get; } = new("ChunkRows", ChunkRowsVariable, "--chunk-rows",
            "the most rows one archive statement moves; larger workspaces go in chunks (100 to 1000000000; default 1000000)");

        /// <summary>The cold-storage switch (<c>ColdStorage</c>).</summary>
        public static SettingDefinition ColdStorage { get; } = new("ColdStorage", ColdStorageVariable, "--cold-storage",
            "on (default) or off: off, lifecycle commands only change the status and the worker has nothing to do");

        /// <summary>The lease duration (<c>LeaseSeconds</c>).</summary>
        public static SettingDefinition LeaseSeconds { get; } = new("LeaseSeconds", LeaseSecondsVariable, "--lease-seconds",
            "seconds a workspace lease lasts without renewal; a crashed holder blocks others this long (5 to 3600; default 60)");

        /// <summary>The worker's concurrency (<c>Worker:Concurrency</c>; flag of the worker command).</summary>
        public static SettingDefinition WorkerConcurrency { get; } = new("Worker:Concurrency", WorkerConcurrencyVariable, "--concurrency",
            "workspaces the worker moves at a time (1 to 64; default 2)");

        /// <summary>The worker's full-pass interval (<c>Worker:PollSeconds</c>; flag of the worker command).</summary>
        public static SettingDefinition WorkerPollSeconds { get; } = new("Worker:PollSeconds", WorkerPollSecondsVariable, "--poll-seconds",
            "seconds between the worker's full passes; Postgres notifications come sooner (0.1 to 3600; default 30)");

        /// <summary>Every core setting, the three adapter choices first, in the order help lists them.</summary>
        public static IReadOnlyList<SettingDefinition> All { get; } =
        [
            ClickHouse, State, Archive, Database, Cluster, SettleSeconds, InsertWaitSeconds, MutationBudget, BatchSize, ChunkRows, PurgeTombstonedAfterDays,
            ColdStorage, LeaseSeconds, WorkerConcurrency, WorkerPollSeconds,
        ];
    }

    /// <summary>The ClickHouse event tables.</summary>
    public EventTables Tables { get; init; } = new();

    /// <summary>The fixed wait after an archive's cutoff.</summary>
    public TimeSpan SettleWindow { get; init; } = TimeSpan.Zero;

    /// <summary>The longest wait for inserts in flight at an archive's cutoff.</summary>
    public TimeSpan InFlightInsertWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The most unfinished mutations per table before a delete waits.</summary>
    public int MutationBudget { get; init; } = 100;

    /// <summary>How many workspaces a batch moves together.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>How long a workspace stays Tombstoned before its archives are purged, or null for never.</summary>
    public TimeSpan? PurgeTombstonedAfter { get; init; }

    /// <summary>The most rows one archive statement moves.</summary>
    public long ChunkRows { get; init; } = 1_000_000;

    /// <summary>Whether lifecycle changes move events to and from cold storage.</summary>
    public bool ColdStorageEnabled { get; init; } = true;

    /// <summary>How long a workspace lease lasts without renewal.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many workspaces one worker moves at a time.</summary>
    public int WorkerConcurrency { get; init; } = 2;

    /// <summary>How often the worker re-reads every workspace.</summary>
    public TimeSpan WorkerPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Reads and validates the core's settings.</summary>
    /// <exception cref="Errors.ConfigurationException">A value is malformed; the message names the setting as given and quotes the value.</exception>
    public static ColdstoreSettings Read(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ColdstoreSettings
        {
            Tables = new EventTables(source.Identifier(Definitions.Database, "database name") ?? "default")
            {
                Cluster = source.Identifier(Definitions.Cluster, "cluster name"),
            },
            SettleWindow = source.Seconds(Definitions.SettleSeconds, TimeSpan.Zero),
            InFlightInsertWait = source.Seconds(Definitions.InsertWaitSeconds, TimeSpan.FromSeconds(30)),
            MutationBudget = source.Count(Definitions.MutationBudget, fallback: 100, maximum: 900),
            BatchSize = source.Count(Definitions.BatchSize, fallback: 100, maximum: 1000),
            PurgeTombstonedAfter = source.OptionalCount(Definitions.PurgeTombstonedAfterDays, maximum: 36_500) is { } days ? TimeSpan.FromDays(days) : null,
            ChunkRows = source.Count(Definitions.ChunkRows, fallback: 1_000_000, maximum: 1_000_000_000, minimum: 100),
            ColdStorageEnabled = source.Switch(Definitions.ColdStorage, fallback: true),
            LeaseDuration = source.Seconds(Definitions.LeaseSeconds, TimeSpan.FromSeconds(60), minimum: 5),
            WorkerConcurrency = source.Count(Definitions.WorkerConcurrency, fallback: 2, maximum: 64),
            WorkerPollInterval = source.Seconds(Definitions.WorkerPollSeconds, TimeSpan.FromSeconds(30), minimum: 0.1),
        };
    }
}
