using System.Collections.Immutable;

namespace Coldstore.Ports;

/// <summary>
/// A bound query parameter, referenced in SQL as <c>{Name:Type}</c>. Values never become part of the query text.
/// </summary>
/// <param name="Name">The placeholder name (letters, digits, underscore).</param>
/// <param name="Type">The ClickHouse type written in the placeholder, e.g. <c>String</c> or <c>DateTime64(3, 'UTC')</c>.</param>
/// <param name="Value">
/// The value: <see cref="string"/>, an integer type, <see cref="bool"/>, <see cref="Guid"/>,
/// <see cref="DateTime"/> (UTC), or an array of those. Adapters serialize it for their transport.
/// </param>
/// <param name="IsSecret">True for credentials: adapters and logs must never print the value.</param>
public sealed record ClickHouseParameter(string Name, string Type, object Value, bool IsSecret = false)
{
    /// <inheritdoc />
    public override string ToString() => $"{{{Name}:{Type}}} = {(IsSecret ? "***" : Value)}";
}

/// <summary>
/// One statement for ClickHouse: SQL text with <c>{name:Type}</c> placeholders, its parameters and per-query settings.
/// Built by the pure SQL builders; executed by an <see cref="IClickHouseClient"/> adapter.
/// </summary>
public sealed record ClickHouseQuery
{
    /// <summary>Creates a query from SQL text with no parameters or settings.</summary>
    /// <param name="sql">SQL text; values go in parameters, never in the text.</param>
    public ClickHouseQuery(string sql)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        Sql = sql;
    }

    /// <summary>The SQL text, without a FORMAT clause (the adapter picks the output format).</summary>
    public string Sql { get; }

    /// <summary>The bound parameters.</summary>
    public ImmutableArray<ClickHouseParameter> Parameters { get; init; } = [];

    /// <summary>Per-query settings (name to value as ClickHouse text, e.g. <c>max_execution_time = "600"</c>).</summary>
    public ImmutableDictionary<string, string> Settings { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>A short description of what the query is for, used in logs and errors (e.g. "count hot rows").</summary>
    public string? Purpose { get; init; }

    /// <summary>
    /// The id the server runs the statement under (its <c>query_id</c>), or null to let the adapter choose one. Coldstore
    /// derives it from the workspace and the step, so a later run can find and kill a statement that outlived its client.
    /// Letters, digits and <c>. _ : @ -</c> only.
    /// </summary>
    public string? QueryId { get; init; }

    /// <summary>Returns a copy with one more parameter.</summary>
    public ClickHouseQuery With(string name, string type, object value) =>
        this with { Parameters = Parameters.Add(new ClickHouseParameter(name, type, value)) };

    /// <summary>Returns a copy with one more parameter that must never be printed.</summary>
    public ClickHouseQuery WithSecret(string name, string type, string value) =>
        this with { Parameters = Parameters.Add(new ClickHouseParameter(name, type, value, IsSecret: true)) };

    /// <summary>Returns a copy with the given parameters appended.</summary>
    public ClickHouseQuery With(IEnumerable<ClickHouseParameter> parameters) =>
        this with { Parameters = Parameters.AddRange(parameters) };

    /// <summary>Returns a copy with one setting added or replaced.</summary>
    public ClickHouseQuery WithSetting(string name, string value) =>
        this with { Settings = Settings.SetItem(name, value) };

    /// <summary>Returns a copy with the given settings added or replaced.</summary>
    public ClickHouseQuery WithSettings(IEnumerable<KeyValuePair<string, string>> settings) =>
        this with { Settings = Settings.SetItems(settings) };

    /// <summary>Returns a copy with a purpose for logs and errors.</summary>
    public ClickHouseQuery For(string purpose) => this with { Purpose = purpose };

    /// <summary>Returns a copy that runs under the given query id.</summary>
    public ClickHouseQuery WithQueryId(string queryId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queryId);
        return this with { QueryId = queryId };
    }

    /// <summary>Text safe to log: the SQL (which never holds values) and parameters with secrets masked.</summary>
    public override string ToString() =>
        Parameters.IsEmpty ? Sql : $"{Sql} -- {string.Join(", ", Parameters)}";
}
