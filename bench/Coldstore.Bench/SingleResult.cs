using Coldstore.Services;

namespace Coldstore.Bench;

/// <summary>Everything the single-workspace scenario measured, and the medians and ratios the report shows.</summary>
internal sealed record SingleResult(
    int Events,
    int Repeat,
    int Warmup,
    TimeSpan Ingest,
    long RawBytes,
    long ArchiveBytes,
    long BaselineParquetBytes,
    long DittofeedBytes,
    WorkspaceChecksums Before,
    WorkspaceChecksums After,
    IReadOnlyList<RepeatSamples> Repeats)
{
    /// <summary>True when every column of every row, in both tables, is as it was before the first archive.</summary>
    public bool ChecksumsMatch => Before == After;

    /// <summary>Uncompressed size of the stored columns over the archive's size.</summary>
    public double CompressionRatio => ArchiveBytes == 0 ? 0 : (double)RawBytes / ArchiveBytes;

    /// <summary>The archive's bytes over Dittofeed's cold table's bytes on disk (target ≤ 0.6).</summary>
    public double BytesToDittofeedRatio => DittofeedBytes == 0 ? double.NaN : (double)ArchiveBytes / DittofeedBytes;

    public double ArchiveToDittofeedRatio => Median(Repeats.Select(r => r.ArchiveToDittofeedRatio));

    public double ArchiveWithDeletesToDittofeedRatio => Median(Repeats.Select(r => r.ArchiveWithDeletesToDittofeedRatio));

    public double DittofeedRestoreRatio => Median(Repeats.Select(r => r.DittofeedRestoreRatio));

    public double ArchiveRatio => Median(Repeats.Select(r => r.ArchiveRatio));

    public double ArchiveWithDeletesRatio => Median(Repeats.Select(r => r.ArchiveWithDeletesRatio));

    public double RestoreRatio => Median(Repeats.Select(r => r.RestoreRatio));

    public double? ArchiveMemoryRatio => MedianOrNull(Repeats.Select(r => r.ArchiveMemoryRatio));

    public double? ArchiveWithDeletesMemoryRatio => MedianOrNull(Repeats.Select(r => r.ArchiveWithDeletesMemoryRatio));

    public double? RestoreMemoryRatio => MedianOrNull(Repeats.Select(r => r.RestoreMemoryRatio));

    /// <summary>The median sample of one phase across repetitions (time and memory taken separately).</summary>
    public PhaseMedian MedianOf(Func<RepeatSamples, PhaseSample> phase) => new(
        Median(Repeats.Select(r => phase(r).Elapsed.TotalSeconds)),
        Repeats.Min(r => phase(r).Elapsed.TotalSeconds),
        Repeats.Max(r => phase(r).Elapsed.TotalSeconds),
        (long)Median(Repeats.Select(r => (double)phase(r).PeakGrowthBytes)),
        (long)Median(Repeats.Select(r => (double)phase(r).PeakRssBytes)));

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    internal static double? MedianOrNull(IEnumerable<double?> values)
    {
        var known = values.OfType<double>().ToArray();
        return known.Length == 0 ? null : Median(known);
    }
}

/// <summary>One phase summarized over the repetitions.</summary>
/// <param name="Seconds">Median wall-clock seconds.</param>
/// <param name="MinSeconds">Fastest repetition.</param>
/// <param name="MaxSeconds">Slowest repetition.</param>
/// <param name="PeakGrowthBytes">Median growth of resident memory over the phase's start.</param>
/// <param name="PeakRssBytes">Median absolute peak resident memory of the process.</param>
internal sealed record PhaseMedian(double Seconds, double MinSeconds, double MaxSeconds, long PeakGrowthBytes, long PeakRssBytes);
