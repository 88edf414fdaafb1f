using System.Globalization;

namespace Coldstore.Sql;

/// <summary>
/// A ClickHouse release as <c>version()</c> reports it (e.g. <c>24.12.6.70</c>): year.month, then patch and build.
/// Ordered by those four numbers, so <c>24.12</c> comes after <c>24.8</c>.
/// </summary>
/// <param name="Major">The year part, e.g. 24.</param>
/// <param name="Minor">The month part, e.g. 12.</param>
/// <param name="Patch">The third number, 0 when absent.</param>
/// <param name="Build">The fourth number, 0 when absent.</param>
public readonly record struct ServerVersion(int Major, int Minor, int Patch = 0, int Build = 0) : IComparable<ServerVersion>
{
    /// <summary>
    /// Parses what <c>version()</c> returns: two to four dot-separated numbers, optionally followed by a suffix that
    /// is ignored (<c>24.3.2.23 (official build)</c>, <c>25.3.3.42-lts</c>). False for anything else.
    /// </summary>
    public static bool TryParse(string? text, out ServerVersion version)
    {
        version = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        var end = 0;
        while (end < trimmed.Length && (char.IsAsciiDigit(trimmed[end]) || trimmed[end] == '.'))
        {
            end++;
        }

        var parts = trimmed[..end].Split('.', StringSplitOptions.None);
        if (parts.Length is < 2 or > 4)
        {
            return false;
        }

        var numbers = new int[4];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
            {
                return false;
            }
        }

        version = new ServerVersion(numbers[0], numbers[1], numbers[2], numbers[3]);
        return true;
    }

    /// <inheritdoc />
    public int CompareTo(ServerVersion other)
    {
        var major = Major.CompareTo(other.Major);
        if (major != 0)
        {
            return major;
        }

        var minor = Minor.CompareTo(other.Minor);
        if (minor != 0)
        {
            return minor;
        }

        var patch = Patch.CompareTo(other.Patch);
        return patch != 0 ? patch : Build.CompareTo(other.Build);
    }

    /// <summary>True when <paramref name="left"/> is an earlier release.</summary>
    public static bool operator <(ServerVersion left, ServerVersion right) => left.CompareTo(right) < 0;

    /// <summary>True when <paramref name="left"/> is a later release.</summary>
    public static bool operator >(ServerVersion left, ServerVersion right) => left.CompareTo(right) > 0;

    /// <summary>True when <paramref name="left"/> is the same or an earlier release.</summary>
    public static bool operator <=(ServerVersion left, ServerVersion right) => left.CompareTo(right) <= 0;

    /// <summary>True when <paramref name="left"/> is the same or a later release.</summary>
    public static bool operator >=(ServerVersion left, ServerVersion right) => left.CompareTo(right) >= 0;

    /// <summary>The release line, e.g. <c>24.8</c>, followed by patch and build when they are not zero.</summary>
    public override string ToString() =>
        Patch == 0 && Build == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}")
            : string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}.{Patch}.{Build}");
}
