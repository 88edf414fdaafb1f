using System.Collections;
using System.Globalization;
using System.Text;
using NodaTime;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// Renders a parameter value as the text ClickHouse's HTTP interface expects in <c>param_name</c>. Only the
/// streaming insert needs it: the driver formats parameters itself for queries, but its raw-stream call
/// takes none, so an INSERT's parameters travel as URL options rendered here.
/// </summary>
internal static class ParameterText
{
    /// <summary>ClickHouse's text for NULL in parameters.</summary>
    internal const string Null = "\\N";

    /// <summary>Formats <paramref name="value"/> for the placeholder type <paramref name="type"/>.</summary>
    internal static string Format(object? value, string type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return Format(value, Unwrap(type), quote: false);
    }

    /// <summary>
    /// Escapes text the way ClickHouse reads an escaped string: backslash, quote and control characters get a
    /// backslash, so a value cannot end the literal it is placed in.
    /// </summary>
    internal static string EscapeString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => builder.Append("\\\\"),
                '\'' => builder.Append("\\'"),
                '\t' => builder.Append("\\t"),
                '\n' => builder.Append("\\n"),
                '\r' => builder.Append("\\r"),
                '\0' => builder.Append("\\0"),
                '\b' => builder.Append("\\b"),
                '\f' => builder.Append("\\f"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    private static string Format(object? value, string type, bool quote) => value switch
    {
        null or DBNull => quote ? "NULL" : Null,
        string s => quote ? $"'{EscapeString(s)}'" : EscapeString(s),
        bool b => b ? "true" : "false",
        Guid g => Quote(g.ToString("D"), quote),
        DateTime d => Quote(FormatDateTime(d, type), quote),
        DateTimeOffset d => Quote(FormatDateTime(d.UtcDateTime, type), quote),
        IFormattable n when value is sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal
            => n.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable items => FormatArray(items, type),
        _ => throw new ArgumentException(
            $"A parameter of type {value.GetType().Name} cannot be sent to ClickHouse; use a string, an integer, bool, Guid, DateTime or an array of those."),
    };

    private static string FormatArray(IEnumerable items, string type)
    {
        var element = type.StartsWith("Array(", StringComparison.Ordinal) && type.EndsWith(')')
            ? Unwrap(type["Array(".Length..^1])
            : type;
        var parts = new List<string>();
        foreach (var item in items)
        {
            parts.Add(Format(item, element, quote: true));
        }

        return $"[{string.Join(',', parts)}]";
    }

    /// <summary>
    /// DateTime values are UTC instants; the text is written in the placeholder's time zone (UTC when it has
    /// none) so the server reads back the same instant.
    /// </summary>
    private static string FormatDateTime(DateTime value, string type)
    {
        var utc = value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc);
        if (type.StartsWith("Date32", StringComparison.Ordinal) || type == "Date")
        {
            return utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        }

        var wall = utc;
        var zone = TimeZoneOf(type);
        if (zone is not null && DateTimeZoneProviders.Tzdb.GetZoneOrNull(zone) is { } tz)
        {
            wall = Instant.FromDateTimeUtc(utc).InZone(tz).ToDateTimeUnspecified();
        }
        else if (zone is null && utc >= DateTime.UnixEpoch)
        {
            // A placeholder without a zone reads wall-clock text in the session's zone (session_timezone, else
            // the server's), which the client cannot know for sure. Unix seconds name the instant itself, and
            // the server parses them into DateTime and DateTime64 alike, whatever its zone.
            var ticks = (utc - DateTime.UnixEpoch).Ticks;
            var seconds = ticks / TimeSpan.TicksPerSecond;
            var fraction = ticks % TimeSpan.TicksPerSecond;
            return type.StartsWith("DateTime64", StringComparison.Ordinal)
                ? string.Create(CultureInfo.InvariantCulture, $"{seconds}.{fraction:0000000}")
                : seconds.ToString(CultureInfo.InvariantCulture);
        }

        var pattern = type.StartsWith("DateTime64", StringComparison.Ordinal) ? "yyyy-MM-dd HH:mm:ss.fffffff" : "yyyy-MM-dd HH:mm:ss";
        return wall.ToString(pattern, CultureInfo.InvariantCulture);
    }

    private static string? TimeZoneOf(string type)
    {
        var open = type.IndexOf('\'', StringComparison.Ordinal);
        var close = type.LastIndexOf('\'');
        return open >= 0 && close > open ? type[(open + 1)..close] : null;
    }

    private static string Quote(string text, bool quote) => quote ? $"'{text}'" : text;

    /// <summary>Nullable and LowCardinality change nothing about how a value is written.</summary>
    private static string Unwrap(string type)
    {
        var t = type.Trim();
        foreach (var wrapper in (string[])["Nullable(", "LowCardinality("])
        {
            if (t.StartsWith(wrapper, StringComparison.Ordinal) && t.EndsWith(')'))
            {
                return Unwrap(t[wrapper.Length..^1]);
            }
        }

        return t;
    }
}
