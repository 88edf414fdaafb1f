using System.Text.RegularExpressions;

namespace Coldstore.Archive;

/// <summary>
/// Validation of archive keys, prefixes and patterns, shared by every archive store so they refuse the same
/// input with the same words. Keys are relative to the store's root, use forward slashes and have no empty,
/// <c>.</c> or <c>..</c> segments: a key can never name something outside the root, on a disk or in a bucket.
/// </summary>
/// <remarks>
/// Why this file is compiled into both store assemblies (the S3 project links it): the rules belong next to
/// <c>IArchiveStore</c> in Coldstore.Core, which other teams build against right now and we may not change.
/// Move it there when Core opens again.
/// </remarks>
internal static partial class ArchiveKeys
{
    /// <summary>Characters ClickHouse reads as globs in s3()/file() paths; a literal key must not contain them.</summary>
    public static readonly System.Buffers.SearchValues<char> GlobCharacters = System.Buffers.SearchValues.Create("*?{}[]");

    /// <summary>Throws unless <paramref name="key"/> names one object under the root.</summary>
    public static void ValidateKey(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("An archive key must not be empty.", paramName);
        }

        ValidatePath(key, paramName, "key", allowTrailingSlash: false);
        var glob = key.AsSpan().IndexOfAny(GlobCharacters);
        if (glob >= 0)
        {
            throw new ArgumentException(
                $"Archive key '{key}' contains '{key[glob]}', which ClickHouse reads as a glob; globs belong in table-function patterns, not in object keys.",
                paramName);
        }
    }

    /// <summary>
    /// Throws unless <paramref name="prefix"/> is empty (everything) or a key prefix under the root. A prefix may end
    /// with <c>/</c> (a folder) or in the middle of a segment (<c>ws1</c> also matches <c>ws10</c>).
    /// </summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length > 0)
        {
            ValidatePath(prefix, paramName, "prefix", allowTrailingSlash: true);
        }
    }

    /// <summary>Throws unless <paramref name="pattern"/> is a key that may hold ClickHouse globs or <c>{_partition_id}</c>.</summary>
    public static void ValidatePattern(string pattern, string paramName = "keyPattern")
    {
        ArgumentNullException.ThrowIfNull(pattern, paramName);
        if (pattern.Length == 0)
        {
            throw new ArgumentException("A key pattern must not be empty.", paramName);
        }

        ValidatePath(pattern, paramName, "key pattern", allowTrailingSlash: false);
    }

    /// <summary>Throws unless <paramref name="format"/> is a ClickHouse format name such as <c>Parquet</c>.</summary>
    public static void ValidateFormat(string format, string paramName = "format")
    {
        ArgumentNullException.ThrowIfNull(format, paramName);
        if (!IdentifierPattern().IsMatch(format))
        {
            throw new ArgumentException(
                $"Format '{format}' is not a ClickHouse format name (letters, digits and underscores, e.g. Parquet).", paramName);
        }
    }

    /// <summary>
    /// Throws unless <paramref name="columns"/> (a table function's column list, written into the SQL as a literal)
    /// holds only names, types, spaces, commas and parentheses: nothing that could end the literal.
    /// </summary>
    public static void ValidateColumns(string? columns, string paramName = "columns")
    {
        if (columns is not null && !ColumnsPattern().IsMatch(columns))
        {
            throw new ArgumentException(
                $"Columns '{columns}' is not a column list (names and types: letters, digits, underscores, spaces, commas, parentheses).", paramName);
        }
    }

    /// <summary>Throws unless <paramref name="parameterPrefix"/> can start a ClickHouse query-parameter name.</summary>
    public static void ValidateParameterPrefix(string parameterPrefix, string paramName = "parameterPrefix")
    {
        ArgumentNullException.ThrowIfNull(parameterPrefix, paramName);
        if (!IdentifierPattern().IsMatch(parameterPrefix))
        {
            throw new ArgumentException(
                $"Parameter prefix '{parameterPrefix}' must be a letter or underscore followed by letters, digits or underscores.", paramName);
        }
    }

    private static void ValidatePath(string value, string paramName, string what, bool allowTrailingSlash)
    {
        if (value[0] == '/')
        {
            throw new ArgumentException($"Archive {what} '{value}' must be relative to the store's root: remove the leading '/'.", paramName);
        }

        if (value.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Archive {what} '{Printable(value)}' contains a backslash; separate segments with '/'.", paramName);
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"Archive {what} '{Printable(value)}' contains a control character (U+{(int)c:X4}).", paramName);
            }
        }

        var segments = value.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            var isLast = i == segments.Length - 1;
            if (segment.Length == 0 && !(isLast && allowTrailingSlash))
            {
                throw new ArgumentException(
                    $"Archive {what} '{value}' has an empty segment ('//' or a trailing '/'); every segment between slashes needs a name.", paramName);
            }

            if (segment is "." or "..")
            {
                throw new ArgumentException(
                    $"Archive {what} '{value}' has a '{segment}' segment, which could point outside the store's root.", paramName);
            }
        }
    }

    // Control characters are shown escaped so a message never carries a terminal escape sequence.
    private static string Printable(string value) =>
        string.Concat(value.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));

    [GeneratedRegex(@"^[A-Za-z0-9_ ,()]+$", RegexOptions.CultureInvariant)]
    private static partial Regex ColumnsPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}
