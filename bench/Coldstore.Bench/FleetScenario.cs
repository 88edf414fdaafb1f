using Coldstore.Domain;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// N workspaces of M events, all Paused, archived and then restored through the fleet path, against the floor: one
/// bare export of all their rows (one statement, a Parquet file per workspace), one bare delete of all of them, and
/// one bare insert-select back.
/// </summary>
internal sealed class FleetScenario(BenchOptions options, BenchHost host, PhaseTimer timer)
{
    private static readonly string Columns = ArchiveSql.StoredColumnList;

    public async Task<FleetResult> RunAsync()
    {
        var service = host.Service;
        var tables = service.Tables;
        await host.TruncateEventsAsync();
        var (n, m) = (options.FleetWorkspaces, options.FleetEvents);

        var ids = new List<Guid>(n);
        for (var i = 0; i < n; i++)
        {
            ids.Add((await service.CreateWorkspaceAsync(new NewWorkspace($"bench fleet {i}"))).Id);
        }

        var generate = await timer.MeasureAsync("fleet", "generate events", () => host.ClickHouse.ExecuteAsync(GeneratedEvents.Insert(tables, ids, m)));
        await host.WaitForQuietAsync(TimeSpan.FromMinutes(5));
        foreach (var id in ids)
        {
            // Paused without moving: the archive below is what moves them, timed.
            await service.PauseWorkspaceAsync(id, moveEvents: false);
        }

        var before = await ChecksumsAsync(ids);
        PhaseTimer.Expect(before.Count == n && before.Values.All(c => c.Events.Rows == m),
            $"generation gave {before.Count} workspaces with {string.Join("/", before.Values.Select(c => c.Events.Rows).Distinct().Take(5))} rows, not {n} with {m}");

        // The floor, first: ClickHouse alone, one statement each for all workspaces.
        var floorDirectory = Path.Combine(host.Directory, "fleet-floor");
        Directory.CreateDirectory(floorDirectory);
        var files = Path.Combine(floorDirectory, "ws-*.parquet");
        var ws = ids.Select(EventSql.WorkspaceIdText).ToArray();
        var floorExport = await timer.MeasureAsync("fleet", "floor: export all", () => host.ClickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO FUNCTION file({path:String}, 'Parquet') PARTITION BY workspace_id
                SELECT {{Columns}} FROM {{tables.QualifiedEvents}} WHERE workspace_id IN {workspaces:Array(String)}
                """)
            .With("path", "String", Path.Combine(floorDirectory, "ws-{_partition_id}.parquet"))
            .With("workspaces", "Array(String)", ws)
            .WithSettings(ArchiveSql.ExportSettings)
            .WithSetting("engine_file_truncate_on_insert", "1")
            .For("bench: floor export")));
        var exported = await Summary.ReadAsync(host.ClickHouse, new ClickHouseQuery(
                $"SELECT count() AS rows, sum({ArchiveSql.RowHash}) AS checksum FROM file({{path:String}}, 'Parquet', {{structure:String}})")
            .With("path", "String", files)
            .With("structure", "String", SchemaSql.StoredColumnsStructure)
            .WithSettings(ArchiveSql.ReadArchiveSettings)
            .For("bench: floor read back"));
        var hot = await Summary.ReadAsync(host.ClickHouse, new ClickHouseQuery(
                $"SELECT count() AS rows, sum({ArchiveSql.RowHash}) AS checksum FROM {tables.QualifiedEvents} WHERE workspace_id IN {{workspaces:Array(String)}}")
            .With("workspaces", "Array(String)", ws)
            .For("bench: floor hot summary"));
        PhaseTimer.Expect(exported == hot && hot.Rows == (long)n * m, $"the floor's export holds {exported}, the hot rows are {hot}");

        var floorDelete = await timer.MeasureAsync("fleet", "floor: delete all", () => BareDelete.RunAsync(host.ClickHouse, tables, ids, "bench: floor delete"));
        PhaseTimer.Expect(await HotRowsAsync(ws) == 0, "the floor's delete left rows");

        var floorInsert = await timer.MeasureAsync("fleet", "floor: insert all back", () => host.ClickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO {{tables.QualifiedEvents}} ({{Columns}})
                SELECT {{Columns}} FROM file({path:String}, 'Parquet', {structure:String})
                """)
            .With("path", "String", files)
            .With("structure", "String", SchemaSql.StoredColumnsStructure)
            .WithSettings(ArchiveSql.RestoreSettings)
            .For("bench: floor insert back")));
        await ExpectUnchangedAsync(ids, before, "the floor's round trip");

        // Coldstore: every workspace through the fleet path, then the same proof.
        var archived = new OperationResult[n];
        var archive = await timer.MeasureAsync("fleet", "archive all", async () => archived = await ArchiveFleetAsync(ids));
        PhaseTimer.Expect(archived.All(r => r.Rows == m), $"an archive moved {archived.Select(r => r.Rows).FirstOrDefault(rows => rows != m)} rows, not {m}");
        var deletes = await timer.MeasureAsync("fleet", "archive deletes", host.WaitForMutationsAsync);
        PhaseTimer.Expect(await HotRowsAsync(ws) == 0, "rows of archived workspaces are still hot");

        var restored = new OperationResult[n];
        var restore = await timer.MeasureAsync("fleet", "restore all", async () => restored = await RestoreFleetAsync(ids));
        PhaseTimer.Expect(restored.All(r => r.Rows == m), $"a restore moved {restored.Select(r => r.Rows).FirstOrDefault(rows => rows != m)} rows, not {m}");
        await ExpectUnchangedAsync(ids, before, "Coldstore's round trip");

        return new FleetResult(n, m, options.BatchSize, generate, floorExport, floorDelete, floorInsert, archive, deletes, restore,
            archived.Sum(r => r.Bytes), StepTotals(archived), StepTotals(restored));
    }

    /// <summary>Where the time of every workspace's operation went: each step's duration summed over the fleet, longest first.</summary>
    internal static IReadOnlyList<StepTotal> StepTotals(IEnumerable<OperationResult> results) =>
        [.. results.SelectMany(r => r.Steps)
            .GroupBy(step => step.Name)
            .Select(group => new StepTotal(group.Key, group.Sum(step => step.Duration.TotalSeconds)))
            .OrderByDescending(total => total.Seconds)];

    /// <summary>
    /// Archives every workspace through the batch API, as <c>coldstore archive --status Paused</c> does (batches of
    /// <see cref="ColdstoreOptions.BatchSize"/>); a workspace that fails fails the run.
    /// </summary>
    private async Task<OperationResult[]> ArchiveFleetAsync(IReadOnlyList<Guid> workspaceIds) =>
        Results(await host.Service.ColdStoreWorkspacesEventsAsync(workspaceIds), "archiving");

    /// <summary>Restores every workspace through the batch API, as <c>coldstore restore --status Active</c> does.</summary>
    private async Task<OperationResult[]> RestoreFleetAsync(IReadOnlyList<Guid> workspaceIds) =>
        Results(await host.Service.RestoreWorkspacesEventsAsync(workspaceIds), "restoring");

    /// <summary>Every workspace's result; a workspace that failed fails the run.</summary>
    private static OperationResult[] Results(IReadOnlyList<WorkspaceOutcome> outcomes, string what)
    {
        var failed = outcomes.FirstOrDefault(o => !o.Ok);
        PhaseTimer.Expect(failed is null, $"{what} workspace {failed?.WorkspaceId} failed: {failed?.Error?.Message}");
        return [.. outcomes.Select(o => o.Result!)];
    }

    private async Task<long> HotRowsAsync(string[] workspaces) =>
        (await host.ClickHouse.QueryAsync(new ClickHouseQuery($"SELECT count() AS rows FROM {host.Service.Tables.QualifiedEvents} WHERE workspace_id IN {{workspaces:Array(String)}}")
            .With("workspaces", "Array(String)", workspaces)
            .For("bench: fleet hot rows"))).Single().GetInt64("rows");

    private async Task ExpectUnchangedAsync(IReadOnlyList<Guid> ids, IReadOnlyDictionary<string, FleetChecksums> before, string what)
    {
        var after = await ChecksumsAsync(ids);
        var changed = before.Where(pair => !after.TryGetValue(pair.Key, out var now) || now != pair.Value).Select(pair => pair.Key).ToList();
        PhaseTimer.Expect(changed.Count == 0 && after.Count == before.Count,
            $"after {what}, {changed.Count} of {before.Count} workspaces differ (first: {changed.FirstOrDefault()}); {after.Count} have rows");
    }

    /// <summary>
    /// Count and full-row checksum per workspace in both tables, in two grouped statements for the whole fleet.
    /// <c>cityHash64(*)</c> hashes every column of the table, derived ones included.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, FleetChecksums>> ChecksumsAsync(IReadOnlyList<Guid> ids)
    {
        var ws = ids.Select(EventSql.WorkspaceIdText).ToArray();
        async Task<Dictionary<string, Summary>> ReadAsync(string table)
        {
            var rows = await host.ClickHouse.QueryAsync(new ClickHouseQuery(
                    $"SELECT workspace_id, count() AS rows, sum(cityHash64(*)) AS checksum FROM {table} WHERE workspace_id IN {{workspaces:Array(String)}} GROUP BY workspace_id")
                .With("workspaces", "Array(String)", ws)
                .For("bench: fleet checksums"));
            return rows.ToDictionary(row => row.GetString("workspace_id"), row => new Summary(row.GetInt64("rows"), row.GetUInt64("checksum")));
        }

        var events = await ReadAsync(host.Service.Tables.QualifiedEvents);
        var internals = await ReadAsync(host.Service.Tables.QualifiedInternalEvents);
        return events.ToDictionary(pair => pair.Key, pair => new FleetChecksums(pair.Value, internals.GetValueOrDefault(pair.Key, new Summary(0, 0))));
    }

    private sealed record FleetChecksums(Summary Events, Summary Internal);
}

