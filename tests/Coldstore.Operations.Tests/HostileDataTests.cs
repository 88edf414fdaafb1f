using System.Text;
using System.Text.Json;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;
using CsCheck;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Round trips over messages built to break things: odd text, broken JSON, huge payloads, duplicates, timestamps
/// in every form, and processing times in the past, at the cutoff and in the future.
/// </summary>
public abstract class HostileDataTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly DateTime Now = DateTime.UtcNow;

    private static readonly string[] Fragments =
    [
        "", "a", "ü", "Zoë", "日本語", "😀", "🏳️‍🌈", "𝔘𝔫𝔦", "\u200b", "\ufeff", "\u2028", "\0", "\u0001", "\u001f", "\u007f",
        "\t", "\n", "\r\n", "\\", "\\\\", "\\N", "\"", "'", "`", "{", "}", "[", "]", ",", ":", "NULL", "null", "%s", "${x}",
        "'); DROP TABLE user_events_v2; --", "workspace_id=other/", "*", "?", "{_partition_id}", "\\u0000", "\ud800",
    ];

    private static readonly string[] Types = ["identify", "track", "page", "screen", "group", "alias", "", "unknown", "TRACK"];

    private static readonly string?[] Timestamps =
    [
        "2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123+05:30", "2024-03-01T10:00:00-08:00", "2024-03-01 10:00:00",
        "2024-03-01T10:00:00", "2019-12-31T23:59:59.999", "1970-01-01T00:00:00Z", "2299-12-31T23:59:59Z", "not a time", "", null,
    ];

    private static readonly Gen<string> Text =
        Gen.OneOf(Fragments).Array[0, 6].Select(parts => string.Concat(parts));

    private static readonly Gen<string> ValidJson =
        Gen.Select(Gen.OneOf(Types), Text, Text, Gen.OneOf(Timestamps), Gen.Bool, Gen.Bool, Text)
            .Select((type, name, user, timestamp, dittofeed, hidden, value) => Json(type, name, user, timestamp, dittofeed, hidden, value));

    private static readonly Gen<byte[]> RawBytes = Gen.Frequency(
        (6, ValidJson.Select(j => Encoding.UTF8.GetBytes(j))),
        (1, Gen.Const(Array.Empty<byte>())),
        (1, ValidJson.Select(j => Encoding.UTF8.GetBytes(j[..(j.Length / 2)]))),
        (1, Text.Select(t => Encoding.UTF8.GetBytes(t))),
        (1, Gen.Byte.Array[1, 64]));

    // Past instants in several months (so an archive holds several objects), now, or the future.
    private static readonly Gen<DateTime?> ProcessingTimes = Gen.Frequency(
        (5, Gen.Int[0, 400 * 24].Select(hours => (DateTime?)Now.AddHours(-hours - 1).AddMilliseconds(-hours % 997))),
        (1, Gen.OneOf<DateTime?>(
            new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            new DateTime(1969, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc),
            DateTime.UnixEpoch,
            new DateTime(2000, 2, 29, 12, 0, 0, 1, DateTimeKind.Utc))),
        (2, Gen.Const((DateTime?)null)),
        (2, Gen.Int[1, 1_000].Select(minutes => (DateTime?)Now.AddDays(1).AddMinutes(minutes))));

    private static readonly Gen<DateTime> ServerTimes =
        Gen.Long[-2_208_988_800_000L, 4_102_444_800_000L].Select(ms => DateTime.UnixEpoch.AddMilliseconds(ms));

    private static readonly Gen<RawEvent> Events =
        Gen.Select(Text, RawBytes, ServerTimes, ProcessingTimes).Select((id, raw, server, processing) => new RawEvent(id, raw, server, processing));

    /// <summary>Rows plus exact duplicates of some of them, and rows that reuse another row's message id.</summary>
    private static readonly Gen<RawEvent[]> Batches =
        Gen.Select(Events.Array[1, 30], Gen.Int[0, 4], Gen.Int[0, 4]).Select((rows, duplicates, sameIds) =>
        {
            var all = new List<RawEvent>(rows);
            for (var i = 0; i < duplicates; i++)
            {
                all.Add(rows[i % rows.Length]);
            }

            for (var i = 0; i < sameIds && rows.Length > 1; i++)
            {
                all.Add(rows[(i + 1) % rows.Length] with { MessageId = rows[i % rows.Length].MessageId });
            }

            return all.ToArray();
        });

    [Fact]
    public async Task Any_mix_of_hostile_rows_round_trips_exactly_and_rows_in_the_future_stay_hot()
    {
        var h = await OpenAsync();
        await Batches.SampleAsync(async rows =>
        {
            var workspace = await h.NewWorkspaceAsync();
            await h.InsertAsync(workspace, rows);
            var before = await h.ChecksumsAsync(workspace);
            Assert.Equal(rows.Length, before.EventRows);
            var future = rows.Where(r => r.ProcessingTime > DateTime.UtcNow).ToList();
            var archivable = rows.Length - future.Count;

            var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

            Assert.Equal(archivable, archived.Rows);
            Assert.Equal(archivable == 0 ? 0 : 1, (await h.LedgerAsync(workspace)).Count);
            Assert.Equal(future.Count, await h.HotRowsAsync(workspace));
            Assert.Equal(
                future.Select(r => HexOf(r.MessageId)).Order(StringComparer.Ordinal),
                (await h.HotMessageIdsAsync(workspace)).Select(HexOf).Order(StringComparer.Ordinal));

            var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

            Assert.Equal(archivable, restored.Rows);
            Assert.Equal(before, await h.ChecksumsAsync(workspace));
            Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
            Assert.Empty(await h.ObjectsAsync(workspace));
        }, iter: 8, threads: 1);
    }

    [Fact]
    public async Task Hostile_messages_ingested_through_the_normal_path_round_trip_exactly()
    {
        var h = await OpenAsync();
        var messages = Gen.Select(Text, ValidJson).Select((id, raw) => new SegmentMessage(id, raw)).Array[1, 40];
        await messages.SampleAsync(async batch =>
        {
            var workspace = await h.NewWorkspaceAsync();
            await h.Service.IngestAsync(workspace, batch.Concat(batch.Take(2)));
            var before = await h.ChecksumsAsync(workspace);
            Assert.Equal(batch.Length + Math.Min(2, batch.Length), before.EventRows);

            var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
            Assert.Equal(before.EventRows, archived.Rows);
            Assert.Equal(0, await h.HotRowsAsync(workspace));
            Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));

            await h.Service.RestoreWorkspaceEventsAsync(workspace);
            Assert.Equal(before, await h.ChecksumsAsync(workspace));
        }, iter: 4, threads: 1);
    }

    [Fact]
    public async Task Fully_duplicate_rows_survive_as_duplicates()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddHours(-3);
        var one = RawEvent.Of("dup", Json("track", "DFEmailSent", "u1", "2024-01-01T00:00:00Z", true, false, "x"), past);
        await h.InsertAsync(workspace, [one, one, one]);
        await h.InsertAsync(workspace, [one]);
        var before = await h.ChecksumsAsync(workspace);
        Assert.Equal(4, before.EventRows);
        Assert.Equal(4, before.InternalEventRows);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        Assert.Equal(4, archived.Rows);
        Assert.Equal(4, (await h.ArchivedMessageIdsAsync(Assert.Single(archived.Archives).ObjectPrefix)).Count);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Equal(["dup", "dup", "dup", "dup"], await h.HotMessageIdsAsync(workspace));
    }

    [Fact]
    public async Task A_one_megabyte_message_round_trips_exactly()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var big = new StringBuilder(1 << 20);
        while (big.Length < 1 << 20)
        {
            big.Append("Zoë 🚀 \\ \" \t ünïcødé ");
        }

        var viaIngest = new SegmentMessage("big-json", Json("track", "DFEmailSent", "u-big", "2024-02-02T02:02:02Z", true, true, big.ToString()));
        Assert.True(Encoding.UTF8.GetByteCount(viaIngest.Raw) > 1_000_000);
        await h.Service.IngestAsync(workspace, [viaIngest, new SegmentMessage("small", "{\"type\":\"track\",\"event\":\"x\"}")]);
        var binary = new byte[1_100_000];
        new Random(7).NextBytes(binary);
        await h.InsertAsync(workspace, [new RawEvent("big-binary", binary, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(-5))]);
        var before = await h.ChecksumsAsync(workspace);
        Assert.Equal(3, before.EventRows);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        Assert.Equal(3, archived.Rows);
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task The_cutoff_is_inclusive_in_the_hot_summary()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var instant = new DateTime(2025, 6, 7, 8, 9, 10, 123, DateTimeKind.Utc);
        await h.InsertAsync(workspace, [RawEvent.Of("at", "{}", instant), RawEvent.Of("after", "{}", instant.AddMilliseconds(1))]);

        var at = (await h.ClickHouse.QueryAsync(ArchiveSql.HotSummary(h.Tables, workspace, instant))).Single();
        var before = (await h.ClickHouse.QueryAsync(ArchiveSql.HotSummary(h.Tables, workspace, instant.AddMilliseconds(-1)))).Single();

        Assert.Equal(1, at.GetInt64("rows"));
        Assert.Equal(0, before.GetInt64("rows"));
    }

    [Fact]
    public async Task A_row_stamped_exactly_at_the_cutoff_is_archived_and_one_a_millisecond_later_stays_hot()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 200, seed: 301);
        var injector = await OpenAsync();
        WorkspaceChecksums? withInjected = null;
        var crashing = await OpenAsync(Fast with
        {
            // Runs right after the cutoff is fixed and recorded, before anything is copied: an insert that was
            // in flight when the cutoff was read and commits with processing_time equal to it.
            StepCompleted = step =>
            {
                if (step == Steps.ArchiveStarted)
                {
                    InjectAsync().GetAwaiter().GetResult();
                }
            },
        });

        var archived = await crashing.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.NotNull(withInjected);
        Assert.Equal(202, withInjected.EventRows);
        Assert.Equal(201, archived.Rows);
        Assert.Equal(["after-cutoff"], await h.HotMessageIdsAsync(workspace));
        var record = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Contains("at-cutoff", await h.ArchivedMessageIdsAsync(record.ObjectPrefix));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(withInjected, await h.ChecksumsAsync(workspace));

        async Task InjectAsync()
        {
            var cutoff = Assert.Single(await injector.LedgerAsync(workspace)).Cutoff;
            await injector.InsertAsync(workspace,
            [
                RawEvent.Of("at-cutoff", Json("track", "DFEmailSent", "u1", null, false, false, "at"), cutoff),
                RawEvent.Of("after-cutoff", Json("track", "DFEmailSent", "u1", null, false, false, "after"), cutoff.AddMilliseconds(1)),
            ]);
            withInjected = await injector.ChecksumsAsync(workspace);
        }
    }

    private static string HexOf(string text) => Convert.ToHexString(Encoding.UTF8.GetBytes(text));

    private static string Json(string type, string name, string user, string? timestamp, bool dittofeed, bool hidden, string value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("type", dittofeed ? "track" : type);
            writer.WriteString("event", dittofeed ? "DF" + name : name);
            writer.WriteString("userId", user);
            if (timestamp is not null)
            {
                writer.WriteString("timestamp", timestamp);
            }

            writer.WriteStartObject("context");
            writer.WriteBoolean("hidden", hidden);
            writer.WriteEndObject();
            writer.WriteStartObject("properties");
            writer.WriteString("templateId", value);
            writer.WriteString("journeyId", name);
            writer.WriteStartObject("variant");
            writer.WriteString("type", "Email");
            writer.WriteString("to", user);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

public sealed class HostileDataOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : HostileDataTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class HostileDataOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : HostileDataTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
