using System.Text.RegularExpressions;

namespace Coldstore.Sql;

/// <summary>
/// The ClickHouse database and table names Coldstore works on. Identifiers cannot be bound as values in DDL,
/// so every name is validated against a strict pattern here and always written back-quoted.
/// </summary>
public sealed partial record EventTables
{
    /// <summary>Dittofeed's names in the given database.</summary>
    /// <param name="database">The database, e.g. <c>default</c> or <c>dittofeed</c>.</param>
    /// <param name="events">The hot events table.</param>
    /// <param name="internalEvents">The table the materialized view fills.</param>
    /// <param name="internalEventsView">The materialized view from events to internal events.</param>
    public EventTables(string database = "default", string events = "user_events_v2", string internalEvents = "internal_events", string internalEventsView = "internal_events_mv")
    {
        Database = Validate(database, nameof(database));
        Events = Validate(events, nameof(events));
        InternalEvents = Validate(internalEvents, nameof(internalEvents));
        InternalEventsView = Validate(internalEventsView, nameof(internalEventsView));
    }

    /// <summary>The database name.</summary>
    public string Database { get; }

    /// <summary>
    /// The ClickHouse cluster the tables are replicated across, or null for a single server: with one, the search for
    /// statements an earlier run left running and for unfinished deletes covers every replica
    /// (<c>clusterAllReplicas</c>), and orphans are killed <c>ON CLUSTER</c>.
    /// </summary>
    public string? Cluster
    {
        get;
        init => field = value is null ? null : Validate(value, "cluster");
    }

    /// <summary>The hot events table (Dittofeed: <c>user_events_v2</c>).</summary>
    public string Events { get; }

    /// <summary>The derived table (Dittofeed: <c>internal_events</c>).</summary>
    public string InternalEvents { get; }

    /// <summary>The materialized view (Dittofeed: <c>internal_events_mv</c>).</summary>
    public string InternalEventsView { get; }

    /// <summary>The back-quoted database name.</summary>
    public string QuotedDatabase => Quote(Database);

    /// <summary>The qualified, quoted events table.</summary>
    public string QualifiedEvents => $"{Quote(Database)}.{Quote(Events)}";

    /// <summary>The qualified, quoted internal events table.</summary>
    public string QualifiedInternalEvents => $"{Quote(Database)}.{Quote(InternalEvents)}";

    /// <summary>The qualified, quoted materialized view.</summary>
    public string QualifiedInternalEventsView => $"{Quote(Database)}.{Quote(InternalEventsView)}";

    /// <summary>True when <paramref name="name"/> is an identifier Coldstore accepts.</summary>
    public static bool IsValidIdentifier(string? name) => name is not null && IdentifierPattern().IsMatch(name);

    private static string Quote(string identifier) => $"`{identifier}`";

    private static string Validate(string name, string what) =>
        IsValidIdentifier(name)
            ? name
            : throw new ArgumentException(
                $"The ClickHouse {what} name '{name}' is not allowed: use 1 to 64 letters, digits or underscores, starting with a letter or underscore.",
                what);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}
