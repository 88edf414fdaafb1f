using System.Text.RegularExpressions;
using Coldstore.Sql;

namespace Coldstore.Services;

/// <summary>
/// Decides whether a query may run over a workspace's archives, from its syntax tree as ClickHouse parsed it
/// (<c>EXPLAIN AST</c>, one node per line, children indented by one space): never from the text, which comments,
/// quoting and nesting would let one disguise.
/// </summary>
/// <remarks>
/// Admitted: one <c>SELECT</c> (with <c>UNION</c>, subqueries, joins of <c>user_events_v2</c> with itself, <c>WITH</c>
/// expressions) whose every table is <c>user_events_v2</c>, which names the workspace's archived rows. Refused: any
/// other statement; a table function (<c>s3()</c>, <c>file()</c>, <c>remote()</c>, …: another workspace's objects or
/// anything else); a table by any other name or with a database (the hot table, <c>system.*</c>); named subqueries
/// (<c>WITH name AS (SELECT …)</c>, which the tree does not name, so their uses could not be told from tables);
/// any function that is not one of the server's built-in functions (<see cref="QueryFunctions"/>: user-defined ones
/// above all), and of those, the ones that read outside the query (<c>file</c>, dictionaries, <c>joinGet</c>, …); a
/// <c>SETTINGS</c> or <c>FORMAT</c> clause, and <c>INTO OUTFILE</c>.
/// </remarks>
public static partial class ArchiveQueryCheck
{
    /// <summary>Functions that read something other than the rows of the query.</summary>
    private static readonly string[] ReadingFunctions =
    [
        "file", "joinGet", "joinGetOrNull", "dictGet", "dictHas", "dictIsIn", "dictGetHierarchy", "dictGetChildren", "dictGetDescendants",
        "dictGetAll", "hasColumnInTable", "getMacro", "getSetting", "getSettingOrDefault", "currentProfiles", "currentRoles", "enabledRoles",
        "defaultRoles", "filesystemAvailable", "filesystemCapacity", "filesystemUnreserved", "getServerSetting", "getMergeTreeSetting",
        "initialQueryID", "queryID", "shardNum", "shardCount", "getClientHTTPHeader", "catboostEvaluate", "modelEvaluate", "evalMLMethod",
        // Reads a model or certificate from the server, or writes to the keeper.
        "naiveBayesClassifier", "showCertificate", "generateSerialID", "zookeeperSessionUptime",
    ];

    /// <summary>Functions whose second argument may name a table (<c>x IN db.t</c>).</summary>
    private static readonly string[] MembershipFunctions =
    [
        "in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn", "globalNotNullIn",
    ];

    /// <summary>
    /// Null when the query may run over the archives; otherwise what makes it refused, for people.
    /// </summary>
    /// <param name="syntaxTree">The lines of <c>EXPLAIN AST</c> of the query.</param>
    /// <param name="functions">The functions it may call: the server's built-in ones.</param>
    public static string? Problem(IReadOnlyList<string> syntaxTree, QueryFunctions functions)
    {
        ArgumentNullException.ThrowIfNull(syntaxTree);
        ArgumentNullException.ThrowIfNull(functions);
        if (syntaxTree.Count == 0)
        {
            return "it is empty";
        }

        var root = Node(syntaxTree[0]);
        if (root.Kind != "SelectWithUnionQuery")
        {
            return $"only a SELECT is accepted, not {Describe(root.Kind)}";
        }

        for (var i = 0; i < syntaxTree.Count; i++)
        {
            var node = Node(syntaxTree[i]);
            switch (node.Kind)
            {
                case "SelectWithUnionQuery" or "SelectQuery" or "SelectIntersectExceptQuery":
                    break;
                case "InsertQuery" or "CreateQuery" or "AlterQuery" or "DropQuery" or "RenameQuery" or "SystemQuery" or "KillQueryQuery"
                    or "OptimizeQuery" or "UseQuery" or "DeleteQuery" or "UndropQuery" or "TruncateQuery" or "ExplainQuery":
                    return $"only a SELECT is accepted, not {Describe(node.Kind)}";
                case "WithElement":
                    return "named subqueries (WITH name AS (SELECT …)) are not accepted; use a subquery in FROM";
                case "SetQuery" or "Set":
                    return "a SETTINGS clause is not accepted";
                case "TableExpression":
                    var child = i + 1 < syntaxTree.Count ? Node(syntaxTree[i + 1]) : default;
                    if (child.Depth != node.Depth + 1)
                    {
                        return "a FROM without a table is not understood";
                    }

                    if (child.Kind == "Function")
                    {
                        return $"table functions such as {child.Name}() are not accepted: the query reads only {ArchiveQuerySql.RowsName}";
                    }

                    // A TableIdentifier child is judged on its own line, below.
                    if (child.Kind is not ("TableIdentifier" or "Subquery"))
                    {
                        return $"a FROM of {child.Kind} is not accepted";
                    }

                    break;
                case "TableIdentifier" when !IsRowsName(node.Text):
                    return $"it reads {node.Name}; a query over archives reads only {ArchiveQuerySql.RowsName} (the archived rows)";
                case "Function" when IsReading(node.Name):
                    return $"the function {node.Name} reads outside the query and is not accepted";
                case "Function" when !functions.Allows(node.Name):
                    return $"the function {node.Name} is not one of ClickHouse's built-in functions (user-defined functions are not accepted)";
                case "Function" when MembershipFunctions.Contains(node.Name, StringComparer.Ordinal)
                    && SecondArgument(syntaxTree, i, node.Depth) is { Kind: "Identifier" } table && !IsRowsName(table.Text):
                    return $"it reads {table.Name} (x IN table); a query over archives reads only {ArchiveQuerySql.RowsName} (the archived rows)";
                case "Identifier" when node.Depth == 1 && i > 0:
                    // A FORMAT name (or INTO OUTFILE's target) hangs directly under the statement.
                    return "a FORMAT or INTO OUTFILE clause is not accepted; choose the output with --json or --format";
                case "Literal" when node.Depth == 1:
                    return "a FORMAT or INTO OUTFILE clause is not accepted; choose the output with --json or --format";
                default:
                    break;
            }
        }

        return null;
    }

