using System.Globalization;
using System.Text;
using System.Text.Json;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// Reads chDB's <c>JSONCompact</c> output into <see cref="ClickHouseRow"/>s with values normalized the way
/// the port promises: string, long, ulong, double, bool, UTC DateTime, or null.
/// </summary>
/// <remarks>
/// Mapping: signed integers up to Int64 and unsigned up to UInt32 become long, UInt64 becomes ulong (read
/// from the JSON number's text, so values near 2^64 stay exact); 128/256-bit integers and Decimals become
/// their exact text; floats become double (nan/inf too); Bool becomes bool; Date, Date32, DateTime and
/// DateTime64 become UTC DateTime, read in the zone the type names or else the session's; Array, Tuple,
/// Map and JSON columns become their JSON text; everything else (String, UUID, Enum, IPs…) becomes text.
/// </remarks>
internal static class ChdbResultReader
{
    /// <summary>The output format chDB is asked for when rows come back to .NET.</summary>
    public const string Format = "JSONCompact";

    public static IReadOnlyList<ClickHouseRow> Read(ReadOnlySpan<byte> output, string sessionTimeZone)
    {
        if (output.IsEmpty)
        {
            return [];
        }

        // ClickHouse writes String bytes into JSON unchanged, so a column with invalid UTF-8 would make the
        // document unparseable; decoding first turns those bytes into U+FFFD instead of failing the query.
        using var document = JsonDocument.Parse(Encoding.UTF8.GetString(output));
        var root = document.RootElement;
        var columns = root.GetProperty("meta").EnumerateArray()
            .Select(column => (Name: column.GetProperty("name").GetString()!, Type: ClickHouseType.Parse(column.GetProperty("type").GetString()!)))
            .ToArray();

        var ordinals = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Length; i++)
        {
            ordinals.TryAdd(columns[i].Name, i);
        }

        var rows = new List<ClickHouseRow>();
        foreach (var data in root.GetProperty("data").EnumerateArray())
        {
            var values = new object?[columns.Length];
            var i = 0;
            foreach (var cell in data.EnumerateArray())
            {
                values[i] = Normalize(cell, columns[i].Type, sessionTimeZone);
                i++;
            }

            rows.Add(new ClickHouseRow(ordinals, values));
        }

        return rows;
    }

    internal static object? Normalize(JsonElement cell, ClickHouseType type, string sessionTimeZone)
    {
        if (cell.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        switch (type.Name)
        {
            case "Int8" or "Int16" or "Int32" or "Int64" or "UInt8" or "UInt16" or "UInt32":
                return long.Parse(NumberText(cell), CultureInfo.InvariantCulture);
            case "UInt64":
                return ulong.Parse(NumberText(cell), CultureInfo.InvariantCulture);
            case "Int128" or "Int256" or "UInt128" or "UInt256" or "Decimal" or "Decimal32" or "Decimal64" or "Decimal128" or "Decimal256":
                return NumberText(cell);
            case "Float32" or "Float64" or "BFloat16":
                return cell.ValueKind == JsonValueKind.Number
                    ? cell.GetDouble()
                    : ParseSpecialFloat(cell.GetString()!);
            case "Bool":
                return cell.ValueKind == JsonValueKind.String ? cell.GetString() is "true" or "1" : cell.GetBoolean();
            case "Date" or "Date32":
                return DateTime.SpecifyKind(
                    DateTime.ParseExact(cell.GetString()!, "yyyy-MM-dd", CultureInfo.InvariantCulture), DateTimeKind.Utc);
            case "DateTime" or "DateTime64":
                return ParseDateTime(cell.GetString()!, type.TimeZone ?? sessionTimeZone);
            case "Array" or "Tuple" or "Map" or "JSON" or "Object" or "Nested" or "Variant" or "Dynamic":
                return cell.GetRawText();
            default:
                return cell.ValueKind == JsonValueKind.String ? cell.GetString() : cell.GetRawText();
        }
    }

    /// <summary>The text of a number, whether ClickHouse wrote it bare or quoted (64-bit quoting settings).</summary>
    private static string NumberText(JsonElement cell) =>
        cell.ValueKind == JsonValueKind.String ? cell.GetString()! : cell.GetRawText();

    private static double ParseSpecialFloat(string text) => text switch
    {
        "nan" or "-nan" => double.NaN,
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary>Reads <c>yyyy-MM-dd HH:mm:ss[.fraction]</c> as wall-clock time in <paramref name="zone"/> and returns UTC.</summary>
    internal static DateTime ParseDateTime(string text, string zone)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var wholeSeconds = DateTime.ParseExact(dot < 0 ? text : text[..dot], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        if (dot >= 0)
        {
            // DateTime64 can carry up to 9 digits; .NET keeps 7 (100 ns), so the rest is dropped.
            var fraction = text[(dot + 1)..];
            var digits = fraction.Length > 7 ? fraction[..7] : fraction.PadRight(7, '0');
            wholeSeconds = wholeSeconds.AddTicks(long.Parse(digits, CultureInfo.InvariantCulture));
        }

        var timeZone = ChdbParameterFormatter.FindZone(zone);
        return timeZone == TimeZoneInfo.Utc
            ? DateTime.SpecifyKind(wholeSeconds, DateTimeKind.Utc)
            : TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(wholeSeconds, DateTimeKind.Unspecified), timeZone);
    }
}