/// <summary>What the fleet scenario measured.</summary>
internal sealed record FleetResult(
    int Workspaces,
    int EventsPerWorkspace,
    int BatchSize,
    PhaseSample Generate,
    PhaseSample FloorExport,
    PhaseSample FloorDelete,
    PhaseSample FloorInsert,
    PhaseSample Archive,
    PhaseSample ArchiveDeletes,
    PhaseSample Restore,
    long ArchiveBytes,
    IReadOnlyList<StepTotal> ArchiveSteps,
    IReadOnlyList<StepTotal> RestoreSteps)
{
    public PhaseSample FloorArchive => FloorExport.Then(FloorDelete);

    public PhaseSample ArchiveWithDeletes => Archive.Then(ArchiveDeletes);

    public double ArchiveRate => Rate(Archive);

    public double ArchiveWithDeletesRate => Rate(ArchiveWithDeletes);

    public double RestoreRate => Rate(Restore);

    public double FloorArchiveRate => Rate(FloorArchive);

    public double FloorRestoreRate => Rate(FloorInsert);

    private double Rate(PhaseSample sample) => Workspaces / sample.Elapsed.TotalSeconds;
}

/// <summary>One step of archive or restore, its durations summed over every workspace of the fleet.</summary>
internal sealed record StepTotal(string Name, double Seconds);
