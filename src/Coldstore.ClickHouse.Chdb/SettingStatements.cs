using System.Text;
using System.Text.RegularExpressions;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// The <c>SET</c> statements that apply one statement's settings to a chDB connection and put the defaults back
/// afterwards (see <see cref="ChdbClient"/> for why settings travel this way). Shared with the test-only HTTP
/// interface, which applies each request's settings the same way.
/// </summary>
internal static partial class SettingStatements
{
    /// <summary>True for a name that can stand unquoted in SET (letters, digits, underscores).</summary>
    public static bool IsName(string name) => NamePattern().IsMatch(name);

    /// <summary><c>SET a = 'x', b = 'y'</c>, each value a quoted literal (the engine converts it to the setting's type).</summary>
    /// <exception cref="ArgumentException">A name is not a setting name.</exception>
    public static string Set(IEnumerable<KeyValuePair<string, string>> settings) =>
        "SET " + string.Join(", ", settings.Select(setting => IsName(setting.Key)
            ? $"{setting.Key} = {QuoteLiteral(setting.Value)}"
            : throw new ArgumentException($"'{setting.Key}' is not a ClickHouse setting name (letters, digits and underscores).", nameof(settings))));

    /// <summary><c>SET a = DEFAULT, b = DEFAULT</c>.</summary>
    public static string Reset(IEnumerable<string> names) => "SET " + string.Join(", ", names.Select(name => name + " = DEFAULT"));

    private static string QuoteLiteral(string value)
    {
        var builder = new StringBuilder("'", value.Length + 2);
        foreach (var character in value)
        {
            _ = character switch
            {
                '\\' => builder.Append("\\\\"),
                '\'' => builder.Append("\\'"),
                _ => builder.Append(character),
            };
        }

        return builder.Append('\'').ToString();
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex NamePattern();
}
