using System.Diagnostics;
using System.Globalization;
using Coldstore.Configuration;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Services;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// Runs the benchmark on one embedded chDB (one data directory per process): ingest, then per repetition the
/// baseline copy, the archive, its background deletes, the baseline insert and the restore, each timed, and at the
/// end the proof that the round trips changed nothing.
/// </summary>
internal sealed class BenchRunner(BenchOptions options, TextWriter log)
{
    /// <summary>Fixed, so every run archives the same events.</summary>
    private const int Seed = 42;

    public async Task<BenchResult> RunAsync(string directory)
    {
        await using var runtime = await OpenAsync(directory);
        var service = runtime.Service;
        var baselineFile = Path.Combine(directory, "baseline", "baseline.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(baselineFile)!);
        var baselines = new RawBaselines(runtime.ClickHouse, service.Tables, baselineFile);
        using var memory = new ProcessMemory();

        var workspace = (await service.CreateWorkspaceAsync(new NewWorkspace("bench"))).Id;
        var ingest = await service.IngestAsync(workspace, SegmentEventGenerator.Generate(options.Events, Seed));
        Log($"ingested {ingest.Rows:N0} events in {ingest.Duration.TotalSeconds:F2} s");
        var rawBytes = Convert.ToInt64(await runtime.ClickHouse.ScalarAsync(EventSql.WorkspaceRawBytes(service.Tables, workspace)), CultureInfo.InvariantCulture);
        var before = await service.GetWorkspaceChecksumsAsync(workspace);

        var repetition = new Repetition(service, baselines, memory, workspace, options.Events, Log);
        for (var w = 1; w <= options.Warmup; w++)
        {
            await repetition.RunAsync($"warm-up {w}/{options.Warmup}");
        }

        var repeats = new List<RepeatSamples>();
        for (var r = 1; r <= options.Repeat; r++)
        {
            repeats.Add(await repetition.RunAsync($"{r}/{options.Repeat}") with { Repeat = r });
        }

        var after = await service.GetWorkspaceChecksumsAsync(workspace);
        return new BenchResult(
            options.Events, options.Repeat, options.Warmup,
            EngineName(runtime.ClickHouse.Description), Environment.ProcessorCount, memory.Method,
            ingest.Duration, rawBytes, repetition.ArchiveBytes, new FileInfo(baselineFile).Length,
            before, after, repeats);
    }

    private static async Task<ColdstoreRuntime> OpenAsync(string directory)
    {
        var settings = new ColdstoreSettings
        {
            ClickHouse = new ClickHouseTarget.Embedded(Path.Combine(directory, "chdb")),
            State = new StateTarget.Sqlite(Path.Combine(directory, "state.db")),
            Archive = new ArchiveTarget.LocalDirectory(Path.Combine(directory, "archive")),
        };

        // No settle window: nothing else writes to this workspace, and a fixed sleep would only pad the archive time.
        var runtime = await ColdstoreRuntime.OpenAsync(settings, options: new ColdstoreOptions { SettleWindow = TimeSpan.Zero });
        await runtime.Service.InitializeAsync();
        return runtime;
    }

    // "chDB 26.7.3 at /tmp/…" → "chDB 26.7.3": the temporary path says nothing about the numbers.
    private static string EngineName(string description) =>
        description.Split(" at ", 2, StringSplitOptions.None)[0];

    private void Log(FormattableString line) => log.WriteLine(line.ToString(CultureInfo.InvariantCulture));

    /// <summary>One archive/restore round trip with its two baselines, alternating so drift affects both sides.</summary>
    private sealed class Repetition(
        ColdstoreService service, RawBaselines baselines, ProcessMemory memory, Guid workspace, int events, Action<FormattableString> log)
    {
        public long ArchiveBytes { get; private set; }

        public async Task<RepeatSamples> RunAsync(string label)
        {
            var copy = await MeasureAsync(label, "baseline copy", () => baselines.CopyAndVerifyAsync(workspace));

            OperationResult? archived = null;
            var archive = await MeasureAsync(label, "archive", async () => archived = await service.ColdStoreWorkspaceEventsAsync(workspace));
            Expect(archived!.Rows == events, $"archive {label} moved {archived.Rows} rows, not {events}");
            ArchiveBytes = archived.Bytes;

            // The archive returns once its deletes are submitted; ClickHouse applies them afterwards. Timed apart, and
            // waited for before going on so the restore does not pay for them.
            var deletes = await MeasureAsync(label, "archive deletes", () => baselines.WaitForDeletesAsync(workspace));

            var scratch = Guid.NewGuid();
            var insert = await MeasureAsync(label, "baseline insert", () => baselines.InsertAsync(scratch));
            var inserted = await baselines.CountAsync(scratch);
            Expect(inserted == events, $"baseline insert {label} wrote {inserted} rows, not {events}");
            // Untimed: the restore then runs on the same table the baseline insert saw.
            await baselines.RemoveAsync(scratch);

            OperationResult? restored = null;
            var restore = await MeasureAsync(label, "restore", async () => restored = await service.RestoreWorkspaceEventsAsync(workspace));
            Expect(restored!.Rows == events, $"restore {label} moved {restored.Rows} rows, not {events}");

            return new RepeatSamples(0, copy, archive, deletes, insert, restore);
        }

        private async Task<PhaseSample> MeasureAsync(string label, string phase, Func<Task> action)
        {
            // Untimed: hand back memory freed by the previous phase so each starts from a comparable floor.
            GC.Collect();
            await baselines.PurgeFreedMemoryAsync();
            memory.ResetPeak();
            var start = ProcessMemory.CurrentBytes();
            var stopwatch = Stopwatch.StartNew();
            await action();
            stopwatch.Stop();
            var sample = new PhaseSample(stopwatch.Elapsed, start, memory.PeakBytes());
            log($"[{label}] {phase,-16} {sample.Elapsed.TotalSeconds,7:F3} s   peak +{sample.PeakGrowthBytes / 1048576.0,6:F1} MiB");
            return sample;
        }

        private static void Expect(bool condition, string what)
        {
            if (!condition)
            {
                throw new BenchmarkFailedException(what);
            }
        }
    }
}
