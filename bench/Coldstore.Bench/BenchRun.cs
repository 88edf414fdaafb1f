namespace Coldstore.Bench;

/// <summary>Everything one run measured: the machine it ran on and each scenario that ran (null when not asked for).</summary>
internal sealed record BenchRun(
    string Engine,
    int ProcessorCount,
    string MemoryMethod,
    string LoadBefore,
    string LoadAfter,
    SingleResult? Single,
    FleetResult? Fleet,
    IReadOnlyList<ScalingPoint>? Scaling,
    EraseResult? Erase)
{
    /// <summary>The 1, 5 and 15 minute load averages now, as the kernel reports them.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
