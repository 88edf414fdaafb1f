using System.Text.RegularExpressions;

namespace Coldstore.Configuration;

/// <summary>Helpers that keep secrets out of the text Coldstore prints.</summary>
public static partial class SettingText
{
    /// <summary>
    /// What follows <paramref name="scheme"/> (e.g. <c>sqlite:</c>) in <paramref name="value"/>, or null when the value
    /// does not start with it or has nothing after it: how an adapter whose value is a scheme and a path claims it.
    /// </summary>
    public static string? AfterScheme(string? value, string scheme)
    {
        ArgumentException.ThrowIfNullOrEmpty(scheme);
        return value is not null && value.StartsWith(scheme, StringComparison.Ordinal) && value.Length > scheme.Length ? value[scheme.Length..] : null;
    }

    /// <summary>Replaces the password in <c>scheme://user:password@host</c> with <c>***</c>.</summary>
    public static string MaskUrlPassword(string value) => UrlPassword().Replace(value ?? string.Empty, "$1***@");

    /// <summary>Replaces <c>Password=…</c> (and its aliases) in a connection string with <c>***</c>.</summary>
    public static string MaskConnectionString(string value) => ConnectionPassword().Replace(MaskUrlPassword(value), "$1=***");

    [GeneratedRegex(@"(://[^:/@\s]*:)[^@\s]*@", RegexOptions.CultureInvariant)]
    private static partial Regex UrlPassword();

    [GeneratedRegex(@"(?i)\b(password|pwd)\s*=\s*(""[^""]*""|'[^']*'|[^;]*)", RegexOptions.CultureInvariant)]
    private static partial Regex ConnectionPassword();
}
