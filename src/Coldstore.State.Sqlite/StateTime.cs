using System.Globalization;
using Coldstore.Domain;

namespace Coldstore.State.Sqlite;

/// <summary>Conversions shared by the store's reads and writes. Pure.</summary>
internal static class StateTime
{
    /// <summary>
    /// The text form of instants in every SQLite column: what <c>strftime('%Y-%m-%d %H:%M:%f', 'now')</c> produces.
    /// Fixed width, so comparing texts compares instants.
    /// </summary>
    public const string Format = "yyyy-MM-dd HH:mm:ss.fff";

    /// <summary>An instant as stored text (UTC, whole milliseconds).</summary>
    public static string ToText(DateTime value) => UtcMilliseconds.Truncate(value).ToString(Format, CultureInfo.InvariantCulture);

    /// <summary>
    /// Stored text as a UTC instant. Accepts Coldstore's own form and, for rows written by someone else, any ISO-8601
    /// form (taken as UTC when it has no offset).
    /// </summary>
    public static DateTime FromText(string text)
    {
        const DateTimeStyles utc = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
        if (DateTime.TryParseExact(text, Format, CultureInfo.InvariantCulture, utc, out var exact))
        {
            return exact;
        }

        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, utc, out var loose))
        {
            return loose;
        }

        throw new FormatException($"Cannot read '{text}' as a time; expected {Format} in UTC.");
    }

    /// <summary>
    /// A duration as a modifier of SQLite's date functions, e.g. <c>+30.000 seconds</c>, so expiry is computed from
    /// the database's clock rather than the caller's.
    /// </summary>
    public static string Modifier(TimeSpan duration) =>
        string.Create(CultureInfo.InvariantCulture, $"+{duration.TotalSeconds:0.000} seconds");
}
