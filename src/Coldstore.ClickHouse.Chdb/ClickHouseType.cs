using System.Globalization;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// Just enough of a ClickHouse type name to format parameters and read results: the base name with
/// Nullable/LowCardinality peeled off, an array's element type, and a date-time's precision and zone.
/// </summary>
internal sealed record ClickHouseType(string Text, string Name, bool IsNullable, ClickHouseType? ElementType, int DateTimePrecision, string? TimeZone)
{
    /// <summary>Parses a type such as <c>LowCardinality(Nullable(String))</c> or <c>DateTime64(3, 'UTC')</c>.</summary>
    public static ClickHouseType Parse(string text)
    {
        var trimmed = text.Trim();
        var nullable = false;
        while (true)
        {
            if (TryUnwrap(trimmed, "Nullable", out var inner))
            {
                nullable = true;
                trimmed = inner;
            }
            else if (TryUnwrap(trimmed, "LowCardinality", out inner))
            {
                trimmed = inner;
            }
            else
            {
                break;
            }
        }

        if (TryUnwrap(trimmed, "Array", out var element))
        {
            return new ClickHouseType(text, "Array", nullable, Parse(element), 0, null);
        }

        var open = trimmed.IndexOf('(', StringComparison.Ordinal);
        var name = open < 0 ? trimmed : trimmed[..open].Trim();
        var arguments = open < 0 ? [] : SplitArguments(trimmed[(open + 1)..^1]);
        return name switch
        {
            "DateTime64" => new ClickHouseType(text, name, nullable, null,
                arguments.Count > 0 ? int.Parse(arguments[0], CultureInfo.InvariantCulture) : 3,
                arguments.Count > 1 ? Unquote(arguments[1]) : null),
            "DateTime" => new ClickHouseType(text, name, nullable, null, 0, arguments.Count > 0 ? Unquote(arguments[0]) : null),
            _ => new ClickHouseType(text, name, nullable, null, 0, null),
        };
    }

    private static bool TryUnwrap(string text, string wrapper, out string inner)
    {
        if (text.StartsWith(wrapper + "(", StringComparison.Ordinal) && text.EndsWith(')'))
        {
            inner = text[(wrapper.Length + 1)..^1].Trim();
            return true;
        }

        inner = text;
        return false;
    }

    /// <summary>Splits top-level comma-separated arguments, leaving quoted and nested ones intact.</summary>
    private static List<string> SplitArguments(string arguments)
    {
        var parts = new List<string>();
        var depth = 0;
        var inQuote = false;
        var start = 0;
        for (var i = 0; i < arguments.Length; i++)
        {
            var character = arguments[i];
            if (inQuote)
            {
                if (character == '\\')
                {
                    i++;
                }
                else if (character == '\'')
                {
                    inQuote = false;
                }
            }
            else if (character == '\'')
            {
                inQuote = true;
            }
            else if (character == '(')
            {
                depth++;
            }
            else if (character == ')')
            {
                depth--;
            }
            else if (character == ',' && depth == 0)
            {
                parts.Add(arguments[start..i].Trim());
                start = i + 1;
            }
        }

        parts.Add(arguments[start..].Trim());
        return parts;
    }

    private static string Unquote(string argument) =>
        argument.Length >= 2 && argument[0] == '\'' && argument[^1] == '\'' ? argument[1..^1] : argument;
}
