using System.Diagnostics;
using System.Globalization;
using Coldstore.Ports;

namespace Coldstore.Bench;

/// <summary>Times one phase and measures how far it pushed the process's resident memory, the same way for every scenario.</summary>
internal sealed class PhaseTimer(IClickHouseClient clickHouse, ProcessMemory memory, TextWriter log)
{
    public async Task<PhaseSample> MeasureAsync(string label, string phase, Func<Task> action)
    {
        // Untimed: hand back memory freed by the previous phase so each starts from a comparable floor.
        GC.Collect();
        await PurgeFreedMemoryAsync();
        memory.ResetPeak();
        var start = ProcessMemory.CurrentBytes();
        var stopwatch = Stopwatch.StartNew();
        await action();
        stopwatch.Stop();
        var sample = new PhaseSample(stopwatch.Elapsed, start, memory.PeakBytes());
        Log($"[{label}] {phase,-22} {sample.Elapsed.TotalSeconds,8:F3} s   peak +{sample.PeakGrowthBytes / 1048576.0,7:F1} MiB");
        return sample;
    }

    public void Log(FormattableString line) => log.WriteLine(line.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// Returns memory freed by earlier phases to the system (jemalloc keeps it otherwise), so each phase's peak
    /// growth is measured from a comparable floor.
    /// </summary>
    private Task PurgeFreedMemoryAsync() =>
        clickHouse.ExecuteAsync(new ClickHouseQuery("SYSTEM JEMALLOC PURGE").For("bench: purge freed memory"));

    /// <summary>Fails the run with <paramref name="what"/> unless <paramref name="condition"/> holds.</summary>
    public static void Expect(bool condition, string what)
    {
        if (!condition)
        {
            throw new BenchmarkFailedException(what);
        }
    }
}
