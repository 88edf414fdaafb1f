using System.Net;
using System.Numerics;
using Coldstore.ClickHouse.Http;
using NodaTime;

namespace Coldstore.ClickHouse.Tests.Http;

public sealed class RowValuesTests
{
    public static TheoryData<object?, object?> Scalars => new()
    {
        { null, null },
        { DBNull.Value, null },
        { "text", "text" },
        { true, true },
        { (sbyte)-1, -1L },
        { (byte)200, 200L },
        { (short)-300, -300L },
        { (ushort)60000, 60000L },
        { -70000, -70000L },
        { uint.MaxValue, 4294967295L },
        { long.MinValue, long.MinValue },
        { ulong.MaxValue, ulong.MaxValue },
        { 0.1f, 0.1d },
        { 2.5d, 2.5d },
        { 12.3400m, "12.3400" },
        { (Int128)42, 42L },
        { (UInt128)ulong.MaxValue, ulong.MaxValue },
        { BigInteger.Pow(2, 100), "1267650600228229401496703205376" },
        { Guid.Empty, "00000000-0000-0000-0000-000000000000" },
        { IPAddress.Parse("10.0.0.1"), "10.0.0.1" },
    };

    [Theory]
    [MemberData(nameof(Scalars))]
    public void Scalars_become_the_row_contract_types(object? driverValue, object? expected)
    {
        var normalized = RowValues.Normalize(driverValue);

        Assert.Equal(expected, normalized);
        Assert.Equal(expected?.GetType(), normalized?.GetType());
    }

    [Fact]
    public void Date_time_shapes_all_become_utc_date_times()
    {
        var utc = new DateTime(2024, 3, 31, 1, 30, 0, DateTimeKind.Utc);

        Assert.Equal(utc, Utc(RowValues.Normalize(utc)));
        Assert.Equal(utc, Utc(RowValues.Normalize(DateTime.SpecifyKind(utc, DateTimeKind.Unspecified))));
        Assert.Equal(utc, Utc(RowValues.Normalize(new DateTimeOffset(utc).ToOffset(TimeSpan.FromHours(2)))));
        Assert.Equal(utc, Utc(RowValues.Normalize(Instant.FromDateTimeUtc(utc))));
        Assert.Equal(utc, Utc(RowValues.Normalize(Instant.FromDateTimeUtc(utc).InZone(DateTimeZoneProviders.Tzdb["Europe/Berlin"]))));
        Assert.Equal(utc, Utc(RowValues.Normalize(Instant.FromDateTimeUtc(utc).WithOffset(Offset.FromHours(-5)))));
        Assert.Equal(new DateTime(2024, 3, 31, 0, 0, 0, DateTimeKind.Utc), Utc(RowValues.Normalize(new DateOnly(2024, 3, 31))));
    }

    [Fact]
    public void An_unspecified_wall_clock_uses_the_exact_instant_when_the_reader_has_one()
    {
        // Europe/Berlin wall clock 03:30 on the switch to summer time is 01:30 UTC.
        var wall = new DateTime(2024, 3, 31, 3, 30, 0, DateTimeKind.Unspecified);
        var exact = new DateTimeOffset(2024, 3, 31, 3, 30, 0, TimeSpan.FromHours(2));

        Assert.Equal(new DateTime(2024, 3, 31, 1, 30, 0, DateTimeKind.Utc), Utc(RowValues.Normalize(wall, () => exact)));
    }

    [Fact]
    public void Arrays_keep_normalized_elements()
    {
        var normalized = Assert.IsType<object?[]>(RowValues.Normalize(new uint[] { 1, 2 }));

        Assert.Equal([1L, 2L], normalized);
    }

    private static DateTime Utc(object? value)
    {
        var dateTime = Assert.IsType<DateTime>(value);
        Assert.Equal(DateTimeKind.Utc, dateTime.Kind);
        return dateTime;
    }
}
