using System.Globalization;

namespace Coldstore.Ports;

/// <summary>
/// One result row. Adapters normalize values to <see cref="string"/>, <see cref="long"/>, <see cref="ulong"/>,
/// <see cref="double"/>, <see cref="bool"/>, <see cref="DateTime"/> (UTC) or null; the getters convert
/// between them so callers do not depend on how a transport encodes a type.
/// </summary>
public sealed class ClickHouseRow
{
    private readonly IReadOnlyDictionary<string, int> _ordinals;
    private readonly object?[] _values;

    /// <summary>Creates a row from column names (shared between rows of one result) and values.</summary>
    public ClickHouseRow(IReadOnlyDictionary<string, int> ordinals, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(ordinals);
        ArgumentNullException.ThrowIfNull(values);
        _ordinals = ordinals;
        _values = values;
    }

    /// <summary>The number of columns.</summary>
    public int FieldCount => _values.Length;

    /// <summary>The column names, in the result's order.</summary>
    public IReadOnlyList<string> ColumnNames => [.. _ordinals.OrderBy(c => c.Value).Select(c => c.Key)];

    /// <summary>The raw normalized value of column <paramref name="ordinal"/>.</summary>
    public object? this[int ordinal] => _values[ordinal];

    /// <summary>The raw normalized value of the named column.</summary>
    public object? this[string column] => _values[Ordinal(column)];

    /// <summary>The column's value as text (numbers in invariant culture).</summary>
    public string GetString(string column) => this[column] switch
    {
        null => throw NullValue(column),
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var other => other.ToString() ?? string.Empty,
    };

    /// <summary>The column's value as a signed 64-bit integer.</summary>
    public long GetInt64(string column) => this[column] switch
    {
        null => throw NullValue(column),
        string s => long.Parse(s, CultureInfo.InvariantCulture),
        var other => Convert.ToInt64(other, CultureInfo.InvariantCulture),
    };

    /// <summary>The column's value as an unsigned 64-bit integer (checksums, counts).</summary>
    public ulong GetUInt64(string column) => this[column] switch
    {
        null => throw NullValue(column),
        string s => ulong.Parse(s, CultureInfo.InvariantCulture),
        var other => Convert.ToUInt64(other, CultureInfo.InvariantCulture),
    };

    /// <summary>The column's value as a boolean.</summary>
    public bool GetBoolean(string column) => this[column] switch
    {
        null => throw NullValue(column),
        bool b => b,
        string s => s is "1" || bool.Parse(s),
        var other => Convert.ToInt64(other, CultureInfo.InvariantCulture) != 0,
    };

    /// <summary>The column's value as a UTC <see cref="DateTime"/>; text is read as <c>yyyy-MM-dd HH:mm:ss[.fff]</c> in UTC.</summary>
    public DateTime GetDateTime(string column) => this[column] switch
    {
        null => throw NullValue(column),
        DateTime d => DateTime.SpecifyKind(d, d.Kind == DateTimeKind.Local ? DateTimeKind.Local : DateTimeKind.Utc).ToUniversalTime(),
        string s => DateTime.ParseExact(s, ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-ddTHH:mm:ss.FFFFFFFZ"],
            CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
        var other => throw new InvalidCastException($"Column '{column}' holds {other.GetType().Name}, not a date-time."),
    };

    /// <summary>True when the column's value is null.</summary>
    public bool IsNull(string column) => this[column] is null;

    private int Ordinal(string column) =>
        _ordinals.TryGetValue(column, out var ordinal)
            ? ordinal
            : throw new KeyNotFoundException($"The result has no column '{column}'; it has {string.Join(", ", _ordinals.Keys)}.");

    private static InvalidCastException NullValue(string column) => new($"Column '{column}' is null.");
}
