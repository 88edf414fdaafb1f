using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coldstore.Bench;

/// <summary>Writes a run as Markdown tables for people (the console and latest.md) and, on request, as JSON.</summary>
internal static class BenchReport
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Markdown(BenchRun run)
    {
        var text = new StringBuilder();
        Line(text, $"{run.Engine}, {run.ProcessorCount} cores, load average {run.LoadBefore} at the start and {run.LoadAfter} at the end. Memory: {run.MemoryMethod}.");
        text.AppendLine();
        if (run.Single is { } single)
        {
            WriteSingle(text, single);
        }

        if (run.Fleet is { } fleet)
        {
            WriteFleet(text, fleet);
        }

        if (run.Scaling is { Count: > 0 } scaling)
        {
            WriteScaling(text, scaling);
        }

        if (run.Erase is { } erase)
        {
            WriteErase(text, erase);
        }

        WriteTargets(text, run);
        return text.ToString();
    }

    private static void WriteSingle(StringBuilder text, SingleResult r)
    {
        Line(text, $"### Single workspace: {r.Events:N0} events, median of {r.Repeat} (+{r.Warmup} warm-up)");
        text.AppendLine();
        text.AppendLine("| phase | seconds | min–max | ratio | against | peak RSS growth |");
        text.AppendLine("|---|---:|---:|---:|---|---:|");
        void Row(string name, Func<RepeatSamples, PhaseSample> phase, double? ratio = null, string against = "")
        {
            var median = r.MedianOf(phase);
            Line(text, $"| {name} | {median.Seconds:F3} | {median.MinSeconds:F3}–{median.MaxSeconds:F3} | {(ratio is { } known ? known.ToString("F2", CultureInfo.InvariantCulture) : "")} | {against} | {median.PeakGrowthBytes / 1048576.0:F0} MiB |");
        }

        Row("A: bare copy to Parquet + verify", s => s.BaselineCopy);
        Row("D: Dittofeed copy (MergeTree on its own disk, unverified)", s => s.DittofeedCopy);
        Row("D: Dittofeed unbounded delete, applied", s => s.DittofeedDelete);
        Row("**archive** (verified)", s => s.Archive, r.ArchiveToDittofeedRatio, "D copy");
        Row("archive (verified)", s => s.Archive, r.ArchiveRatio, "A");
        Row("archive + its deletes applied", s => s.ArchiveWithDeletes, r.ArchiveWithDeletesToDittofeedRatio, "D copy + delete");
        Row("B: bare insert from Parquet", s => s.BaselineInsert);
        Row("**restore** (verified)", s => s.Restore, r.RestoreRatio, "B");
        Row("D: Dittofeed restore (insert-select back)", s => s.DittofeedRestore, r.DittofeedRestoreRatio, "B");
        text.AppendLine();
        Line(text, $"Stored columns {r.RawBytes / 1048576.0:F1} MiB uncompressed; archive {r.ArchiveBytes / 1048576.0:F2} MiB (bare Parquet A {r.BaselineParquetBytes / 1048576.0:F2} MiB); Dittofeed's table {r.DittofeedBytes / 1048576.0:F2} MiB on disk: archive / Dittofeed bytes **{r.BytesToDittofeedRatio:F2}**. Ingest {r.Ingest.TotalSeconds:F1} s. Checksums of both tables equal before the first and after the last round trip: {(r.ChecksumsMatch ? "yes" : "NO")}.");
        text.AppendLine();
    }

    private static void WriteFleet(StringBuilder text, FleetResult r)
    {
        Line(text, $"### Fleet: {r.Workspaces:N0} workspaces of {r.EventsPerWorkspace} events, Coldstore in batches of {r.BatchSize}");
        text.AppendLine();
        text.AppendLine("| phase | seconds | workspaces/s | peak RSS growth |");
        text.AppendLine("|---|---:|---:|---:|");
        void Row(string name, PhaseSample sample, bool rate = true) =>
            Line(text, $"| {name} | {sample.Elapsed.TotalSeconds:F2} | {(rate ? (r.Workspaces / sample.Elapsed.TotalSeconds).ToString("F1", CultureInfo.InvariantCulture) : "")} | {sample.PeakGrowthBytes / 1048576.0:F0} MiB |");
        Row("floor: one bare export of all (Parquet per workspace)", r.FloorExport, rate: false);
        Row("floor: one bare delete of all, applied", r.FloorDelete, rate: false);
        Row("floor archive (export + delete)", r.FloorArchive);
        Row("**Coldstore archive**, each verified", r.Archive);
        Row("its deletes applied (after the last archive returned)", r.ArchiveDeletes, rate: false);
        Row("Coldstore archive + deletes applied", r.ArchiveWithDeletes);
        Row("floor restore: one bare insert-select of all", r.FloorInsert);
        Row("**Coldstore restore**, each verified", r.Restore);
        text.AppendLine();
        Line(text, $"Coldstore / floor time: archive {r.Archive.Elapsed / r.FloorArchive.Elapsed:F1}x, restore {r.Restore.Elapsed / r.FloorInsert.Elapsed:F1}x. Generating the events took {r.Generate.Elapsed.TotalSeconds:F1} s. Every workspace's checksums (both tables) equal after the floor's and after Coldstore's round trip; no hot row after the archive.");
        text.AppendLine();
        Line(text, $"Where Coldstore's time went (each step's seconds summed over all workspaces; a batch step counts once per workspace in it; top 6): archive {Steps(r.ArchiveSteps)}; restore {Steps(r.RestoreSteps)}.");
        text.AppendLine();
    }

    private static void WriteScaling(StringBuilder text, IReadOnlyList<ScalingPoint> points)
    {
        var reference = Reference(points);
        text.AppendLine("### Scaling: one workspace beside another tenant of a fifth its size");
        text.AppendLine();
        text.AppendLine("| events | archive s | archive s/Mrow | + deletes s/Mrow | restore s | restore s/Mrow | s/Mrow vs 10⁵ (archive, restore) | peak RSS archive | peak RSS restore | growth archive, restore | archive MiB |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in points)
        {
            var versus = reference is null ? "" : Invariant($"{p.ArchiveWithDeletesSecondsPerMillion / reference.ArchiveWithDeletesSecondsPerMillion:F2}, {p.RestoreSecondsPerMillion / reference.RestoreSecondsPerMillion:F2}");
            Line(text, $"| {p.Events:N0} | {p.Archive.Elapsed.TotalSeconds:F2} | {p.ArchiveSecondsPerMillion:F2} | {p.ArchiveWithDeletesSecondsPerMillion:F2} | {p.Restore.Elapsed.TotalSeconds:F2} | {p.RestoreSecondsPerMillion:F2} | {versus} | {Math.Max(p.Archive.PeakRssBytes, p.ArchiveDeletes.PeakRssBytes) / 1048576.0:F0} MiB | {p.Restore.PeakRssBytes / 1048576.0:F0} MiB | {p.ArchiveWithDeletes.PeakGrowthBytes / 1048576.0:F0}, {p.Restore.PeakGrowthBytes / 1048576.0:F0} MiB | {p.ArchiveBytes / 1048576.0:F1} |");
        }

        text.AppendLine();
        text.AppendLine("Peak RSS is the whole process (chDB, .NET and the archive's files in the page cache are not in it); growth is over the phase's start. Each size: checksums of the workspace equal after its round trip, the other tenant's unchanged.");
        text.AppendLine();
    }

    private static void WriteErase(StringBuilder text, EraseResult r)
    {
        Line(text, $"### Erase: the user with the most events out of {r.Events:N0}, median of {r.Repeat} (+{r.Warmup} warm-up)");
        text.AppendLine();
        text.AppendLine("| archives | phase | seconds | min–max | ratio | against | peak RSS | peak RSS growth |");
        text.AppendLine("|---:|---|---:|---:|---:|---|---:|---:|");
        foreach (var v in r.Variants)
        {
            void Row(string name, Func<EraseRound, PhaseSample> phase, double? ratio = null, string against = "")
            {
                var median = v.MedianOf(phase);
                Line(text, $"| {v.Archives} | {name} | {median.Seconds:F3} | {median.MinSeconds:F3}–{median.MaxSeconds:F3} | {(ratio is { } known ? known.ToString("F2", CultureInfo.InvariantCulture) : "")} | {against} | {median.PeakRssBytes / 1048576.0:F0} MiB | {median.PeakGrowthBytes / 1048576.0:F0} MiB |");
            }

            Row("A: bare copy to Parquet in the archive store + verify", s => s.BaselineCopy);
            Row("archive (verified)", s => s.Archive);
            Row("**erase** (verified)", s => s.Erase, v.EraseToCopyRatio, "A");
            Row("erase (verified)", s => s.Erase, v.EraseToArchiveRatio, "archive");
        }

        text.AppendLine();
        foreach (var v in r.Variants)
        {
            Line(text, $"{Archives(v.Archives)} (ChunkRows {v.ChunkRows:N0}, {v.ArchiveBytes / 1048576.0:F2} MiB): {v.RowsErased:N0} rows of {v.User} erased ({100.0 * v.RowsErased / r.Events:F2} % of the workspace) from {v.ArchivesRewritten} of {Archives(v.Archives)}; {v.ObjectsRewritten} objects rewritten ({v.BytesRewritten / 1048576.0:F2} MiB), {v.ObjectsDropped} dropped. Erase steps (median s): {EraseSteps(v.Steps)}; its hot delete ran over {v.HotParts} active parts of the hot tables.");
            text.AppendLine();
        }

        text.AppendLine("Each round a fresh workspace (the same events, ingested anew), then back to back: A, the archive, the erase. Every erase checked: applied, the user's archived rows all gone, every other archived row unchanged (count and checksum), every archive matching its manifest. Peak RSS is the whole process.");
        text.AppendLine();
    }

    private static string Archives(int count) => Invariant($"{count} archive{(count == 1 ? "" : "s")}");

    private static void WriteTargets(StringBuilder text, BenchRun run)
    {
        var targets = new List<(string Name, double? Value, string Goal, bool? Met)>();
        if (run.Single is { } s)
        {
            targets.Add(("verified archive / Dittofeed's unverified copy", s.ArchiveToDittofeedRatio, "≤ 0.9", s.ArchiveToDittofeedRatio <= 0.9));
            targets.Add(("restore / bare insert", s.RestoreRatio, "≤ 1.1", s.RestoreRatio <= 1.1));
            targets.Add(("archive bytes / Dittofeed's bytes", s.BytesToDittofeedRatio, "≤ 0.6", s.BytesToDittofeedRatio <= 0.6));
        }

        if (run.Fleet is { } f)
        {
            var fleetNote = Invariant($" ({f.Workspaces:N0} x {f.EventsPerWorkspace})");
            targets.Add(("fleet archive, workspaces/s" + fleetNote, f.ArchiveRate, "≥ 20", f.ArchiveRate >= 20));
            targets.Add(("fleet restore, workspaces/s" + fleetNote, f.RestoreRate, "≥ 20", f.RestoreRate >= 20));
        }

        if (run.Scaling is { Count: > 0 } points && points[^1] is var largest && largest.Events >= 10_000_000)
        {
            var peak = largest.PeakRssBytes / 1073741824.0;
            targets.Add((Invariant($"{largest.Events:N0} events: peak RSS, GiB"), peak, "≤ 1", peak <= 1));
            if (Reference(points) is { } reference)
            {
                var archive = largest.ArchiveWithDeletesSecondsPerMillion / reference.ArchiveWithDeletesSecondsPerMillion;
                var restore = largest.RestoreSecondsPerMillion / reference.RestoreSecondsPerMillion;
                targets.Add((Invariant($"{largest.Events:N0} events: archive s/Mrow / 10⁵'s"), archive, "≤ 1.3", archive <= 1.3));
                targets.Add((Invariant($"{largest.Events:N0} events: restore s/Mrow / 10⁵'s"), restore, "≤ 1.3", restore <= 1.3));
            }
        }

        if (targets.Count == 0)
        {
            return;
        }

        text.AppendLine("### Targets (issue #10)");
        text.AppendLine();
        text.AppendLine("| figure | measured | target | met |");
        text.AppendLine("|---|---:|---:|---|");
        foreach (var (name, value, goal, met) in targets)
        {
            Line(text, $"| {name} | {value:F2} | {goal} | {(met == true ? "yes" : "**no**")} |");
        }

        text.AppendLine();
    }

    private static string Steps(IReadOnlyList<StepTotal> steps) =>
        string.Join(", ", steps.Take(6).Select(step => Invariant($"{step.Name} {step.Seconds:F1} s")));

    private static string EraseSteps(IEnumerable<StepTotal> steps) =>
        string.Join(", ", steps.Select(step => Invariant($"{step.Name} {step.Seconds:F3}")));

    /// <summary>The 10⁵-event point the larger sizes are compared with, or null when the run did not measure it.</summary>
    private static ScalingPoint? Reference(IReadOnlyList<ScalingPoint> points) => points.FirstOrDefault(p => p.Events == 100_000);

    public static void WriteJson(BenchRun run, TextWriter output)
    {
        var single = run.Single;
        var document = new
        {
            run.Engine,
            run.ProcessorCount,
            run.MemoryMethod,
            run.LoadBefore,
            run.LoadAfter,
            Single = single is null ? null : new
            {
                single.Events,
                single.Repeat,
                single.Warmup,
                IngestSeconds = single.Ingest.TotalSeconds,
                single.RawBytes,
                single.ArchiveBytes,
                single.BaselineParquetBytes,
                single.DittofeedBytes,
                single.CompressionRatio,
                single.ChecksumsMatch,
                Ratios = new
                {
                    ArchiveToDittofeedCopy = single.ArchiveToDittofeedRatio,
                    ArchiveWithDeletesToDittofeedCopyWithDelete = single.ArchiveWithDeletesToDittofeedRatio,
                    BytesToDittofeed = single.BytesToDittofeedRatio,
                    Archive = single.ArchiveRatio,
                    ArchiveWithDeletes = single.ArchiveWithDeletesRatio,
                    Restore = single.RestoreRatio,
                    DittofeedRestore = single.DittofeedRestoreRatio,
                    ArchiveMemory = single.ArchiveMemoryRatio,
                    RestoreMemory = single.RestoreMemoryRatio,
                },
                Repeats = single.Repeats.Select(r => new
                {
                    r.Repeat,
                    BaselineCopy = Sample(r.BaselineCopy),
                    Archive = Sample(r.Archive),
                    ArchiveDeletes = Sample(r.ArchiveDeletes),
                    BaselineInsert = Sample(r.BaselineInsert),
                    Restore = Sample(r.Restore),
                    DittofeedCopy = Sample(r.DittofeedCopy),
                    DittofeedDelete = Sample(r.DittofeedDelete),
                    DittofeedRestore = Sample(r.DittofeedRestore),
                }),
                single.Before,
                single.After,
            },
            Fleet = run.Fleet is not { } fleet ? null : new
            {
                fleet.Workspaces,
                fleet.EventsPerWorkspace,
                fleet.BatchSize,
                fleet.ArchiveRate,
                fleet.ArchiveWithDeletesRate,
                fleet.RestoreRate,
                fleet.FloorArchiveRate,
                fleet.FloorRestoreRate,
                fleet.ArchiveBytes,
                fleet.ArchiveSteps,
                fleet.RestoreSteps,
                Generate = Sample(fleet.Generate),
                FloorExport = Sample(fleet.FloorExport),
                FloorDelete = Sample(fleet.FloorDelete),
                FloorInsert = Sample(fleet.FloorInsert),
                Archive = Sample(fleet.Archive),
                ArchiveDeletes = Sample(fleet.ArchiveDeletes),
                Restore = Sample(fleet.Restore),
            },
            Scaling = run.Scaling?.Select(p => new
            {
                p.Events,
                p.InternalEvents,
                p.NeighbourEvents,
                p.ArchiveSecondsPerMillion,
                p.ArchiveWithDeletesSecondsPerMillion,
                p.RestoreSecondsPerMillion,
                p.PeakRssBytes,
                p.ArchiveBytes,
                Generate = Sample(p.Generate),
                Archive = Sample(p.Archive),
                ArchiveDeletes = Sample(p.ArchiveDeletes),
                Restore = Sample(p.Restore),
            }),
            Erase = run.Erase is not { } erase ? null : new
            {
                erase.Events,
                erase.Repeat,
                erase.Warmup,
                Variants = erase.Variants.Select(v => new
                {
                    v.ChunkRows,
                    v.Archives,
                    v.ArchiveBytes,
                    v.User,
                    v.RowsErased,
                    v.ArchivesRewritten,
                    v.ObjectsRewritten,
                    v.ObjectsDropped,
                    v.BytesRewritten,
                    Ratios = new
                    {
                        EraseToBareCopy = v.EraseToCopyRatio,
                        EraseToArchive = v.EraseToArchiveRatio,
                    },
                    Steps = v.Steps,
                    Rounds = v.Rounds.Select(r => new
                    {
                        r.Round,
                        BaselineCopy = Sample(r.BaselineCopy),
                        Archive = Sample(r.Archive),
                        Erase = Sample(r.Erase),
                        r.RowsErased,
                        r.ArchivesRewritten,
                        r.ObjectsRewritten,
                        r.ObjectsDropped,
                        r.BytesRewritten,
                        r.HotParts,
                        r.HotRows,
                        r.Steps,
                    }),
                }),
            },
        };
        output.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
    }

    private static object Sample(PhaseSample sample) =>
        new { Seconds = sample.Elapsed.TotalSeconds, sample.StartRssBytes, sample.PeakRssBytes, sample.PeakGrowthBytes };

    private static void Line(StringBuilder text, FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
