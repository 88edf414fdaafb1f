using System.Globalization;
using System.Text.Json;

namespace Coldstore.Events;

/// <summary>Encodes messages as ClickHouse JSONEachRow rows for the ingestion INSERT.</summary>
internal static class JsonEachRowEncoder
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // ClickHouse parses standard JSON escapes; relaxed escaping keeps non-ASCII text as UTF-8, which is smaller.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    /// <summary>Writes one row per message into <paramref name="output"/>.</summary>
    public static void Encode(IEnumerable<SegmentMessage> messages, string workspaceIdText, DateTime serverTimeUtc, Stream output)
    {
        var serverTime = serverTimeUtc.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        foreach (var message in messages)
        {
            writer.WriteStartObject();
            writer.WriteString("message_id", message.MessageId);
            writer.WriteString("message_raw", message.Raw);
            writer.WriteString("workspace_id", workspaceIdText);
            writer.WriteString("server_time", serverTime);
            writer.WriteEndObject();
            writer.Flush();
            output.WriteByte((byte)'\n');
            writer.Reset(output);
        }
    }
}
