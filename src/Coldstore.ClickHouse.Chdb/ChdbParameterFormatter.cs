using System.Collections;
using System.Globalization;
using System.Text;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// Turns .NET parameter values into the text chDB parses for a <c>{name:Type}</c> placeholder.
/// </summary>
/// <remarks>
/// chDB reads a bound value with the type's "escaped" text deserializer (TabSeparated field syntax) and
/// requires the whole value to be consumed. So a String value must have backslash, tab, newline (and the
/// other control characters) escaped, or a backslash is eaten and a tab or newline fails the query; a NULL
/// is <c>\N</c>. Inside an array the elements use the quoted syntax instead (<c>['a\'b']</c>), with no
/// second level of escaping around the array. Measured on chDB 26.7.3: <c>[1,0]</c> is not an
/// <c>Array(Bool)</c> (only <c>[true,false]</c> is), while a top-level Bool accepts both forms.
/// Date-times are written as wall-clock text in the placeholder's time zone (or the session's when the
/// type names none), because that is the zone ClickHouse reads the text in.
/// </remarks>
internal static class ChdbParameterFormatter
{
    /// <summary>Formats <paramref name="value"/> for a placeholder of type <paramref name="clickHouseType"/>.</summary>
    /// <param name="value">A string, integer, bool, Guid, DateTime (UTC; Unspecified is taken as UTC), null, or an array/list of those.</param>
    /// <param name="clickHouseType">The type written in the placeholder, e.g. <c>Array(String)</c>.</param>
    /// <param name="sessionTimeZone">The IANA zone ClickHouse uses for date-time types that name none.</param>
    public static string Format(object? value, string clickHouseType, string sessionTimeZone = "UTC")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clickHouseType);
        var builder = new StringBuilder();
        Append(builder, value, ClickHouseType.Parse(clickHouseType), sessionTimeZone, quoted: false);
        return builder.ToString();
    }

    private static void Append(StringBuilder builder, object? value, ClickHouseType type, string sessionTimeZone, bool quoted)
    {
        switch (value)
        {
            case null:
                if (!type.IsNullable)
                {
                    throw new ArgumentException($"A null value needs a Nullable(...) placeholder type, not {type.Text}.", nameof(value));
                }

                builder.Append(quoted ? "NULL" : "\\N");
                break;
            case string text:
                AppendText(builder, text, quoted);
                break;
            case bool flag:
                // Bool parses true/false everywhere (and [1,0] not at all); integer types need 1/0.
                builder.Append(type.Name == "Bool" ? (flag ? "true" : "false") : (flag ? "1" : "0"));
                break;
            case Guid guid:
                AppendText(builder, guid.ToString("D"), quoted);
                break;
            case DateTime dateTime:
                AppendText(builder, FormatDateTime(dateTime, type, sessionTimeZone), quoted);
                break;
            case sbyte or byte or short or ushort or int or uint or long or ulong or Int128 or UInt128:
                builder.Append(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                break;
            case IEnumerable items:
                var elementType = type.ElementType
                    ?? throw new ArgumentException($"A list value needs an Array(...) placeholder type, not {type.Text}.", nameof(value));
                builder.Append('[');
                var first = true;
                foreach (var item in items)
                {
                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    Append(builder, item, elementType, sessionTimeZone, quoted: true);
                }

                builder.Append(']');
                break;
            default:
                throw new ArgumentException(
                    $"Cannot bind a {value.GetType().Name} to {{…:{type.Text}}}; use a string, an integer, bool, Guid, DateTime or an array of those.",
                    nameof(value));
        }
    }

    /// <summary>Escaped (top level) or quoted (inside an array) text, so every character survives exactly.</summary>
    private static void AppendText(StringBuilder builder, string text, bool quoted)
    {
        if (quoted)
        {
            builder.Append('\'');
        }

        foreach (var character in text)
        {
            _ = character switch
            {
                '\\' => builder.Append("\\\\"),
                '\t' => builder.Append("\\t"),
                '\n' => builder.Append("\\n"),
                '\r' => builder.Append("\\r"),
                '\0' => builder.Append("\\0"),
                '\b' => builder.Append("\\b"),
                '\f' => builder.Append("\\f"),
                '\'' when quoted => builder.Append("\\'"),
                _ => builder.Append(character),
            };
        }

        if (quoted)
        {
            builder.Append('\'');
        }
    }

    private static string FormatDateTime(DateTime value, ClickHouseType type, string sessionTimeZone)
    {
        var precision = type.Name switch
        {
            "DateTime" => 0,
            "DateTime64" => type.DateTimePrecision,
            "Date" or "Date32" => -1,
            _ => throw new ArgumentException($"Cannot bind a DateTime to {{…:{type.Text}}}; use DateTime, DateTime64(p) or Date.", nameof(value)),
        };

        var utc = value.Kind switch
        {
            DateTimeKind.Local => value.ToUniversalTime(),
            _ => DateTime.SpecifyKind(value, DateTimeKind.Utc),
        };

        if (precision < 0)
        {
            return utc.TimeOfDay == TimeSpan.Zero
                ? utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
                : throw new ArgumentException($"{utc:O} has a time of day; a {type.Text} placeholder would drop it.", nameof(value));
        }

        // Refuse rather than round: a cutoff silently moved by a fraction of a second selects other rows.
        var digits = Math.Min(precision, 7);
        var ticksPerUnit = (long)Math.Pow(10, 7 - digits);
        if (utc.Ticks % ticksPerUnit != 0)
        {
            throw new ArgumentException(
                $"{utc:O} is more precise than {type.Text} keeps; truncate it first or use DateTime64 with more digits.", nameof(value));
        }

        var wallClock = TimeZoneInfo.ConvertTimeFromUtc(utc, FindZone(type.TimeZone ?? sessionTimeZone));
        var pattern = digits == 0 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm:ss." + new string('f', digits);
        return wallClock.ToString(pattern, CultureInfo.InvariantCulture);
    }

    /// <summary>Finds an IANA zone; UTC needs no time zone database.</summary>
    internal static TimeZoneInfo FindZone(string name) =>
        name is "UTC" or "Etc/UTC" or "GMT" or "Etc/GMT" or "UCT" or "Zulu" or "Universal"
            ? TimeZoneInfo.Utc
            : TimeZoneInfo.FindSystemTimeZoneById(name);
}
