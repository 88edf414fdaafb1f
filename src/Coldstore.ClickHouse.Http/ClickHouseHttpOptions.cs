using System.Globalization;
using Coldstore.Errors;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// Where and how to reach a ClickHouse server, parsed from one URL so a deployment has a single setting
/// (<see cref="HttpClickHouseClient.SettingName"/>) to get right.
/// </summary>
internal sealed record ClickHouseHttpOptions
{
    /// <summary>Shown in every configuration error so the fix is in the message.</summary>
    internal const string AcceptedForms =
        "Accepted forms: http://host:8123, https://user:password@host:8443/database, " +
        "optionally with ?timeout=SECONDS (default 600) and &compression=true|false (default true). " +
        "Percent-encode reserved characters in the user and password.";

    /// <summary>
    /// The whole request, including a long INSERT … SELECT into S3, runs inside one HTTP request: the default
    /// leaves room for large workspaces without letting a dead connection hang a worker forever.
    /// </summary>
    internal static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    private static readonly string[] KnownOptions = ["timeout", "compression"];

    public required string Scheme { get; init; }

    public required string Host { get; init; }

    public required int Port { get; init; }

    public string User { get; init; } = "default";

    public string Password { get; init; } = string.Empty;

    public string Database { get; init; } = "default";

    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    public bool Compression { get; init; } = true;

    /// <summary>Where the client points, without the password (the user name is not a secret and helps support).</summary>
    public string Description =>
        string.Create(CultureInfo.InvariantCulture, $"ClickHouse server at {Scheme}://{HostForUrl}:{Port}/{Database} as {User}");

    private string HostForUrl => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;

    /// <summary>Never print the password, even when a record is logged or shown in a debugger.</summary>
    public override string ToString() => Description;

    /// <summary>Parses and validates the URL; throws <see cref="ConfigurationException"/> quoting it with the password masked.</summary>
    public static ClickHouseHttpOptions Parse(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            throw Invalid(url, "it is empty");
        }

        var text = url.Trim();
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw Invalid(text, "it is not an absolute URL");
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            throw Invalid(text, $"the scheme '{uri.Scheme}' is neither http nor https (the native TCP protocol is not supported)");
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            throw Invalid(text, "it has no host");
        }

        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            throw Invalid(text, "it has a '#' fragment, which is probably part of an unencoded password");
        }

        var (user, password) = ParseUserInfo(text, uri.UserInfo);
        var database = ParseDatabase(text, uri.AbsolutePath);
        var (timeout, compression) = ParseQuery(text, uri.Query);

        return new ClickHouseHttpOptions
        {
            Scheme = uri.Scheme,
            Host = uri.Host.Trim('[', ']'),
            Port = uri.Port,
            User = user,
            Password = password,
            Database = database,
            Timeout = timeout,
            Compression = compression,
        };
    }

    /// <summary>
    /// Replaces the password in a URL-like text with <c>***</c>. Works on text that failed to parse too,
    /// because that is exactly when the value is quoted back to the operator.
    /// </summary>
    internal static string MaskPassword(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        var authorityStart = schemeEnd < 0 ? 0 : schemeEnd + 3;

        // The last '@' ends the user info: an unencoded '@' or '/' in a password is a common mistake, and
        // masking up to the last '@' hides all of such a password rather than a prefix of it.
        var at = text.LastIndexOf('@');
        if (at < authorityStart)
        {
            return text;
        }

        var colon = text.IndexOf(':', authorityStart);
        if (colon < 0 || colon > at)
        {
            return text;
        }

        return string.Concat(text.AsSpan(0, colon + 1), "***", text.AsSpan(at));
    }

    private static (string User, string Password) ParseUserInfo(string text, string userInfo)
    {
        if (userInfo.Length == 0)
        {
            return ("default", string.Empty);
        }

        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? string.Empty : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        if (user.Length == 0)
        {
            throw Invalid(text, "the user name before ':' is empty (leave out the user info to connect as 'default')");
        }

        return (user, password);
    }

    private static string ParseDatabase(string text, string path)
    {
        var trimmed = path.Trim('/');
        if (trimmed.Length == 0)
        {
            return "default";
        }

        var database = Uri.UnescapeDataString(trimmed);
        if (database.Contains('/', StringComparison.Ordinal))
        {
            // The path is not quoted: with an unencoded '/' in a password, part of the password lands here.
            throw Invalid(text, "the path has more than one segment; it must be just the database name");
        }

        return database;
    }

    private static (TimeSpan Timeout, bool Compression) ParseQuery(string text, string query)
    {
        var timeout = DefaultTimeout;
        var compression = true;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            var value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);

            if (!seen.Add(name))
            {
                throw Invalid(text, $"the option '{name}' is given twice");
            }

            switch (name.ToUpperInvariant())
            {
                case "TIMEOUT":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                    {
                        throw Invalid(text, $"timeout '{value}' is not a positive whole number of seconds");
                    }

                    timeout = TimeSpan.FromSeconds(seconds);
                    break;
                case "COMPRESSION":
                    if (!bool.TryParse(value, out compression))
                    {
                        throw Invalid(text, $"compression '{value}' is neither true nor false");
                    }

                    break;
                default:
                    throw Invalid(text, $"the option '{name}' is unknown (known: {string.Join(", ", KnownOptions)}; " +
                        "ClickHouse settings belong on the statements, not in this URL)");
            }
        }

        return (timeout, compression);
    }

    private static ConfigurationException Invalid(string? text, string reason) =>
        new(HttpClickHouseClient.SettingName,
            $"{HttpClickHouseClient.SettingName} '{MaskPassword(text)}' is not a valid ClickHouse server URL: {reason}. {AcceptedForms}");
}
