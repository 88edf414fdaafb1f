namespace Coldstore.Bench;

/// <summary>One timed run of one phase.</summary>
/// <param name="Elapsed">Wall-clock time.</param>
/// <param name="StartRssBytes">Process resident memory when the phase began (after purging freed memory).</param>
/// <param name="PeakRssBytes">The process's peak resident memory during the phase.</param>
internal sealed record PhaseSample(TimeSpan Elapsed, long StartRssBytes, long PeakRssBytes)
{
    /// <summary>How far the phase pushed resident memory above where it started: the phase's own peak need.</summary>
    public long PeakGrowthBytes => Math.Max(0, PeakRssBytes - StartRssBytes);

    /// <summary>Two phases run one after the other: their times add up, their memory peak is the higher one.</summary>
    public PhaseSample Then(PhaseSample next) =>
        (PeakGrowthBytes >= next.PeakGrowthBytes ? this : next) with { Elapsed = Elapsed + next.Elapsed };
}

/// <summary>The samples of one repetition: each Coldstore operation next to its baseline, run back to back.</summary>
internal sealed record RepeatSamples(
    int Repeat,
    PhaseSample BaselineCopy,
    PhaseSample Archive,
    PhaseSample ArchiveDeletes,
    PhaseSample BaselineInsert,
    PhaseSample Restore,
    PhaseSample DittofeedCopy,
    PhaseSample DittofeedDelete,
    PhaseSample DittofeedRestore)
{
    /// <summary>The archive until its background deletes are applied: the whole cost of taking the rows out.</summary>
    public PhaseSample ArchiveWithDeletes => Archive.Then(ArchiveDeletes);

    public double ArchiveRatio => Ratio(Archive.Elapsed, BaselineCopy.Elapsed);

    public double ArchiveWithDeletesRatio => Ratio(ArchiveWithDeletes.Elapsed, BaselineCopy.Elapsed);

    public double RestoreRatio => Ratio(Restore.Elapsed, BaselineInsert.Elapsed);

    /// <summary>Dittofeed's copy until its delete is applied.</summary>
    public PhaseSample DittofeedCopyWithDelete => DittofeedCopy.Then(DittofeedDelete);

    /// <summary>Coldstore's verified archive against Dittofeed's unverified copy (target ≤ 0.9).</summary>
    public double ArchiveToDittofeedRatio => Ratio(Archive.Elapsed, DittofeedCopy.Elapsed);

    /// <summary>Both until their deletes are applied.</summary>
    public double ArchiveWithDeletesToDittofeedRatio => Ratio(ArchiveWithDeletes.Elapsed, DittofeedCopyWithDelete.Elapsed);

    /// <summary>Dittofeed's insert-select back against the bare insert from Parquet.</summary>
    public double DittofeedRestoreRatio => Ratio(DittofeedRestore.Elapsed, BaselineInsert.Elapsed);

    public double? ArchiveMemoryRatio => MemoryRatio(Archive, BaselineCopy);

    public double? ArchiveWithDeletesMemoryRatio => MemoryRatio(ArchiveWithDeletes, BaselineCopy);

    public double? RestoreMemoryRatio => MemoryRatio(Restore, BaselineInsert);

    private static double Ratio(TimeSpan measured, TimeSpan baseline) => measured / baseline;

    // A baseline that did not grow memory measurably has no meaningful ratio (it would divide by ~0).
    private static double? MemoryRatio(PhaseSample measured, PhaseSample baseline) =>
        baseline.PeakGrowthBytes < 1024 * 1024 ? null : (double)measured.PeakGrowthBytes / baseline.PeakGrowthBytes;
}
