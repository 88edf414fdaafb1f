using System.Text.Json;
using Coldstore.Errors;
using Coldstore.Events;

namespace Coldstore.Core.Tests;

public sealed class EventTests
{
    [Fact]
    public void The_same_seed_generates_the_same_messages()
    {
        var first = SegmentEventGenerator.Generate(500, seed: 7).ToList();
        var second = SegmentEventGenerator.Generate(500, seed: 7).ToList();
        var other = SegmentEventGenerator.Generate(500, seed: 8).ToList();

        Assert.Equal(first, second);
        Assert.NotEqual(first.Select(m => m.Raw), other.Select(m => m.Raw));
    }

    [Fact]
    public void Generated_messages_are_segment_shaped_and_about_a_sixth_are_dittofeed_events()
    {
        var messages = SegmentEventGenerator.Generate(6_000, seed: 1).ToList();
        var types = new Dictionary<string, int>();
        var dittofeed = 0;
        foreach (var message in messages)
        {
            using var document = JsonDocument.Parse(message.Raw);
            var root = document.RootElement;
            Assert.Equal(message.MessageId, root.GetProperty("messageId").GetString());
            Assert.True(root.TryGetProperty("timestamp", out _));
            var type = root.GetProperty("type").GetString()!;
            types[type] = types.GetValueOrDefault(type) + 1;
            if (type == "track" && root.GetProperty("event").GetString()!.StartsWith("DF", StringComparison.Ordinal))
            {
                dittofeed++;
                var properties = root.GetProperty("properties");
                Assert.True(properties.TryGetProperty("templateId", out _));
                Assert.True(properties.TryGetProperty("journeyId", out _));
                Assert.True(properties.GetProperty("variant").TryGetProperty("to", out _));
            }
        }

        Assert.Equal(["identify", "page", "screen", "track"], types.Keys.Order());
        Assert.InRange(dittofeed, 800, 1_200);
        Assert.Equal(messages.Count, messages.Select(m => m.MessageId).Distinct().Count());
    }

    [Fact]
    public void Json_lines_keep_each_line_verbatim_and_skip_blank_lines()
    {
        var workspace = Guid.NewGuid();
        var line = """{"messageId":"m-1","type":"track","event":"Zoë 🚀","properties":{"a":"\u0000"}}""";
        var messages = JsonLinesReader.Read(new StringReader(line + "\n\n  \n" + """{"type":"identify","messageId":"m-2"}"""), workspace, "events.jsonl").ToList();

        Assert.Equal(2, messages.Count);
        Assert.Equal(new SegmentMessage("m-1", line), messages[0]);
        Assert.Equal("m-2", messages[1].MessageId);
    }

    [Theory]
    [InlineData("""{"type":"track"}""", "has no messageId")]
    [InlineData("""{"messageId":42}""", "not a string")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"messageId":"x",""", "not valid JSON")]
    [InlineData("""{"messageId":"x"} trailing""", "not valid JSON")]
    public void A_bad_line_is_reported_with_its_number_and_the_workspace(string badLine, string problem)
    {
        var workspace = Guid.NewGuid();
        var text = """{"messageId":"ok"}""" + "\n" + badLine + "\n";

        var error = Assert.Throws<WorkspaceOperationException>(() => JsonLinesReader.Read(new StringReader(text), workspace, "events.jsonl").ToList());

        Assert.Contains("Line 2 of events.jsonl", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains(workspace.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Equal(WorkspaceErrorKind.InvalidInput, error.Kind);
    }

    [Fact]
    public void Rows_are_encoded_one_json_object_per_line_with_hostile_text_escaped()
    {
        var raw = "{\"messageId\":\"a\\nb\",\"x\":\"tab\\t\"}\u0001\u2028";
        using var output = new MemoryStream();

        JsonEachRowEncoder.Encode([new SegmentMessage("id\"1", raw), new SegmentMessage("id2", "{}")], "ws", new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc), output);

        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal(raw, first.RootElement.GetProperty("message_raw").GetString());
        Assert.Equal("id\"1", first.RootElement.GetProperty("message_id").GetString());
        Assert.Equal("2024-05-06 07:08:09.123", first.RootElement.GetProperty("server_time").GetString());
        Assert.Equal("ws", first.RootElement.GetProperty("workspace_id").GetString());
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("0b8e6a4c1f2d4c3b9a7e5d6f7a8b9c0d")]
    public void Workspace_ids_must_be_hyphenated_uuids(string? text)
    {
        var error = Assert.Throws<WorkspaceOperationException>(() => Services.ColdstoreService.ParseWorkspaceId(text, "archive"));

        Assert.Equal("archive", error.Step);
        Assert.Contains("expected a UUID", error.Message, StringComparison.Ordinal);
    }
}
