using System.Globalization;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Ports;
using Coldstore.Services;

namespace Coldstore.Bench;

/// <summary>
/// Erasing one user from a workspace's archive. Per round, a fresh workspace of N events (the single scenario's
/// generator and seed, ingested through <c>IngestAsync</c>) is copied bare to Parquet in the archive store (baseline
/// A, verified), archived (the second denominator), and then the user holding the most of its events is erased
/// (<c>EraseUsersAsync</c>), each timed, back to back. Twice per round: with the service's chunk size (one archive for
/// at most a million events) and, unless <c>--erase-chunks 1</c>, with <c>ChunkRows</c> set so the workspace is
/// archived in several chunks (several archives to rewrite).
/// </summary>
/// <remarks>
/// Each erase is checked, or the run fails: the erasure is applied, it erased exactly the rows the archive held for the
/// user, the archive then holds none of them and every other row unchanged (count and checksum of the rest, read
/// in place before and after), and every archive still matches its manifest.
/// </remarks>
internal sealed class EraseScenario(BenchOptions options, BenchHost host, PhaseTimer timer)
{
    /// <summary>The single scenario's seed: the same events, so the same user holds the most of them.</summary>
    private const int Seed = 42;

    /// <summary>The query the brief names: the user with the most archived events.</summary>
    private const string TopUserSql =
        "SELECT user_id, count() AS n FROM user_events_v2 WHERE user_id != '' GROUP BY user_id ORDER BY n DESC LIMIT 1";

    /// <summary>The full-row hash of an archived row, as the archive's own checksum computes it over the stored columns.</summary>
    private const string RowHash = Sql.ArchiveSql.RowHash;

