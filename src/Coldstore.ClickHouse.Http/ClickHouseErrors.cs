using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// Turns what a ClickHouse server answered into <see cref="ClickHouseException"/>. Pure functions, so the
/// parsing is tested against real server texts without a server.
/// </summary>
internal static partial class ClickHouseErrors
{
    /// <summary>
    /// Server error codes where the same statement can succeed later without anyone changing anything:
    /// overload, memory pressure, replication or Keeper hiccups, network trouble between servers.
    /// </summary>
    internal static readonly FrozenSet<int> TransientCodes = new[]
    {
        159, // TIMEOUT_EXCEEDED: max_execution_time hit, usually because the server is busy
        202, // TOO_MANY_SIMULTANEOUS_QUERIES
        203, // NO_FREE_CONNECTION
        209, // SOCKET_TIMEOUT
        210, // NETWORK_ERROR
        225, // NO_ZOOKEEPER
        236, // ABORTED
        241, // MEMORY_LIMIT_EXCEEDED: the server-wide limit depends on what else runs
        242, // TABLE_IS_READ_ONLY: a replica lost Keeper and will come back
        252, // TOO_MANY_PARTS: inserts outran merges; they catch up
        285, // TOO_FEW_LIVE_REPLICAS
        319, // UNKNOWN_STATUS_OF_INSERT
        439, // CANNOT_SCHEDULE_TASK
        999, // KEEPER_EXCEPTION
    }.ToFrozenSet();

    /// <summary>What replaces a secret parameter's value wherever it would be printed.</summary>
    internal const string Mask = "***";

    /// <summary>
    /// Builds the exception for a non-2xx answer or an exception the server sent in the middle of a result.
    /// </summary>
    /// <param name="serverText">The body the server sent (e.g. <c>Code: 60. DB::Exception: … (UNKNOWN_TABLE) (version 26.7.1.1)</c>).</param>
    /// <param name="headerCode">The <c>X-ClickHouse-Exception-Code</c> header, when there was one.</param>
    /// <param name="status">The HTTP status, when known.</param>
    /// <param name="query">The statement, for its purpose and its secret parameters.</param>
    /// <param name="inner">The driver's exception; dropped when the statement has secrets, since its message is the raw server text.</param>
    internal static ClickHouseException FromServer(string serverText, string? headerCode, HttpStatusCode? status, ClickHouseQuery query, Exception? inner)
    {
        var text = Redact(serverText ?? string.Empty, query);
        var parsed = Parse(text);

        var code = parsed.Code
            ?? (int.TryParse(headerCode, NumberStyles.None, CultureInfo.InvariantCulture, out var fromHeader) ? fromHeader : 0);

        bool transient;
        string message;
        if (code != 0)
        {
            transient = TransientCodes.Contains(code);
            message = parsed.Message;
        }
        else
        {
            // No ClickHouse code: a proxy or load balancer answered (an HTML 502 page, say), not ClickHouse.
            transient = status is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable
                or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout;
            var shown = Shorten(parsed.Message);
            message = status is { } s
                ? string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)s} without a ClickHouse error code: {shown}")
                : $"an answer without a ClickHouse error code: {shown}";
        }

        return new ClickHouseException(code, parsed.CodeName, message, query.Purpose, transient,
            query.Parameters.Any(p => p.IsSecret) ? null : inner);
    }

    /// <summary>
    /// Splits a ClickHouse error text into code, name and the human message, dropping the
    /// <c>Code: N. DB::Exception:</c> prefix, the <c>(NAME) (version …)</c> suffix and any stack trace.
    /// </summary>
    internal static (int? Code, string? CodeName, string Message) Parse(string text)
    {
        var message = text.Trim();

        // Servers started with send_stacktrace (or old versions) append a trace; it is noise in our errors.
        var trace = message.IndexOf("Stack trace", StringComparison.Ordinal);
        if (trace > 0)
        {
            message = message[..trace].TrimEnd(' ', ':', ',', '\n', '\r');
        }

        int? code = null;
        var prefix = PrefixPattern().Match(message);
        if (prefix.Success)
        {
            code = int.Parse(prefix.Groups["code"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
            message = message[prefix.Length..];
        }

        string? name = null;
        var suffix = SuffixPattern().Match(message);
        if (suffix.Success)
        {
            name = suffix.Groups["name"].Value;
            message = message[..suffix.Index];
        }
        else
        {
            message = VersionPattern().Replace(message, string.Empty);
        }

        return (code, name, message.Trim());
    }

    /// <summary>
    /// Replaces every secret parameter's value in <paramref name="text"/>: the server quotes values back in
    /// parse errors ("Cannot parse input: … 'value'"), and those must not reach logs.
    /// </summary>
    internal static string Redact(string text, ClickHouseQuery query)
    {
        foreach (var parameter in query.Parameters)
        {
            if (!parameter.IsSecret || parameter.Value is not string { Length: > 0 } secret)
            {
                continue;
            }

            text = text.Replace(secret, Mask, StringComparison.Ordinal);

            // The server may echo the value as it was sent (escaped) rather than as it was meant.
            var escaped = ParameterText.EscapeString(secret);
            if (!string.Equals(escaped, secret, StringComparison.Ordinal))
            {
                text = text.Replace(escaped, Mask, StringComparison.Ordinal);
            }
        }

        return text;
    }

    private static string Shorten(string text)
    {
        const int Max = 300;
        var flat = text.ReplaceLineEndings(" ");
        return flat.Length <= Max ? flat : string.Concat(flat.AsSpan(0, Max), "…");
    }

    [GeneratedRegex(@"^Code:\s*(?<code>\d+)\.\s*(?:DB::Exception:\s*)?", RegexOptions.CultureInvariant)]
    private static partial Regex PrefixPattern();

    // The version may nest parentheses: "(version 24.3.2.23 (official build))".
    [GeneratedRegex(@"\s*\((?<name>[A-Z][A-Z0-9_]+)\)(?:\s*\(version [^()]*(?:\([^()]*\))?\s*\))?\.?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex SuffixPattern();

    [GeneratedRegex(@"\s*\(version [^()]*(?:\([^()]*\))?\s*\)\.?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();
}
