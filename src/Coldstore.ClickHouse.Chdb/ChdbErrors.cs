using System.Text.RegularExpressions;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>Turns chDB's error text into <see cref="ClickHouseException"/>, with secrets removed.</summary>
internal static partial class ChdbErrors
{
    /// <summary>Codes where the same statement can succeed later: time limits, memory, load.</summary>
    private static readonly HashSet<int> TransientCodes =
    [
        159, // TIMEOUT_EXCEEDED
        160, // TOO_SLOW
        202, // TOO_MANY_SIMULTANEOUS_QUERIES
        203, // NO_FREE_CONNECTION
        209, // SOCKET_TIMEOUT
        210, // NETWORK_ERROR
        241, // MEMORY_LIMIT_EXCEEDED
        252, // TOO_MANY_PARTS
        394, // QUERY_WAS_CANCELLED
        473, // DEADLOCK_AVOIDED
        499, // S3_ERROR
    ];

    /// <summary>
    /// Parses text such as <c>Code: 60. DB::Exception: Table db.t does not exist. (UNKNOWN_TABLE) (version …)</c>.
    /// Every secret parameter's value, raw and as sent, is replaced by <c>***</c> first: ClickHouse quotes
    /// a parameter value it cannot parse in its message.
    /// </summary>
    public static ClickHouseException FromEngineText(string engineText, ClickHouseQuery query, IEnumerable<string> secretTexts)
    {
        var text = Scrub(engineText, secretTexts).Trim();
        var match = EngineError().Match(text);
        if (!match.Success)
        {
            return new ClickHouseException(0, null, text, query.Purpose, isTransient: false);
        }

        var code = int.Parse(match.Groups["code"].Value, System.Globalization.CultureInfo.InvariantCulture);
        var message = match.Groups["message"].Value.Trim();

        // Some paths wrap the same error two or three times ("Code: 241. DB::Exception: Code: 241. …").
        while (EngineError().Match(message) is { Success: true } nested && nested.Groups["code"].Value == match.Groups["code"].Value)
        {
            message = nested.Groups["message"].Value.Trim();
        }

        var name = match.Groups["name"].Success ? match.Groups["name"].Value : null;
        return new ClickHouseException(code, name, message, query.Purpose, TransientCodes.Contains(code));
    }

    /// <summary>Replaces each non-empty secret in <paramref name="text"/> with <c>***</c>.</summary>
    public static string Scrub(string text, IEnumerable<string> secretTexts)
    {
        foreach (var secret in secretTexts.Where(s => s.Length > 0).OrderByDescending(s => s.Length))
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }

        return text;
    }

    [GeneratedRegex(@"^Code:\s*(?<code>\d+)\.\s*(?:DB::Exception:\s*)?(?<message>.*?)(?:\s*\((?<name>[A-Z][A-Z0-9_]+)\))?(?:\s*\(version [^)]*\))?\s*$", RegexOptions.Singleline)]
    private static partial Regex EngineError();
}
