namespace Coldstore.Services;

/// <summary>
/// The functions a query over archives may call: ClickHouse's built-in ones as the server lists them
/// (<see cref="Sql.ArchiveQuerySql.BuiltInFunctions"/>), an aggregate with its combinators (<c>countIf</c>,
/// <c>sumArrayIf</c>, <c>uniqExactState</c>), and the parser's own <c>lambda</c>. Anything else, a user-defined function
/// above all (an executable one runs a program on the server) or one this list was read before, is refused: an
/// allowlist, so a function the check does not know is never run.
/// </summary>
public sealed class QueryFunctions
{
    private readonly HashSet<string> _exact;
    private readonly HashSet<string> _caseInsensitive;
    private readonly HashSet<string> _aggregates;
    private readonly HashSet<string> _caseInsensitiveAggregates;
    private readonly string[] _combinators;

    /// <summary>Creates the list from the server's catalog.</summary>
    /// <param name="functions">Each built-in function: its name, whether its name is case-insensitive, whether it aggregates.</param>
    /// <param name="combinators">The aggregate function combinators.</param>
    public QueryFunctions(IEnumerable<(string Name, bool CaseInsensitive, bool IsAggregate)> functions, IEnumerable<string> combinators)
    {
        ArgumentNullException.ThrowIfNull(functions);
        ArgumentNullException.ThrowIfNull(combinators);
        var all = functions.ToList();
        _exact = [.. all.Select(f => f.Name)];
        _caseInsensitive = new HashSet<string>(all.Where(f => f.CaseInsensitive).Select(f => f.Name), StringComparer.OrdinalIgnoreCase);
        _aggregates = [.. all.Where(f => f.IsAggregate).Select(f => f.Name)];
        _caseInsensitiveAggregates = new HashSet<string>(all.Where(f => f.IsAggregate && f.CaseInsensitive).Select(f => f.Name), StringComparer.OrdinalIgnoreCase);
        // Longest first, so MergeState is tried before State.
        _combinators = [.. combinators.Where(c => c.Length > 0).Distinct(StringComparer.Ordinal).OrderByDescending(c => c.Length)];
    }

    /// <summary>Whether a query may call <paramref name="name"/>, as the syntax tree names it.</summary>
    public bool Allows(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name == "lambda" || _exact.Contains(name) || _caseInsensitive.Contains(name) || IsCombined(name, depth: 0);
    }

    /// <summary>An aggregate followed by one or more combinators (each stripped from the end, in any order).</summary>
    private bool IsCombined(string name, int depth)
    {
        if (depth > 4)
        {
            return false;
        }

        foreach (var combinator in _combinators)
        {
            if (name.Length > combinator.Length && name.EndsWith(combinator, StringComparison.Ordinal))
            {
                var rest = name[..^combinator.Length];
                if (_aggregates.Contains(rest) || _caseInsensitiveAggregates.Contains(rest) || IsCombined(rest, depth + 1))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
