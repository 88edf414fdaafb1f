using System.Globalization;
using System.Text.RegularExpressions;

namespace Coldstore.ClickHouseHttp;

/// <summary>A parsed <c>KILL QUERY … WHERE …</c>.</summary>
/// <param name="Where">The condition, as the client wrote it (its parameters are bound by the engine).</param>
/// <param name="Mode">SYNC, ASYNC or TEST (ClickHouse's default is SYNC).</param>
/// <param name="Format">A FORMAT clause the client wrote, if any.</param>
internal sealed record KillQuery(string Where, string Mode, string? Format);

/// <summary>
/// The text surgery the interface does on statements, kept pure so it can be read and tested on its own.
/// chDB does not honour a client's <c>query_id</c>, so every statement is prefixed with a marker comment that
/// carries it (ClickHouse keeps leading comments in <c>system.processes.query</c>), and the client's
/// <c>system.processes</c> is read through a view that shows the marker's id as <c>query_id</c>.
/// </summary>
internal static partial class StatementText
{
    /// <summary>The database holding the interface's own objects.</summary>
    public const string OwnDatabase = "_coldstore_http";

    /// <summary>What <c>system.processes</c> is rewritten to.</summary>
    public const string ProcessesView = OwnDatabase + ".processes";

    private const string MarkerStart = "/* coldstore-http query_id=";

    /// <summary>The SQL expression, over <c>system.processes</c>' columns, that yields the client's query id.</summary>
    public const string ClientQueryIdExpression =
        @"if(startsWith(query, '/* coldstore-http query_id='), extract(query, '^/\\* coldstore-http query_id=([^ ]+) \\*/'), query_id)";

    /// <summary>
    /// The view that gives clients <c>system.processes</c> with their own query ids and query texts: the marker is
    /// cut off and the rewritten table name put back, so a statement reads as its client sent it.
    /// </summary>
    public static string CreateProcessesView =>
        $"""
        CREATE OR REPLACE VIEW {ProcessesView} AS
        SELECT * REPLACE (
            {ClientQueryIdExpression} AS query_id,
            replaceAll(replaceRegexpOne(query, '^/\\* coldstore-http query_id=[^ ]+ \\*/\n', ''), '{ProcessesView}', 'system.processes') AS query)
        FROM system.processes
        """;

    /// <summary>True when the id can ride in the marker comment (no spaces, no comment terminator).</summary>
    public static bool IsCarriableQueryId(string queryId) => QueryIdPattern().IsMatch(queryId);

    /// <summary>Prefixes the statement with the marker carrying <paramref name="queryId"/>.</summary>
    public static string Mark(string sql, string queryId) =>
        IsCarriableQueryId(queryId)
            ? string.Create(CultureInfo.InvariantCulture, $"{MarkerStart}{queryId} */\n{sql}")
            : throw new ArgumentException($"query id '{queryId}' cannot be carried", nameof(queryId));

    /// <summary>Points every reference to <c>system.processes</c> at the interface's view.</summary>
    public static string RewriteProcesses(string sql) => ProcessesReference().Replace(sql, ProcessesView);

    /// <summary>Parses a <c>KILL QUERY</c> statement, or returns null for anything else.</summary>
    public static KillQuery? ParseKillQuery(string sql)
    {
        var match = KillQueryPattern().Match(sql);
        if (!match.Success)
        {
            return null;
        }

        var mode = match.Groups["mode"].Success ? match.Groups["mode"].Value.ToUpperInvariant() : "SYNC";
        return new KillQuery(match.Groups["where"].Value.Trim(), mode, match.Groups["format"].Success ? match.Groups["format"].Value : null);
    }

    /// <summary>
    /// Splits <c>INSERT … FORMAT Name</c> (the statement of an insert whose data is the request body) into the
    /// statement and the format; null when the text does not end in a FORMAT clause.
    /// </summary>
    public static (string Insert, string Format)? SplitInsertFormat(string sql)
    {
        var match = InsertFormatPattern().Match(sql);
        return match.Success ? (match.Groups["insert"].Value.TrimEnd(), match.Groups["format"].Value) : null;
    }

    /// <summary>The output format named by a trailing FORMAT clause, if any.</summary>
    public static string? TrailingFormat(string sql)
    {
        var match = TrailingFormatPattern().Match(sql);
        return match.Success ? match.Groups["format"].Value : null;
    }

    /// <summary>True for a statement that changes nothing, so it may run over GET (ClickHouse's readonly = 2 for GET).</summary>
    public static bool IsReadOnly(string sql) => ReadOnlyStatement().IsMatch(sql);

    [GeneratedRegex(@"^[A-Za-z0-9_.:@\-]{1,200}$", RegexOptions.CultureInvariant)]
    private static partial Regex QueryIdPattern();

    [GeneratedRegex(@"(?<![\w.`""])`?system`?\s*\.\s*`?processes`?(?![\w`""])", RegexOptions.CultureInvariant)]
    private static partial Regex ProcessesReference();

    [GeneratedRegex(
        @"^\s*KILL\s+QUERY\s+(?:ON\s+CLUSTER\s+(?:'[^']*'|\S+)\s+)?WHERE\s+(?<where>.+?)(?:\s+(?<mode>SYNC|ASYNC|TEST))?(?:\s+FORMAT\s+(?<format>\w+))?\s*;?\s*$",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex KillQueryPattern();

    [GeneratedRegex(@"^(?<insert>\s*INSERT\s+.+?)\s+FORMAT\s+(?<format>\w+)\s*;?\s*$",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex InsertFormatPattern();

    [GeneratedRegex(@"\sFORMAT\s+(?<format>\w+)\s*;?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TrailingFormatPattern();

    [GeneratedRegex(@"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|\()",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex ReadOnlyStatement();
}
