using System.CommandLine;
using Coldstore.Configuration;
using Coldstore.Errors;

namespace Coldstore.Cli;

/// <summary>Options every command accepts; each setting flag overrides its environment variable.</summary>
internal sealed class GlobalOptions
{
    public Option<string?> ClickHouse { get; } = Setting("--clickhouse", ColdstoreSettings.ClickHouseVariable, "embedded:<dir> or http(s)://[user:password@]host:port[/database]");

    public Option<string?> Database { get; } = Setting("--database", ColdstoreSettings.DatabaseVariable, "ClickHouse database holding user_events_v2 (default: default)");

    /// <summary>The ClickHouse cluster the tables are replicated across.</summary>
    public Option<string?> Cluster { get; } = Setting("--cluster", ColdstoreSettings.ClusterVariable, "ClickHouse cluster the event tables are replicated across: orphaned statements and pending deletes are looked for on every replica (default: one server)");

    public Option<string?> State { get; } = Setting("--state", ColdstoreSettings.StateVariable, "sqlite:<file> or a Postgres URL / connection string");

    public Option<string?> Archive { get; } = Setting("--archive", ColdstoreSettings.ArchiveVariable, "file:<dir> or s3://bucket/prefix");

    public Option<string?> S3Endpoint { get; } = Setting("--s3-endpoint", ColdstoreSettings.S3EndpointVariable, "S3 endpoint Coldstore uses (MinIO, emulator)");

    public Option<string?> S3EndpointForClickHouse { get; } = Setting("--s3-endpoint-for-clickhouse", ColdstoreSettings.S3EndpointForClickHouseVariable, "S3 endpoint as ClickHouse reaches it");

    public Option<string?> S3NamedCollection { get; } = Setting("--s3-named-collection", ColdstoreSettings.S3NamedCollectionVariable, "ClickHouse named collection holding S3 credentials");

    public Option<string?> S3OutageSeconds { get; } = Setting("--s3-outage-seconds", ColdstoreSettings.S3OutageVariable, "seconds a step goes on trying to reach S3 once it stops answering, then fails (default 120)");

    public Option<string?> SettleSeconds { get; } = Setting("--settle-seconds", ColdstoreSettings.SettleWindowVariable, "fixed seconds an archive waits after its cutoff, for writers the server does not show (default 0)");

    public Option<string?> InsertWaitSeconds { get; } = Setting("--insert-wait-seconds", ColdstoreSettings.InsertWaitVariable, "most seconds an archive waits for inserts running at its cutoff (default 30)");

    public Option<string?> MutationBudget { get; } = Setting("--mutation-budget", ColdstoreSettings.MutationBudgetVariable, "most unfinished mutations a table may have for a delete to be added (default 100)");

    public Option<string?> BatchSize { get; } = Setting("--batch-size", ColdstoreSettings.BatchSizeVariable, "workspaces moved together in one batch (1 to 1000; default 100)");

    public Option<string?> PurgeAfterDays { get; } = Setting("--purge-after-days", ColdstoreSettings.PurgeAfterVariable, "purge archives of workspaces tombstoned (or deleted) this many days ago, unless held (default: never)");

    public Option<string?> ChunkRows { get; } = Setting("--chunk-rows", ColdstoreSettings.ChunkRowsVariable, "the most rows one archive statement moves; larger workspaces go in chunks (default 1000000)");

    public Option<string?> ColdStorage { get; } = Setting("--cold-storage", ColdstoreSettings.ColdStorageVariable, "on (default) or off: off, lifecycle commands only change the status");

    public Option<string?> LeaseSeconds { get; } = Setting("--lease-seconds", ColdstoreSettings.LeaseSecondsVariable, "seconds a workspace lease lasts without renewal (default 60)");

    public Option<double> WaitSeconds { get; } = new("--wait")
    {
        Description = "Seconds to wait for another operation on the same workspace before giving up with exit code 3 (default 0: fail at once)",
        Recursive = true,
        HelpName = "seconds",
        DefaultValueFactory = _ => 0,
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Print machine-readable JSON on stdout", Recursive = true };

    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log each step to stderr", Recursive = true };

    public void AddTo(Command root)
    {
        foreach (var option in new Option[] { ClickHouse, Database, Cluster, State, Archive, S3Endpoint, S3EndpointForClickHouse, S3NamedCollection, S3OutageSeconds, SettleSeconds, InsertWaitSeconds, MutationBudget, BatchSize, ChunkRows, PurgeAfterDays, ColdStorage, LeaseSeconds, WaitSeconds, Json, Verbose })
        {
            root.Options.Add(option);
        }
    }

    /// <summary>The setting overrides given on this command line, keyed by environment variable.</summary>
    public Dictionary<string, string?> Overrides(ParseResult parseResult) => new(StringComparer.Ordinal)
    {
        [ColdstoreSettings.ClickHouseVariable] = parseResult.GetValue(ClickHouse),
        [ColdstoreSettings.DatabaseVariable] = parseResult.GetValue(Database),
        [ColdstoreSettings.ClusterVariable] = parseResult.GetValue(Cluster),
        [ColdstoreSettings.StateVariable] = parseResult.GetValue(State),
        [ColdstoreSettings.ArchiveVariable] = parseResult.GetValue(Archive),
        [ColdstoreSettings.S3EndpointVariable] = parseResult.GetValue(S3Endpoint),
        [ColdstoreSettings.S3EndpointForClickHouseVariable] = parseResult.GetValue(S3EndpointForClickHouse),
        [ColdstoreSettings.S3NamedCollectionVariable] = parseResult.GetValue(S3NamedCollection),
        [ColdstoreSettings.S3OutageVariable] = parseResult.GetValue(S3OutageSeconds),
        [ColdstoreSettings.SettleWindowVariable] = parseResult.GetValue(SettleSeconds),
        [ColdstoreSettings.InsertWaitVariable] = parseResult.GetValue(InsertWaitSeconds),
        [ColdstoreSettings.MutationBudgetVariable] = parseResult.GetValue(MutationBudget),
        [ColdstoreSettings.BatchSizeVariable] = parseResult.GetValue(BatchSize),
        [ColdstoreSettings.ChunkRowsVariable] = parseResult.GetValue(ChunkRows),
        [ColdstoreSettings.PurgeAfterVariable] = parseResult.GetValue(PurgeAfterDays),
        [ColdstoreSettings.ColdStorageVariable] = parseResult.GetValue(ColdStorage),
        [ColdstoreSettings.LeaseSecondsVariable] = parseResult.GetValue(LeaseSeconds),
    };

    /// <summary>A seconds option's value as a time span, or a configuration error naming the option and its range.</summary>
    public static TimeSpan Seconds(string option, double value, double minimum, double maximum) =>
        value >= minimum && value <= maximum && !double.IsNaN(value)
            ? TimeSpan.FromSeconds(value)
            : throw new ConfigurationException(option, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{option} {value} is not valid: use a number of seconds from {minimum} to {maximum}."));

    private static Option<string?> Setting(string name, string variable, string description) =>
        new(name) { Description = $"{description} [env: {variable}]", Recursive = true, HelpName = "value" };
}