    /// <summary>True for a node that names the archived rows exactly, with an alias at most: <c>user_events_v2 (alias e)</c>.</summary>
    private static bool IsRowsName(string rest) =>
        string.Equals(rest, ArchiveQuerySql.RowsName, StringComparison.Ordinal)
        || (rest.StartsWith(ArchiveQuerySql.RowsName + " (alias ", StringComparison.Ordinal) && rest.EndsWith(')') && !rest.Contains('`', StringComparison.Ordinal));

    /// <summary>The second argument of the function at line <paramref name="at"/>: the second node two levels below it.</summary>
    private static (int Depth, string Kind, string Name, string Text)? SecondArgument(IReadOnlyList<string> tree, int at, int depth)
    {
        var seen = 0;
        for (var j = at + 1; j < tree.Count; j++)
        {
            var node = Node(tree[j]);
            if (node.Depth <= depth)
            {
                break;
            }

            if (node.Depth == depth + 2 && ++seen == 2)
            {
                return node;
            }
        }

        return null;
    }

    private static bool IsReading(string name) =>
        ReadingFunctions.Any(f => string.Equals(f, name, StringComparison.OrdinalIgnoreCase))
        || name.StartsWith("dictGet", StringComparison.OrdinalIgnoreCase);

    private static string Describe(string kind) => kind.EndsWith("Query", StringComparison.Ordinal)
        ? $"a {kind[..^"Query".Length].ToUpperInvariant()} statement"
        : kind;

    /// <summary>
    /// One line of the tree: its depth (leading spaces), its kind, the name that follows the kind (up to its alias or
    /// child count), and everything after the kind without the child count (what a table's name is judged on, exactly).
    /// </summary>
    private static (int Depth, string Kind, string Name, string Text) Node(string line)
    {
        var match = NodeLine().Match(line);
        if (!match.Success)
        {
            return (0, line.Trim(), string.Empty, string.Empty);
        }

        var rest = match.Groups["name"].Value;
        var children = rest.LastIndexOf(" (children ", StringComparison.Ordinal);
        if (children >= 0 && rest.EndsWith(')'))
        {
            rest = rest[..children];
        }

        // "Function count (alias n) (children 1)", "TableIdentifier db.t (alias x)": the name alone.
        var cut = rest.IndexOf(" (", StringComparison.Ordinal);
        return (match.Groups["indent"].Length, match.Groups["kind"].Value, (cut < 0 ? rest : rest[..cut]).Trim(), rest);
    }

    [GeneratedRegex(@"^(?<indent> *)(?<kind>[A-Za-z_]+)(?: (?<name>.*))?$")]
    private static partial Regex NodeLine();
}
