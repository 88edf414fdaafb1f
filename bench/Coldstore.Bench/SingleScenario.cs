using System.Globalization;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Services;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// One workspace: ingest, then per repetition the baseline copy, the archive, its background deletes, the baseline
/// insert, the restore, and Dittofeed's copy, delete and restore, each timed, and at the end the proof that the round
/// trips changed nothing.
/// </summary>
internal sealed class SingleScenario(BenchOptions options, BenchHost host, PhaseTimer timer)
{
    /// <summary>Fixed, so every run archives the same events.</summary>
    private const int Seed = 42;

    public async Task<SingleResult> RunAsync()
    {
        var service = host.Service;
        await host.TruncateEventsAsync();
        var baselineFile = Path.Combine(host.Directory, "baseline", "baseline.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(baselineFile)!);
        var baselines = new RawBaselines(host.ClickHouse, service.Tables, baselineFile);
        var dittofeed = new DittofeedBaseline(host.ClickHouse, service.Tables, host.DisksDirectory);

        var workspace = (await service.CreateWorkspaceAsync(new NewWorkspace("bench single"))).Id;
        var ingest = await service.IngestAsync(workspace, SegmentEventGenerator.Generate(options.Events, Seed));
        timer.Log($"single: ingested {ingest.Rows:N0} events in {ingest.Duration.TotalSeconds:F2} s");
        await host.WaitForQuietAsync(TimeSpan.FromMinutes(2));
        var rawBytes = Convert.ToInt64(await host.ClickHouse.ScalarAsync(EventSql.WorkspaceRawBytes(service.Tables, workspace)), CultureInfo.InvariantCulture);
        var before = await service.GetWorkspaceChecksumsAsync(workspace);

        var repetition = new Repetition(service, baselines, dittofeed, timer, workspace, options.Events, before);
        for (var w = 1; w <= options.Warmup; w++)
        {
            await repetition.RunAsync($"single warm-up {w}/{options.Warmup}");
        }

        var repeats = new List<RepeatSamples>();
        for (var r = 1; r <= options.Repeat; r++)
        {
            repeats.Add(await repetition.RunAsync($"single {r}/{options.Repeat}") with { Repeat = r });
        }

        var after = await service.GetWorkspaceChecksumsAsync(workspace);
        return new SingleResult(
            options.Events, options.Repeat, options.Warmup,
            ingest.Duration, rawBytes, repetition.ArchiveBytes, new FileInfo(baselineFile).Length, repetition.DittofeedBytes,
            before, after, repeats);
    }

    /// <summary>One archive/restore round trip with its baselines, alternating so drift affects both sides.</summary>
    private sealed class Repetition(
        ColdstoreService service, RawBaselines baselines, DittofeedBaseline dittofeed, PhaseTimer timer, Guid workspace, int events, WorkspaceChecksums before)
    {
        public long ArchiveBytes { get; private set; }

        public long DittofeedBytes { get; private set; }

        public async Task<RepeatSamples> RunAsync(string label)
        {
            var copy = await timer.MeasureAsync(label, "A: baseline copy", () => baselines.CopyAndVerifyAsync(workspace));

            OperationResult? archived = null;
            var archive = await timer.MeasureAsync(label, "archive", async () => archived = await service.ColdStoreWorkspaceEventsAsync(workspace));
            PhaseTimer.Expect(archived!.Rows == events, $"archive {label} moved {archived.Rows} rows, not {events}");
            ArchiveBytes = archived.Bytes;

            // The archive itself waits until its deletes are applied (step archive:deletes-applied); anything still
            // pending is timed apart and waited for, so the restore never pays for it.
            var deletes = await timer.MeasureAsync(label, "archive deletes", () => baselines.WaitForDeletesAsync(workspace));

            var scratch = Guid.NewGuid();
            var insert = await timer.MeasureAsync(label, "B: baseline insert", () => baselines.InsertAsync(scratch));
            var inserted = await baselines.CountAsync(scratch);
            PhaseTimer.Expect(inserted == events, $"baseline insert {label} wrote {inserted} rows, not {events}");
            // Untimed: the restore then runs on the same table the baseline insert saw.
            await baselines.RemoveAsync(scratch);

            OperationResult? restored = null;
            var restore = await timer.MeasureAsync(label, "restore", async () => restored = await service.RestoreWorkspaceEventsAsync(workspace));
            PhaseTimer.Expect(restored!.Rows == events, $"restore {label} moved {restored.Rows} rows, not {events}");

            await dittofeed.CreateAsync();
            var dittofeedCopy = await timer.MeasureAsync(label, "D: dittofeed copy", () => dittofeed.CopyAsync(workspace));
            // Untimed: Dittofeed does not check its copy, but a baseline that moved the wrong rows measures nothing.
            await dittofeed.VerifyCopyAsync(workspace);
            DittofeedBytes = await dittofeed.BytesOnDiskAsync();
            var dittofeedDelete = await timer.MeasureAsync(label, "D: dittofeed delete", () => dittofeed.DeleteAsync(workspace));
            var dittofeedRestore = await timer.MeasureAsync(label, "D: dittofeed restore", () => dittofeed.RestoreAsync(workspace));
            await dittofeed.DropAsync();
            var now = await service.GetWorkspaceChecksumsAsync(workspace);
            PhaseTimer.Expect(now == before, $"after Dittofeed's round trip {label} the workspace is {now}, not {before}");

            return new RepeatSamples(0, copy, archive, deletes, insert, restore, dittofeedCopy, dittofeedDelete, dittofeedRestore);
        }
    }
}
