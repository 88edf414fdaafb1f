using System.Collections;
using System.Globalization;
using System.Net;
using System.Numerics;
using System.Text;
using NodaTime;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// Normalizes what ClickHouse.Driver returns to the few types <see cref="Ports.ClickHouseRow"/> promises, so
/// callers see the same values from this adapter as from chDB.
/// </summary>
internal static class RowValues
{
    /// <summary>
    /// Normalizes one value. <paramref name="instant"/> supplies the instant of a date-time value: for a column
    /// with a non-UTC time zone, ClickHouse.Driver 1.5.0 returns the zone's wall clock as an unspecified
    /// <see cref="DateTime"/>, and its GetDateTimeOffset maps that back to an instant. That is exact except in
    /// the hour a clock change repeats, where the driver has already lost which of the two instants it was and
    /// the earlier one comes back. Coldstore's tables use zone-less (UTC) DateTime64 columns, which are exact.
    /// </summary>
    internal static object? Normalize(object? value, Func<DateTimeOffset?>? instant = null) => value switch
    {
        null or DBNull => null,
        string s => s,
        bool b => b,
        sbyte or byte or short or ushort or int or uint or long => Convert.ToInt64(value, CultureInfo.InvariantCulture),
        ulong u => u,
        // Through text, so Float32 0.1 stays 0.1 instead of widening to 0.10000000149011612.
        float f => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        double d => d,
        Half h => (double)h,
        // Decimals stay exact as text; ClickHouseRow parses text for integers and reads it as a string.
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        Int128 i => Integer((BigInteger)i),
        UInt128 i => Integer((BigInteger)i),
        BigInteger i => Integer(i),
        DateTime dt => Utc(dt, instant),
        DateTimeOffset dto => dto.UtcDateTime,
        DateOnly date => date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
        Instant i => i.ToDateTimeUtc(),
        ZonedDateTime z => z.ToInstant().ToDateTimeUtc(),
        OffsetDateTime o => o.ToInstant().ToDateTimeUtc(),
        // A LocalDateTime carries no zone; the driver only produces one for zone-less columns, which are UTC.
        LocalDateTime l => DateTime.SpecifyKind(l.ToDateTimeUnspecified(), DateTimeKind.Utc),
        Guid g => g.ToString("D"),
        IPAddress ip => ip.ToString(),
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        // Arrays, tuples and maps are outside ClickHouseRow's scalar contract; keep their elements normalized.
        IDictionary map => map.Keys.Cast<object>().ToDictionary(k => Normalize(k)?.ToString() ?? string.Empty, k => Normalize(map[k])),
        IEnumerable items => items.Cast<object?>().Select(item => Normalize(item)).ToArray(),
        System.Runtime.CompilerServices.ITuple tuple => Enumerable.Range(0, tuple.Length).Select(i => Normalize(tuple[i])).ToArray(),
        IFormattable other => other.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private static DateTime Utc(DateTime value, Func<DateTimeOffset?>? instant)
    {
        if (value.Kind == DateTimeKind.Utc)
        {
            return value;
        }

        if (value.Kind == DateTimeKind.Unspecified && instant?.Invoke() is { } exact)
        {
            return exact.UtcDateTime;
        }

        // Unspecified from a zone-less column is the UTC wall clock (the driver reads such columns in UTC).
        return value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc);
    }

    private static object Integer(BigInteger value) =>
        value >= long.MinValue && value <= long.MaxValue ? (long)value
        : value >= 0 && value <= ulong.MaxValue ? (ulong)value
        : value.ToString(CultureInfo.InvariantCulture);
}
