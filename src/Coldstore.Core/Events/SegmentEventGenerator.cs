using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Coldstore.Events;

/// <summary>
/// Generates realistic Segment-style messages for demos, tests and benchmarks: identify, track, page and screen
/// events, about a sixth of them Dittofeed's own <c>DF…</c> track events whose properties carry template, journey,
/// broadcast and delivery ids (what <c>internal_events_mv</c> extracts). The same seed always yields the same messages.
/// </summary>
public static class SegmentEventGenerator
{
    private static readonly string[] TrackEvents = ["Order Completed", "Product Viewed", "Signed Up", "Cart Abandoned", "Subscription Renewed"];
    private static readonly string[] DittofeedEvents = ["DFEmailSent", "DFEmailDelivered", "DFEmailOpened", "DFEmailClicked", "DFSmsSent", "DFInternalMessageSent"];
    private static readonly string[] Channels = ["Email", "Sms", "MobilePush", "Webhook"];
    private static readonly string[] Pages = ["/", "/pricing", "/docs/getting-started", "/blog/cold-storage", "/account/settings"];
    private static readonly string[] Screens = ["Home", "Checkout", "Profile", "Search", "Settings"];
    private static readonly string[] Plans = ["free", "starter", "growth", "enterprise"];
    private static readonly DateTime Epoch = new(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Yields <paramref name="count"/> messages for a seed; lazily, so millions cost no memory.</summary>
    /// <param name="count">How many messages.</param>
    /// <param name="seed">The seed; equal seeds give equal sequences.</param>
    public static IEnumerable<SegmentMessage> Generate(long count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return GenerateIterator(count, seed);
    }

    private static IEnumerable<SegmentMessage> GenerateIterator(long count, int seed)
    {
        // A seeded System.Random uses a fixed algorithm across .NET versions, which is what makes runs repeatable.
        var random = new Random(seed);
        var buffer = new MemoryStream(1024);
        for (long i = 0; i < count; i++)
        {
            buffer.SetLength(0);
            var messageId = NewGuid(random).ToString("D");
            using (var writer = new Utf8JsonWriter(buffer))
            {
                WriteMessage(writer, random, messageId, i);
            }

            yield return new SegmentMessage(messageId, Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }
    }

    private static void WriteMessage(Utf8JsonWriter writer, Random random, string messageId, long index)
    {
        var userNumber = random.Next(1, 5_000);
        var anonymous = random.Next(10) == 0;
        var timestamp = Epoch.AddMilliseconds(index * 1_000 + random.Next(1_000));
        var kind = random.Next(6);

        writer.WriteStartObject();
        writer.WriteString("messageId", messageId);
        if (anonymous)
        {
            writer.WriteString("anonymousId", NewGuid(random).ToString("D"));
        }
        else
        {
            writer.WriteString("userId", string.Create(CultureInfo.InvariantCulture, $"user-{userNumber}"));
        }

        switch (kind)
        {
            case 0:
                WriteDittofeedTrack(writer, random, userNumber);
                break;
            case 1:
                writer.WriteString("type", "identify");
                writer.WriteStartObject("traits");
                writer.WriteString("email", string.Create(CultureInfo.InvariantCulture, $"user-{userNumber}@example.com"));
                writer.WriteString("plan", Plans[random.Next(Plans.Length)]);
                writer.WriteNumber("logins", random.Next(1, 400));
                writer.WriteString("firstName", random.Next(8) == 0 ? "Zoë 🚀" : "Ada");
                writer.WriteEndObject();
                break;
            case 2:
                writer.WriteString("type", "page");
                writer.WriteString("name", "Docs");
                writer.WriteStartObject("properties");
                writer.WriteString("path", Pages[random.Next(Pages.Length)]);
                writer.WriteString("referrer", "https://www.example.org/");
                writer.WriteEndObject();
                break;
            case 3:
                writer.WriteString("type", "screen");
                writer.WriteString("name", Screens[random.Next(Screens.Length)]);
                writer.WriteStartObject("properties");
                writer.WriteNumber("durationMs", random.Next(50, 90_000));
                writer.WriteEndObject();
                break;
            default:
                writer.WriteString("type", "track");
                writer.WriteString("event", TrackEvents[random.Next(TrackEvents.Length)]);
                writer.WriteStartObject("properties");
                writer.WriteNumber("revenue", Math.Round(random.NextDouble() * 500, 2));
                writer.WriteString("currency", "EUR");
                writer.WriteString("sku", string.Create(CultureInfo.InvariantCulture, $"SKU-{random.Next(100_000):D6}"));
                writer.WriteEndObject();
                break;
        }

        writer.WriteStartObject("context");
        writer.WriteString("ip", string.Create(CultureInfo.InvariantCulture, $"10.{random.Next(256)}.{random.Next(256)}.{random.Next(256)}"));
        writer.WriteString("userAgent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36");
        writer.WriteStartObject("library");
        writer.WriteString("name", "analytics-node");
        writer.WriteString("version", "6.2.0");
        writer.WriteEndObject();
        if (random.Next(20) == 0)
        {
            writer.WriteBoolean("hidden", true);
        }

        writer.WriteEndObject();
        // Most senders give an offset; some do not, which is what makes the session time zone matter on insert.
        writer.WriteString("timestamp", random.Next(10) == 0
            ? timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fff", CultureInfo.InvariantCulture)
            : timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        writer.WriteEndObject();
    }

    private static void WriteDittofeedTrack(Utf8JsonWriter writer, Random random, int userNumber)
    {
        writer.WriteString("type", "track");
        writer.WriteString("event", DittofeedEvents[random.Next(DittofeedEvents.Length)]);
        writer.WriteStartObject("properties");
        writer.WriteString("workspaceId", "generated");
        writer.WriteString("journeyId", NewGuid(random).ToString("D"));
        writer.WriteString("templateId", NewGuid(random).ToString("D"));
        if (random.Next(3) == 0)
        {
            writer.WriteString("broadcastId", NewGuid(random).ToString("D"));
        }

        writer.WriteString("messageId", NewGuid(random).ToString("D"));
        writer.WriteString("triggeringMessageId", NewGuid(random).ToString("D"));
        writer.WriteStartObject("variant");
        var channel = Channels[random.Next(Channels.Length)];
        writer.WriteString("type", channel);
        writer.WriteString("to", channel == "Sms" ? "+15555550123" : string.Create(CultureInfo.InvariantCulture, $"user-{userNumber}@example.com"));
        writer.WriteString("from", "hello@coldstore.example");
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static Guid NewGuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        // Mark it as a version-4 UUID so it looks like what applications send.
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }
}
