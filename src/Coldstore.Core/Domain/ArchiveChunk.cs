using System.Globalization;

namespace Coldstore.Domain;

/// <summary>
/// The share of a workspace's rows up to a cutoff that one archive of a large workspace holds: the rows whose
/// <c>processing_time</c> is in [<paramref name="From"/>, <paramref name="Until"/>) and, when a month alone holds more
/// rows than a chunk may, whose <c>cityHash64(message_id, processing_time)</c> falls in bucket
/// <paramref name="Bucket"/> of <paramref name="Buckets"/>.
/// </summary>
/// <remarks>
/// The bucket hashes what both tables share (the same hash identifies an internal event and the event it derives
/// from), so a chunk's internal events are exactly those its events derive, and identical rows always land in the
/// same chunk: a delete cannot tell them apart, so no chunk may hold one copy of a row while another holds the other.
/// </remarks>
/// <param name="From">Inclusive lower bound of <c>processing_time</c> (UTC): the first day of a month.</param>
/// <param name="Until">Exclusive upper bound of <c>processing_time</c> (UTC): the first day of a later month.</param>
/// <param name="Bucket">The bucket, 0 to <paramref name="Buckets"/> − 1.</param>
/// <param name="Buckets">How many buckets the range is split into; 1 for the whole range.</param>
public sealed record ArchiveChunk(DateTime From, DateTime Until, int Bucket, int Buckets)
{
    private const string Version = "v1";

    /// <summary>The persisted text: a version, both bounds in epoch milliseconds, then bucket and buckets.</summary>
    public string ToText() => string.Join(' ', Version,
        Milliseconds(From).ToString(CultureInfo.InvariantCulture), Milliseconds(Until).ToString(CultureInfo.InvariantCulture),
        Bucket.ToString(CultureInfo.InvariantCulture), Buckets.ToString(CultureInfo.InvariantCulture));

    /// <summary>For people: the months and the bucket, e.g. <c>2024-01..2024-03</c> or <c>2024-05 bucket 2/7</c>.</summary>
    public override string ToString()
    {
        var last = Until.AddMonths(-1);
        var months = last.Year == From.Year && last.Month == From.Month
            ? From.ToString("yyyy-MM", CultureInfo.InvariantCulture)
            : $"{From.ToString("yyyy-MM", CultureInfo.InvariantCulture)}..{last.ToString("yyyy-MM", CultureInfo.InvariantCulture)}";
        return Buckets == 1 ? months : string.Create(CultureInfo.InvariantCulture, $"{months} bucket {Bucket + 1}/{Buckets}");
    }

    /// <summary>Parses <see cref="ToText"/>; throws <see cref="FormatException"/> naming the bad text.</summary>
    public static ArchiveChunk Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(' ');
        const NumberStyles Digits = NumberStyles.None;
        // Instants before 1970 are negative epoch milliseconds (a writer may set processing_time to any date).
        const NumberStyles Signed = NumberStyles.AllowLeadingSign;
        var culture = CultureInfo.InvariantCulture;
        return parts.Length == 5 && parts[0] == Version
            && long.TryParse(parts[1], Signed, culture, out var from) && long.TryParse(parts[2], Signed, culture, out var until)
            && int.TryParse(parts[3], Digits, culture, out var bucket) && int.TryParse(parts[4], Digits, culture, out var buckets)
            && from < until && buckets >= 1 && bucket < buckets
            ? new ArchiveChunk(DateTime.UnixEpoch.AddMilliseconds(from), DateTime.UnixEpoch.AddMilliseconds(until), bucket, buckets)
            : throw new FormatException($"'{text}' is not an archive chunk (expected '{Version}', two increasing instants, a bucket below the bucket count).");
    }

    /// <summary>
    /// Splits a workspace's rows into chunks of about <paramref name="chunkRows"/> rows: consecutive months together
    /// while they fit, and a month that alone holds more split into equal hash buckets. Every row of the listed months
    /// is in exactly one chunk.
    /// </summary>
    /// <param name="months">Rows per month (<c>yyyyMM</c> of <c>processing_time</c> in UTC), ascending.</param>
    /// <param name="chunkRows">The most rows a chunk should hold (buckets hold about that many: a hash splits evenly, not exactly).</param>
    public static IReadOnlyList<ArchiveChunk> Plan(IReadOnlyList<(int Month, long Rows)> months, long chunkRows)
    {
        ArgumentNullException.ThrowIfNull(months);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        var chunks = new List<ArchiveChunk>();
        DateTime? openFrom = null;
        var openUntil = DateTime.MinValue;
        var openRows = 0L;
        foreach (var (month, rows) in months)
        {
            var start = MonthStart(month);
            if (start < openUntil)
            {
                throw new ArgumentException($"Months must be ascending and distinct; {month} comes after {openUntil:yyyyMM}.", nameof(months));
            }

            var end = start.AddMonths(1);
            if (rows > chunkRows)
            {
                Close();
                var buckets = (int)Math.Min(int.MaxValue, (rows + chunkRows - 1) / chunkRows);
                for (var bucket = 0; bucket < buckets; bucket++)
                {
                    chunks.Add(new ArchiveChunk(start, end, bucket, buckets));
                }

                openUntil = end;
                continue;
            }

            if (openFrom is not null && openRows + rows > chunkRows)
            {
                Close();
            }

            openFrom ??= start;
            openUntil = end;
            openRows += rows;
        }

        Close();
        return chunks;

        void Close()
        {
            if (openFrom is { } from)
            {
                chunks.Add(new ArchiveChunk(from, openUntil, 0, 1));
            }

            openFrom = null;
            openRows = 0;
        }
    }

    private static DateTime MonthStart(int yyyymm)
    {
        var (year, month) = Math.DivRem(yyyymm, 100);
        return year is >= 1900 and <= 2299 && month is >= 1 and <= 12
            ? new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Utc)
            : throw new ArgumentException($"{yyyymm} is not a month (yyyyMM).", nameof(yyyymm));
    }

    private static long Milliseconds(DateTime instant) => (long)(DateTime.SpecifyKind(instant, DateTimeKind.Utc) - DateTime.UnixEpoch).TotalMilliseconds;
}
