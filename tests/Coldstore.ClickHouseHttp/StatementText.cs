using System.Text.RegularExpressions;

namespace Coldstore.ClickHouseHttp;

/// <summary>A parsed <c>KILL QUERY … WHERE …</c>.</summary>
/// <param name="Where">The condition, as the client wrote it (its parameters are bound by the engine).</param>
/// <param name="Mode">SYNC, ASYNC or TEST (ClickHouse's default is SYNC).</param>
/// <param name="Format">A FORMAT clause the client wrote, if any.</param>
internal sealed record KillQuery(string Where, string Mode, string? Format);

/// <summary>
/// The text surgery the interface does on statements, kept pure so it can be read and tested on its own.
/// chDB does not honour a client's <c>query_id</c>, so every statement runs with the setting <c>log_comment</c> set to
/// <c>coldstore-http:&lt;query id&gt;</c> (settings show in <c>system.processes.Settings</c> whatever the statement's
/// text; a leading comment would not survive the engine's reformatting of a statement with parameters), and the
/// client's <c>system.processes</c> is read through a view that shows that id as <c>query_id</c>.
/// </summary>
internal static partial class StatementText
{
    /// <summary>The database holding the interface's own objects.</summary>
    public const string OwnDatabase = "_coldstore_http";

    /// <summary>What <c>system.processes</c> is rewritten to.</summary>
    public const string ProcessesView = OwnDatabase + ".processes";

    /// <summary>The setting that carries a statement's client query id.</summary>
    public const string CarrierSetting = "log_comment";

    private const string CarrierPrefix = "coldstore-http:";

    /// <summary>The SQL expression, over <c>system.processes</c>' columns, that yields the client's query id.</summary>
    public const string ClientQueryIdExpression =
        "if(startsWith(Settings['log_comment'], 'coldstore-http:'), substring(Settings['log_comment'], 16), query_id)";

    /// <summary>
    /// The view that gives clients <c>system.processes</c> with their own query ids, and their statements with the
    /// rewritten table name put back.
    /// </summary>
    public static string CreateProcessesView =>
        $"""
        CREATE OR REPLACE VIEW {ProcessesView} AS
        SELECT * REPLACE (
            {ClientQueryIdExpression} AS query_id,
            replaceAll(query, '{ProcessesView}', 'system.processes') AS query)
        FROM system.processes
        """;

    /// <summary>The interface's own path that lists running statements' client texts (id, text; escaped TSV).</summary>
    public const string TextsPath = "/_coldstore_http/texts";

    /// <summary>
    /// <see cref="CreateProcessesView"/> once the interface listens at <paramref name="baseUrl"/>: a statement's
    /// <c>query</c> is the text its client sent, as a server shows it (placeholders, not the values bound to them),
    /// read back from the interface itself; chDB's own column holds the statement with its parameters substituted.
    /// A client's statement that started after the texts were read (the scalar is computed before the list of
    /// processes is taken) shows an empty text rather than chDB's substituted one, which a server never shows.
    /// </summary>
    public static string CreateProcessesViewWithClientTexts(string baseUrl) =>
        $"""
        CREATE OR REPLACE VIEW {ProcessesView} AS
        WITH (SELECT tuple(groupArray(id), groupArray(text)) FROM url('{baseUrl.TrimEnd('/')}{TextsPath}', 'TabSeparated', 'id String, text String')) AS texts
        SELECT * REPLACE (
            {ClientQueryIdExpression} AS query_id,
            multiIf(has(texts.1, {ClientQueryIdExpression}), texts.2[indexOf(texts.1, {ClientQueryIdExpression})],
                    startsWith(Settings['{CarrierSetting}'], '{CarrierPrefix}'), '',
                    replaceAll(query, '{ProcessesView}', 'system.processes')) AS query)
        FROM system.processes
        """;

    /// <summary>One line of escaped TabSeparated: backslash, tab and newline escaped as ClickHouse reads them back.</summary>
    public static string TabSeparatedLine(string id, string text) => $"{Escape(id)}\t{Escape(text)}\n";

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);

    /// <summary>True when the id can be carried (and quoted in a kill) safely: letters, digits and <c>. _ : @ -</c>.</summary>
    public static bool IsCarriableQueryId(string queryId) => QueryIdPattern().IsMatch(queryId);

    /// <summary>The value of <see cref="CarrierSetting"/> that carries <paramref name="queryId"/>.</summary>
    public static string Carrier(string queryId) =>
        IsCarriableQueryId(queryId)
            ? CarrierPrefix + queryId
            : throw new ArgumentException($"query id '{queryId}' cannot be carried", nameof(queryId));

    /// <summary>Points every reference to <c>system.processes</c> at the interface's view.</summary>
    public static string RewriteProcesses(string sql) => ProcessesReference().Replace(sql, ProcessesView);

    /// <summary>What <c>system.settings</c> is rewritten to when the interface hides settings (<c>--hide-setting</c>).</summary>
    public const string SettingsView = OwnDatabase + ".settings";

    /// <summary>The view of <c>system.settings</c> without the hidden settings, as on a release that lacks them.</summary>
    public static string CreateSettingsView(IReadOnlyCollection<string> hidden) =>
        hidden.Count == 0
            ? $"CREATE OR REPLACE VIEW {SettingsView} AS SELECT * FROM system.settings"
            : $"CREATE OR REPLACE VIEW {SettingsView} AS SELECT * FROM system.settings WHERE name NOT IN ({string.Join(", ", hidden.Select(name => $"'{name}'"))})";

    /// <summary>Points every reference to <c>system.settings</c> at the interface's view of it.</summary>
    public static string RewriteSettings(string sql) => SettingsReference().Replace(sql, SettingsView);

    /// <summary>
    /// Replaces every call of <c>version()</c> with the release the interface pretends to be (<c>--server-version</c>),
    /// as a string literal: the value <c>version()</c> has on that release. Text inside string literals is not told apart.
    /// </summary>
    public static string RewriteVersion(string sql, string version) => VersionCall().Replace(sql, $"'{version}'");

    /// <summary>True for a name that can be a ClickHouse setting (and so can be hidden): letters, digits, underscores.</summary>
    public static bool IsSettingName(string name) => SettingName().IsMatch(name);

    /// <summary>True for what <c>--server-version</c> may pretend: two to four dot-separated numbers.</summary>
    public static bool IsVersion(string text) => VersionText().IsMatch(text);

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

    [GeneratedRegex(@"(?<![\w.`""])`?system`?\s*\.\s*`?settings`?(?![\w`""])", RegexOptions.CultureInvariant)]
    private static partial Regex SettingsReference();

    // Function names are case-insensitive in ClickHouse; a column or a qualified name ending in "version" is not a call.
    [GeneratedRegex(@"(?<![\w.`""])version\s*\(\s*\)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex VersionCall();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex SettingName();

    [GeneratedRegex(@"^\d{1,4}(?:\.\d{1,6}){1,3}$", RegexOptions.CultureInvariant)]
    private static partial Regex VersionText();

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
