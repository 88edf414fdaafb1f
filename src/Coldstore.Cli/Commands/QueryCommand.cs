using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Coldstore.Ports;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore query ID "SELECT …"</c>: a read-only query over a workspace's archived rows, in place.</summary>
internal static class QueryCommand
{
    public static Command Create(CommandContext context)
    {
        var id = ArchiveCommands.WorkspaceArgument();
        var sql = new Argument<string>("sql") { Description = "One SELECT over user_events_v2, which names the workspace's archived rows (every column of the hot table)" };
        var format = new Option<string>("--format")
        {
            Description = "table (default), csv or json; --json is the same as --format json",
            DefaultValueFactory = _ => "table",
        };
        var command = new Command("query", "Run a read-only SELECT over the workspace's archived events without restoring them.") { id, sql, format };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "query");
            var chosen = (parseResult.GetValue(format) ?? "table").ToLowerInvariant();
            if (chosen is not ("table" or "csv" or "json"))
            {
                throw new Errors.WorkspaceOperationException(workspaceId, "query",
                    $"--format '{parseResult.GetValue(format)}' is not known: use table, csv or json.", Errors.WorkspaceErrorKind.InvalidInput);
            }

            var result = await runtime.Service.QueryArchivesAsync(workspaceId, parseResult.GetValue(sql) ?? string.Empty, cancellationToken).ConfigureAwait(false);
            if (output.IsJson || chosen == "json")
            {
                output.WriteJsonText(Json(result));
            }
            else if (chosen == "csv")
            {
                output.WriteText(Csv(result));
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded);
                foreach (var column in result.Columns)
                {
                    table.AddColumn(Markup.Escape(column));
                }

                foreach (var row in result.Rows)
                {
                    table.AddRow([.. Enumerable.Range(0, row.FieldCount).Select(i => Markup.Escape(Text(row[i]) ?? "NULL"))]);
                }

                if (result.Columns.Count > 0)
                {
                    output.Console.Write(table);
                }

                output.Info(string.Create(CultureInfo.InvariantCulture, $"[grey]{result.Rows.Count} rows from {result.Archives.Count} archives of workspace {workspaceId}[/]"));
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    /// <summary>The rows as a JSON array of objects, in the result's column order; 64-bit integers stay exact.</summary>
    internal static string Json(ArchiveQueryResult result)
    {
        var rows = new JsonArray();
        foreach (var row in result.Rows)
        {
            var item = new JsonObject();
            for (var i = 0; i < row.FieldCount; i++)
            {
                item[result.Columns[i]] = row[i] switch
                {
                    null => null,
                    bool b => JsonValue.Create(b),
                    long l => JsonValue.Create(l),
                    ulong u => JsonValue.Create(u),
                    double d => JsonValue.Create(d),
                    var other => JsonValue.Create(Text(other)),
                };
            }

            rows.Add(item);
        }

        return rows.ToJsonString();
    }

    /// <summary>The rows as CSV (RFC 4180) with a header line; NULL as an empty field.</summary>
    internal static string Csv(ArchiveQueryResult result)
    {
        var text = new StringBuilder();
        text.AppendJoin(',', result.Columns.Select(Field)).Append("\r\n");
        foreach (var row in result.Rows)
        {
            text.AppendJoin(',', Enumerable.Range(0, row.FieldCount).Select(i => Field(Text(row[i]) ?? string.Empty))).Append("\r\n");
        }

        return text.ToString();

        static string Field(string value) =>
            value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    private static string? Text(object? value) => value switch
    {
        null => null,
        DateTime t => t.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var other => other.ToString(),
    };
}
