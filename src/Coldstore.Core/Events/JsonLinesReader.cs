using System.Globalization;
using System.Text;
using System.Text.Json;
using Coldstore.Errors;

namespace Coldstore.Events;

/// <summary>
/// Reads Segment messages from JSON Lines: one message object per line, its <c>messageId</c> a non-empty string.
/// Blank lines are skipped. A malformed line fails the whole read with its line number, so callers can validate
/// a file completely before inserting anything from it.
/// </summary>
public static class JsonLinesReader
{
    /// <summary>Reads messages lazily from a text reader.</summary>
    /// <param name="reader">The JSON Lines text.</param>
    /// <param name="workspaceId">The workspace the events are for, named in errors.</param>
    /// <param name="source">The source's name for errors (a path, or <c>stdin</c>).</param>
    public static IEnumerable<SegmentMessage> Read(TextReader reader, Guid workspaceId, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            yield return Parse(line, lineNumber, workspaceId, source);
        }
    }

    /// <summary>Parses one line into a message, or throws naming the line and what is wrong.</summary>
    internal static SegmentMessage Parse(string line, int lineNumber, Guid workspaceId, string source)
    {
        string? messageId = null;
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(line));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Invalid("is not a JSON object");
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                // Only top-level property names matter; nested values are skipped whole.
                var isMessageId = reader.ValueTextEquals("messageId"u8);
                reader.Read();
                if (isMessageId)
                {
                    messageId = reader.TokenType == JsonTokenType.String
                        ? reader.GetString()
                        : throw Invalid("has a messageId that is not a string");
                }
                else
                {
                    reader.Skip();
                }
            }

            // Read to the end so trailing garbage after the object is caught too.
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            throw Invalid($"is not valid JSON ({e.Message})", e);
        }

        return string.IsNullOrEmpty(messageId)
            ? throw Invalid("has no messageId")
            : new SegmentMessage(messageId, line);

        WorkspaceOperationException Invalid(string problem, Exception? inner = null) => new(
            workspaceId,
            "read-events",
            string.Create(CultureInfo.InvariantCulture,
                $"Line {lineNumber} of {source} {problem}; every line must be one Segment message with a string messageId. Nothing was ingested for workspace {workspaceId}."),
            WorkspaceErrorKind.InvalidInput,
            inner);
    }
}
