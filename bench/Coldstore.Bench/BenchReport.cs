using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Coldstore.Bench;

/// <summary>Prints a result as a table for people and, on request, as JSON for scripts.</summary>
internal static class BenchReport
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    // Baseline rows have no ratio functions: they are the 1.00 the rows under them are divided by.
    private static readonly TableRow[] Rows =
    [
        new("A: baseline copy + verify", r => r.BaselineCopy),
        new("archive", r => r.Archive, r => r.ArchiveRatio, r => r.ArchiveMemoryRatio),
        new("archive + its deletes applied", r => r.ArchiveWithDeletes, r => r.ArchiveWithDeletesRatio, r => r.ArchiveWithDeletesMemoryRatio),
        new("B: baseline insert", r => r.BaselineInsert),
        new("restore", r => r.Restore, r => r.RestoreRatio, r => r.RestoreMemoryRatio),
    ];

    public static void WriteTable(BenchResult result, IAnsiConsole console)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Invariant($"{result.Events:N0} events, {result.Repeat} repetitions (+{result.Warmup} warm-up), {result.ProcessorCount} cores, {result.Engine}"))
            .AddColumn("phase (medians)")
            .AddColumn(new TableColumn("median s").RightAligned())
            .AddColumn(new TableColumn("min–max s").RightAligned())
            .AddColumn(new TableColumn("time ratio").RightAligned())
            .AddColumn(new TableColumn("peak RSS growth").RightAligned())
            .AddColumn(new TableColumn("memory ratio").RightAligned());
        foreach (var row in Rows)
        {
            var median = result.MedianOf(row.Phase);
            table.AddRow(
                Markup.Escape(row.Name),
                Format(median.Seconds, "F3"),
                $"{Format(median.MinSeconds, "F3")}–{Format(median.MaxSeconds, "F3")}",
                row.TimeRatio is null ? "1.00" : Format(BenchResult.Median(result.Repeats.Select(row.TimeRatio))),
                $"{Format(median.PeakGrowthBytes / 1048576.0, "F1")} MiB",
                row.MemoryRatio is null ? "1.00" : Format(BenchResult.MedianOrNull(result.Repeats.Select(row.MemoryRatio))));
        }

        console.Write(table);
        console.MarkupLine(Markup.Escape(Invariant(
            $"Ratios: medians of per-repetition ratios, Coldstore / baseline run back to back (archive against A, restore against B). Memory: {result.MemoryMethod}; growth over the phase's start.")));
        console.MarkupLine(Markup.Escape(Invariant(
            $"Ingest {result.Ingest.TotalSeconds:F2} s ({result.Events / result.Ingest.TotalSeconds:N0} events/s). Stored columns {result.RawBytes / 1048576.0:F1} MiB raw, archive {result.ArchiveBytes / 1048576.0:F2} MiB (compression {result.CompressionRatio:F1}x); baseline Parquet {result.BaselineParquetBytes / 1048576.0:F2} MiB.")));
        console.MarkupLine(result.ChecksumsMatch
            ? "[green]Checksums before and after every round trip match (both tables, every column).[/]"
            : Markup.Escape($"CHECKSUMS DIFFER: before {result.Before}, after {result.After}"));
    }

    public static void WriteJson(BenchResult result, TextWriter output)
    {
        var document = new
        {
            result.Events,
            result.Repeat,
            result.Warmup,
            result.Engine,
            result.ProcessorCount,
            result.MemoryMethod,
            IngestSeconds = result.Ingest.TotalSeconds,
            result.RawBytes,
            result.ArchiveBytes,
            result.BaselineParquetBytes,
            result.CompressionRatio,
            result.ChecksumsMatch,
            Ratios = new
            {
                Archive = result.ArchiveRatio,
                ArchiveWithDeletes = result.ArchiveWithDeletesRatio,
                ArchiveWithDeletesMemory = result.ArchiveWithDeletesMemoryRatio,
                Restore = result.RestoreRatio,
                ArchiveMemory = result.ArchiveMemoryRatio,
                RestoreMemory = result.RestoreMemoryRatio,
            },
            Medians = new
            {
                BaselineCopy = result.MedianOf(r => r.BaselineCopy),
                Archive = result.MedianOf(r => r.Archive),
                ArchiveDeletes = result.MedianOf(r => r.ArchiveDeletes),
                ArchiveWithDeletes = result.MedianOf(r => r.ArchiveWithDeletes),
                BaselineInsert = result.MedianOf(r => r.BaselineInsert),
                Restore = result.MedianOf(r => r.Restore),
            },
            Repeats = result.Repeats.Select(r => new
            {
                r.Repeat,
                BaselineCopy = Sample(r.BaselineCopy),
                Archive = Sample(r.Archive),
                ArchiveDeletes = Sample(r.ArchiveDeletes),
                BaselineInsert = Sample(r.BaselineInsert),
                Restore = Sample(r.Restore),
                r.ArchiveRatio,
                r.ArchiveWithDeletesRatio,
                r.RestoreRatio,
                r.ArchiveMemoryRatio,
                r.RestoreMemoryRatio,
            }),
            result.Before,
            result.After,
        };
        output.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
    }

    private static object Sample(PhaseSample sample) =>
        new { Seconds = sample.Elapsed.TotalSeconds, sample.StartRssBytes, sample.PeakRssBytes, sample.PeakGrowthBytes };

    private static string Format(double value, string format = "F2") => value.ToString(format, CultureInfo.InvariantCulture);

    private static string Format(double? value) => value is { } known ? Format(known) : "n/a";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed record TableRow(
        string Name,
        Func<RepeatSamples, PhaseSample> Phase,
        Func<RepeatSamples, double>? TimeRatio = null,
        Func<RepeatSamples, double?>? MemoryRatio = null);
}