    public async Task<EraseResult> RunAsync()
    {
        await host.TruncateEventsAsync();
        // In the archive store's own directory (beside its workspace prefixes, under none): the same disk the erase
        // reads and writes, so the ratio compares protocols, not disks.
        var baselineFile = Path.Combine(host.ArchiveDirectory, "bench-baseline", "erase-baseline.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(baselineFile)!);
        var baselines = new RawBaselines(host.ClickHouse, host.Service.Tables, baselineFile);

        var variants = new List<Variant> { new(host.Service, new List<EraseRound>()) };
        if (options.EraseChunks > 1)
        {
            var chunkRows = (options.Events + options.EraseChunks - 1) / options.EraseChunks;
            variants.Add(new(host.ServiceWith(o => o with { ChunkRows = chunkRows }), new List<EraseRound>()));
        }

        // Variants alternate within a round, so drift over the run affects both alike.
        for (var w = 1; w <= options.Warmup; w++)
        {
            foreach (var variant in variants)
            {
                await RoundAsync(variant.Service, baselines, $"erase warm-up {w}/{options.Warmup}, ChunkRows {variant.Service.Options.ChunkRows:N0}", 0);
            }
        }

        for (var r = 1; r <= options.Repeat; r++)
        {
            foreach (var variant in variants)
            {
                variant.Rounds.Add(await RoundAsync(variant.Service, baselines, $"erase {r}/{options.Repeat}, ChunkRows {variant.Service.Options.ChunkRows:N0}", r));
            }
        }

        return new EraseResult(options.Events, options.Repeat, options.Warmup,
            [.. variants.Select(v => new EraseVariant(v.Service.Options.ChunkRows, v.Rounds))]);
    }

    private async Task<EraseRound> RoundAsync(ColdstoreService service, RawBaselines baselines, string label, int round)
    {
        var events = options.Events;
        // Every round from empty hot tables: the rows earlier rounds archived stay in their parts, masked by the
        // archive's lightweight deletes, until merges drop them, and the erase's hot delete is a mutation of every part.
        await host.TruncateEventsAsync();
        var workspace = (await service.CreateWorkspaceAsync(new NewWorkspace($"bench erase {label}"))).Id;
        var ingest = await service.IngestAsync(workspace, SegmentEventGenerator.Generate(events, Seed));
        PhaseTimer.Expect(ingest.Rows == events, $"{label}: ingested {ingest.Rows} events, not {events}");
        timer.Log($"[{label}] ingested {ingest.Rows:N0} events in {ingest.Duration.TotalSeconds:F2} s");
        await host.WaitForQuietAsync(TimeSpan.FromMinutes(2));

        var copy = await timer.MeasureAsync(label, "A: baseline copy", () => baselines.CopyAndVerifyAsync(workspace));

        OperationResult? archived = null;
        var archive = await timer.MeasureAsync(label, "archive", async () => archived = await service.ColdStoreWorkspaceEventsAsync(workspace));
        PhaseTimer.Expect(archived!.Rows == events, $"{label}: the archive moved {archived.Rows} rows, not {events}");
        // Untimed: a delete the archive left running, and the merges after it, would otherwise be billed to the erase
        // (it waits for the workspace's deletes before it counts its own as applied).
        await baselines.WaitForDeletesAsync(workspace);
        await host.WaitForQuietAsync(TimeSpan.FromMinutes(2));

        var top = (await service.QueryArchivesAsync(workspace, TopUserSql)).Rows;
        PhaseTimer.Expect(top.Count == 1, $"{label}: no identified user in the archive");
        var user = top[0].GetString("user_id");
        var userRows = top[0].GetInt64("n");
        var kept = await ArchivedAsync(service, workspace, $"WHERE user_id != {Literal(user)}");
        PhaseTimer.Expect(kept.Rows + userRows == events, $"{label}: the archive holds {kept.Rows} rows of others and {userRows} of {user}, not {events} in all");

        // Untimed, for reading the hot delete's share: the erase's hot delete is a mutation of every active part of both tables.
        var parts = await host.ClickHouse.QueryAsync(new ClickHouseQuery("""
                SELECT count() AS parts, toInt64(sum(rows)) AS rows FROM system.parts
                WHERE database = {database:String} AND table IN {tables:Array(String)} AND active
                """)
            .With("database", "String", service.Tables.Database)
            .With("tables", "Array(String)", new[] { service.Tables.Events, service.Tables.InternalEvents })
            .For("bench: hot parts before the erase"));
        var hotParts = parts.Single().GetInt64("parts");
        var hotRows = parts.Single().GetInt64("rows");
        var masked = (await host.ClickHouse.QueryAsync(new ClickHouseQuery($"SELECT count() AS rows FROM {service.Tables.QualifiedEvents} WHERE workspace_id = {{workspace_id:String}}")
                .With("workspace_id", "String", Sql.EventSql.WorkspaceIdText(workspace))
                .WithSetting("apply_deleted_mask", "0")
                .For("bench: archived rows still in hot parts"))).Single().GetInt64("rows");

        ErasureResult? erased = null;
        var erase = await timer.MeasureAsync(label, "erase", async () => erased = await service.EraseUsersAsync(workspace, new ErasureRequest([user], [], "bench")));
        var record = erased!.Erasure;
        PhaseTimer.Expect(record is { State: ErasureState.Applied } && erased.PendingBecause is null,
            $"{label}: the erasure is {record?.State.ToText() ?? "missing"}{(erased.PendingBecause is { } why ? $" ({why})" : "")}");
        var progress = record!.Progress;
        PhaseTimer.Expect(progress.ArchivedRowsErased == userRows, $"{label}: the erase removed {progress.ArchivedRowsErased} archived rows, the archive held {userRows} of {user}");

        var after = (await service.QueryArchivesAsync(workspace,
            $"SELECT countIf(user_id = {Literal(user)}) AS remaining, count() AS rows, sum({RowHash}) AS checksum FROM user_events_v2")).Rows.Single();
        PhaseTimer.Expect(after.GetInt64("remaining") == 0, $"{label}: {after.GetInt64("remaining")} rows of {user} are still archived after the erase");
        var rest = new Summary(after.GetInt64("rows"), after.GetUInt64("checksum"));
        PhaseTimer.Expect(rest == kept, $"{label}: the other users' archived rows are {rest} after the erase, were {kept}");
        var broken = (await service.VerifyWorkspaceArchivesAsync(workspace)).Where(c => c.State == ArchiveState.Archived && !c.Ok).ToList();
        PhaseTimer.Expect(broken.Count == 0, $"{label}: after the erase archive {broken.FirstOrDefault()?.ArchiveId} does not match its manifest: {broken.FirstOrDefault()?.Problem}");

        var newObjects = progress.Archives.SelectMany(a => a.NewObjects).ToList();
        var sample = new EraseRound(
            round, copy, archive, erase, user, userRows, archived.Archives.Count, archived.Bytes, progress.Archives.Count,
            newObjects.Count, progress.Archives.Sum(a => a.ReplacedKeys.Count) - newObjects.Count, newObjects.Sum(o => o.Size), hotParts, hotRows,
            [.. erased.Steps.GroupBy(s => s.Name).Select(g => new StepTotal(g.Key, g.Sum(s => s.Duration.TotalSeconds)))]);
        timer.Log($"[{label}] erased {userRows} rows of {user} from {sample.ArchivesRewritten} of {sample.Archives} archives ({sample.ObjectsRewritten} objects rewritten, {sample.ObjectsDropped} dropped; hot tables then: {hotParts} active parts, {hotRows:N0} rows incl. deleted ones, {masked:N0} of them the workspace's): {Steps(sample.Steps)}");
        return sample;
    }

    /// <summary>Count and checksum of the workspace's archived rows matching <paramref name="where"/>, read in place.</summary>
    private static async Task<Summary> ArchivedAsync(ColdstoreService service, Guid workspace, string where)
    {
        var row = (await service.QueryArchivesAsync(workspace, $"SELECT count() AS rows, sum({RowHash}) AS checksum FROM user_events_v2 {where}")).Rows.Single();
        return new Summary(row.GetInt64("rows"), row.GetUInt64("checksum"));
    }

    /// <summary>A ClickHouse string literal (the archive query takes no parameters).</summary>
    private static string Literal(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    private static string Steps(IEnumerable<StepTotal> steps) =>
        string.Join(", ", steps.OrderByDescending(s => s.Seconds).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Name} {s.Seconds:F3} s")));

    private sealed record Variant(ColdstoreService Service, List<EraseRound> Rounds);
}

/// <summary>What the erase scenario measured: one variant per chunk size.</summary>
internal sealed record EraseResult(int Events, int Repeat, int Warmup, IReadOnlyList<EraseVariant> Variants);

/// <summary>The rounds of one chunk size, and their medians and ratios.</summary>
/// <param name="ChunkRows">The service's <see cref="ColdstoreOptions.ChunkRows"/>.</param>
/// <param name="Rounds">The measured rounds (warm-ups left out).</param>
internal sealed record EraseVariant(long ChunkRows, IReadOnlyList<EraseRound> Rounds)
{
    /// <summary>Archives of the workspace (the same every round: the same events, the same plan).</summary>
    public int Archives => Rounds.Max(r => r.Archives);

    /// <summary>Archives the erase rewrote: "4", or "3–4" when rounds differ (chunks are hash buckets of message id and processing time, which each ingest sets anew).</summary>
    public string ArchivesRewritten => Range(r => r.ArchivesRewritten);

    public string ObjectsRewritten => Range(r => r.ObjectsRewritten);

    public string ObjectsDropped => Range(r => r.ObjectsDropped);

    public long RowsErased => Rounds.Max(r => r.RowsErased);

    public long BytesRewritten => (long)SingleResult.Median(Rounds.Select(r => (double)r.BytesRewritten));

    public long ArchiveBytes => (long)SingleResult.Median(Rounds.Select(r => (double)r.ArchiveBytes));

    public string User => Rounds[0].User;

    /// <summary>Active parts of the hot tables when the erases began (median).</summary>
    public long HotParts => (long)SingleResult.Median(Rounds.Select(r => (double)r.HotParts));

    /// <summary>Erase over baseline A (one bare, verified copy of the workspace's rows to Parquet): median of per-round ratios.</summary>
    public double EraseToCopyRatio => SingleResult.Median(Rounds.Select(r => r.Erase.Elapsed / r.BaselineCopy.Elapsed));

    /// <summary>Erase over the archive of the same rows: median of per-round ratios.</summary>
    public double EraseToArchiveRatio => SingleResult.Median(Rounds.Select(r => r.Erase.Elapsed / r.Archive.Elapsed));

    /// <summary>Each step of the erase, the median over the rounds of its seconds, longest first.</summary>
    public IReadOnlyList<StepTotal> Steps =>
        [.. Rounds.SelectMany(r => r.Steps).Select(s => s.Name).Distinct()
            .Select(name => new StepTotal(name, SingleResult.Median(Rounds.Select(r => r.Steps.FirstOrDefault(s => s.Name == name)?.Seconds ?? 0))))
            .OrderByDescending(s => s.Seconds)];

    private string Range(Func<EraseRound, long> value) =>
        Rounds.Min(value) is var low && Rounds.Max(value) is var high && low == high
            ? low.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{low}–{high}");

    public PhaseMedian MedianOf(Func<EraseRound, PhaseSample> phase) => new(
        SingleResult.Median(Rounds.Select(r => phase(r).Elapsed.TotalSeconds)),
        Rounds.Min(r => phase(r).Elapsed.TotalSeconds),
        Rounds.Max(r => phase(r).Elapsed.TotalSeconds),
        (long)SingleResult.Median(Rounds.Select(r => (double)phase(r).PeakGrowthBytes)),
        (long)SingleResult.Median(Rounds.Select(r => (double)phase(r).PeakRssBytes)));
}

/// <summary>One round: the baseline copy, the archive and the erase of one fresh workspace, back to back.</summary>
/// <param name="Round">1-based.</param>
/// <param name="BaselineCopy">Baseline A: the workspace's rows to one Parquet file in the archive store, verified.</param>
/// <param name="Archive">Coldstore's archive of the workspace (verified, deletes applied).</param>
/// <param name="Erase">The erase of the user with the most events.</param>
/// <param name="User">That user's id (a generated one).</param>
/// <param name="RowsErased">Archived rows erased.</param>
/// <param name="Archives">Archives of the workspace.</param>
/// <param name="ArchiveBytes">Their bytes.</param>
/// <param name="ArchivesRewritten">Archives the erase rewrote (those holding some of the user's rows).</param>
/// <param name="ObjectsRewritten">Objects written again without the user's rows.</param>
/// <param name="ObjectsDropped">Objects that held only the user's rows, deleted without a replacement.</param>
/// <param name="BytesRewritten">Bytes of the rewritten objects.</param>
/// <param name="HotParts">Active parts of both hot tables when the erase began (its hot delete is a mutation of them).</param>
/// <param name="HotRows">Rows in those parts, rows already deleted (masked) included.</param>
/// <param name="Steps">The erase's steps, seconds summed per name.</param>
internal sealed record EraseRound(
    int Round,
    PhaseSample BaselineCopy,
    PhaseSample Archive,
    PhaseSample Erase,
    string User,
    long RowsErased,
    int Archives,
    long ArchiveBytes,
    int ArchivesRewritten,
    int ObjectsRewritten,
    int ObjectsDropped,
    long BytesRewritten,
    long HotParts,
    long HotRows,
    IReadOnlyList<StepTotal> Steps);
