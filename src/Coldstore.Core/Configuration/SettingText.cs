using System.Text.RegularExpressions;
using Coldstore.Errors;

namespace Coldstore.Configuration;

/// <summary>Helpers that keep secrets out of the text Coldstore prints.</summary>
public static partial class SettingText
{
    /// <summary>Replaces the password in <c>scheme://user:password@host</c> with <c>***</c>.</summary>
    public static string MaskUrlPassword(string value) => UrlPassword().Replace(value ?? string.Empty, "$1***@");

    /// <summary>Replaces <c>Password=…</c> (and its aliases) in a connection string with <c>***</c>.</summary>
    public static string MaskConnectionString(string value) => ConnectionPassword().Replace(MaskUrlPassword(value), "$1=***");

    /// <summary>Turns <c>postgres://user:password@host:port/db?sslmode=require</c> into an Npgsql connection string.</summary>
    internal static string PostgresUrlToConnectionString(string url, string setting)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ConfigurationException(setting, $"{setting}='{MaskUrlPassword(url)}' is not a valid Postgres URL: use postgres://user:password@host:5432/database.");
        }

        var parts = new List<string> { $"Host={uri.Host}" };
        if (uri.Port > 0)
        {
            parts.Add($"Port={uri.Port}");
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        if (database.Length > 0)
        {
            parts.Add($"Database={Quote(database)}");
        }

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            parts.Add($"Username={Quote(Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]))}");
            if (colon >= 0)
            {
                parts.Add($"Password={Quote(Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]))}");
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && pair[..eq].Equals("sslmode", StringComparison.OrdinalIgnoreCase))
            {
                parts.Add($"SSL Mode={Uri.UnescapeDataString(pair[(eq + 1)..])}");
            }
        }

        return string.Join(';', parts);
    }

    private static string Quote(string value) =>
        value.IndexOfAny([';', '=', '"', '\'', ' ']) < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    [GeneratedRegex(@"(://[^:/@\s]*:)[^@\s]*@", RegexOptions.CultureInvariant)]
    private static partial Regex UrlPassword();

    [GeneratedRegex(@"(?i)\b(password|pwd)\s*=\s*(""[^""]*""|'[^']*'|[^;]*)", RegexOptions.CultureInvariant)]
    private static partial Regex ConnectionPassword();
}
