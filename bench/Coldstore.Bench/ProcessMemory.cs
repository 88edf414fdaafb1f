using System.Globalization;

namespace Coldstore.Bench;

/// <summary>
/// Peak resident memory of this process (chDB runs inside it, so this covers the engine, its background merges
/// and deletes, and .NET). chDB does not create <c>system.query_log</c>, so ClickHouse cannot report per-query peaks.
/// </summary>
/// <remarks>
/// Preferred: reset the kernel's high-water mark (<c>VmHWM</c>) by writing 5 to <c>/proc/self/clear_refs</c>
/// (Linux 4.0+), then read it after the phase: exact, with no sampling gaps. Where that write is refused, VmRSS is
/// sampled on a timer instead, which can miss a peak shorter than the interval.
/// </remarks>
internal sealed class ProcessMemory : IDisposable
{
    private const string Status = "/proc/self/status";
    private const string ClearRefs = "/proc/self/clear_refs";
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(5);

    private readonly Timer? _sampler;
    private long _sampledPeak;

    public ProcessMemory()
    {
        CanResetHighWaterMark = TryResetHighWaterMark();
        if (!CanResetHighWaterMark)
        {
            _sampledPeak = CurrentBytes();
            _sampler = new Timer(_ => RecordSample(), null, SampleInterval, SampleInterval);
        }
    }

    public bool CanResetHighWaterMark { get; }

    public string Method => CanResetHighWaterMark
        ? "process VmHWM, reset before each phase"
        : $"process VmRSS sampled every {SampleInterval.TotalMilliseconds} ms";

    /// <summary>The resident set size now, in bytes.</summary>
    public static long CurrentBytes() => ReadStatusKilobytes("VmRSS:") * 1024;

    /// <summary>Starts a new peak at the current resident size.</summary>
    public void ResetPeak()
    {
        if (CanResetHighWaterMark)
        {
            TryResetHighWaterMark();
        }
        else
        {
            Interlocked.Exchange(ref _sampledPeak, CurrentBytes());
        }
    }

    /// <summary>The largest resident size since the last <see cref="ResetPeak"/>, in bytes.</summary>
    public long PeakBytes()
    {
        if (CanResetHighWaterMark)
        {
            return ReadStatusKilobytes("VmHWM:") * 1024;
        }

        RecordSample();
        return Interlocked.Read(ref _sampledPeak);
    }

    public void Dispose() => _sampler?.Dispose();

    private void RecordSample()
    {
        var now = CurrentBytes();
        long seen;
        while (now > (seen = Interlocked.Read(ref _sampledPeak)) && Interlocked.CompareExchange(ref _sampledPeak, now, seen) != seen)
        {
        }
    }

    private static bool TryResetHighWaterMark()
    {
        try
        {
            File.WriteAllText(ClearRefs, "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ReadStatusKilobytes(string field)
    {
        foreach (var line in File.ReadLines(Status))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                // "VmRSS:\t  123456 kB"
                var number = line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim();
                return long.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"{Status} has no {field} line; the benchmark needs Linux.");
    }
}
