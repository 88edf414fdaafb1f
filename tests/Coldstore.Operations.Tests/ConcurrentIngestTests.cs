using System.Collections.Concurrent;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>Ingestion for the same workspace keeps running while it is archived: no event is lost or doubled.</summary>
public abstract class ConcurrentIngestTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task Every_event_ingested_while_an_archive_runs_ends_up_exactly_once_in_hot_or_in_the_archive_and_a_restore_brings_all_back()
    {
        var h = await OpenAsync();
        var writer = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var inserted = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var template = SegmentEventGenerator.Generate(50, seed: 401).ToArray();
        var writing = Task.Run(async () =>
        {
            var next = 0;
            while (!stop.IsCancellationRequested)
            {
                var batch = Enumerable.Range(next, 10)
                    .Select(i => new SegmentMessage(string.Create(CultureInfo.InvariantCulture, $"race-{i:D6}"), template[i % template.Length].Raw))
                    .ToArray();
                next += batch.Length;
                await writer.Service.IngestAsync(workspace, batch);
                foreach (var message in batch)
                {
                    inserted.Enqueue(message.MessageId);
                }

                await Task.Delay(3);
            }
        });
        await WaitUntilAsync(() => inserted.Count >= 100, writing);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        var atEnd = inserted.Count;
        await WaitUntilAsync(() => inserted.Count >= atEnd + 50, writing);
        await stop.CancelAsync();
        await writing;
        Assert.True(archived.Rows >= 100, $"the archive took {archived.Rows} rows; at least the 100 inserted before it were hot");
        var hot = await h.HotMessageIdsAsync(workspace);
        Assert.True(hot.Count >= 50, "rows ingested after the archive stay hot");
        var archivedIds = await h.ArchivedMessageIdsAsync(Assert.Single(archived.Archives).ObjectPrefix);
        Assert.Equal(archived.Rows, archivedIds.Count);
        Assert.Equal(inserted.Count, hot.Count + archived.Rows);
        var everywhere = hot.Concat(archivedIds).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(everywhere.Count, everywhere.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(inserted.Order(StringComparer.Ordinal), everywhere);
        Assert.Equal(hot.Count, await h.HotRowsAsync(workspace));

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(archived.Rows, restored.Rows);
        Assert.Equal(StorageState.Hot, restored.Storage);
        var after = await h.HotMessageIdsAsync(workspace);
        Assert.Equal(inserted.Count, after.Count);
        Assert.Equal(inserted.Count, after.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(inserted.Order(StringComparer.Ordinal), after.Order(StringComparer.Ordinal));
        Assert.Equal(inserted.Count, (await h.ChecksumsAsync(workspace)).EventRows);
    }

    [Fact]
    public async Task A_row_identical_to_an_archived_one_that_lands_after_the_copy_was_verified_is_neither_deleted_nor_hidden()
    {
        // Identical in all five stored columns, processing_time included: a writer that sets processing_time itself
        // (a backfill, a replay) sending an event again once, after the copy was verified. A delete cannot tell the
        // copies apart, so the archive must notice the extra copy before deleting and copy again: both copies end
        // up archived (none deleted without being archived), and a restore brings both back.
        var h = await OpenAsync();
        var injector = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddMinutes(-10);
        var row = RawEvent.Of("replayed", "{\"type\":\"track\",\"event\":\"DFEmailSent\",\"userId\":\"u1\"}", past);
        var others = Enumerable.Range(0, 20).Select(i => RawEvent.Of(string.Create(CultureInfo.InvariantCulture, $"other-{i}"), "{}", past)).ToArray();
        await h.InsertAsync(workspace, [row, .. others]);
        var replays = 0;
        var archiver = await OpenAsync(RunAfterStep(Services.Steps.ArchiveVerified, () => Interlocked.Increment(ref replays) == 1 ? injector.InsertAsync(workspace, [row]) : Task.CompletedTask));

        var archived = await archiver.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(22, archived.Rows);
        Assert.True(replays >= 2, "the archive must have verified again after the identical copy arrived");
        Assert.Empty(await h.HotMessageIdsAsync(workspace));
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(2, (await h.HotMessageIdsAsync(workspace)).Count(id => id == "replayed"));
        Assert.Equal(22, (await h.ChecksumsAsync(workspace)).EventRows);
    }

    [Fact]
    public async Task An_identical_copy_that_never_stops_arriving_makes_the_archive_refuse_without_deleting_anything()
    {
        var h = await OpenAsync();
        var injector = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddMinutes(-10);
        var row = RawEvent.Of("replayed", "{}", past);
        await h.InsertAsync(workspace, [row, RawEvent.Of("other", "{}", past)]);
        var archiver = await OpenAsync(RunAfterStep(Services.Steps.ArchiveVerified, () => injector.InsertAsync(workspace, [row])));

        var error = await Assert.ThrowsAsync<Errors.WorkspaceOperationException>(() => archiver.Service.ColdStoreWorkspaceEventsAsync(workspace));

        Assert.Contains(workspace.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was deleted", error.Message, StringComparison.Ordinal);
        await h.WaitForMutationsAsync();
        Assert.Equal(2 + Fast.CopyAttempts, (await h.ChecksumsAsync(workspace)).EventRows);
    }

    [Fact]
    public async Task A_row_identical_to_an_archived_one_that_arrives_after_the_archive_survives_the_restore()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddMinutes(-10);
        var row = RawEvent.Of("replayed", "{\"type\":\"identify\",\"userId\":\"u1\"}", past);
        await h.InsertAsync(workspace, [row, RawEvent.Of("other", "{}", past)]);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await h.WaitForMutationsAsync();

        await h.InsertAsync(workspace, [row]);
        var hotBeforeRestore = await h.HotRowsAsync(workspace);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(2, (await h.HotMessageIdsAsync(workspace)).Count(id => id == "replayed"));
        Assert.Equal(3, (await h.ChecksumsAsync(workspace)).EventRows);
        Assert.Equal(1, hotBeforeRestore);
    }

    // When a merge puts the late event's internal event into one part with the archived event's before the bounded delete
    // reaches that part, the two share (message_id, processing_time), the only identity an archive gives an internal
    // event; the repair tells them apart by the columns the view copies from each one's own event (ArchiveSql.OwnerHash).
    // This happens by chance here (about 1 run in 5 under load, before the fix); the next test forces the merge.
    [Fact]
    public async Task A_late_event_with_an_archived_events_message_id_and_millisecond_keeps_its_internal_event()
    {
        // Internal events are identified by (message_id, processing_time) only. A different event with the same message
        // id in the same millisecond that lands once the delete is bounded is not archived, so neither it nor the
        // internal event it derives may be deleted with the archived one.
        var h = await OpenAsync();
        var injector = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddMinutes(-10);
        var archived = RawEvent.Of("shared-id", "{\"type\":\"track\",\"event\":\"DFEmailSent\",\"userId\":\"u1\"}", past);
        var late = RawEvent.Of("shared-id", "{\"type\":\"track\",\"event\":\"DFEmailSent\",\"userId\":\"u2\"}", past);
        await h.InsertAsync(workspace, [archived, RawEvent.Of("other", "{\"type\":\"track\",\"event\":\"DFEmailOpened\"}", past)]);
        var original = await h.ChecksumsAsync(workspace);
        Assert.Equal(2, original.InternalEventRows);
        var landed = 0;
        var archiver = await OpenAsync(RunAfterStep(Services.Steps.ArchiveEventsDeleteSubmitted,
            () => Interlocked.Increment(ref landed) == 1 ? injector.InsertAsync(workspace, [late]) : Task.CompletedTask));

        var result = await archiver.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(1, landed);
        Assert.Equal(2, result.Rows);
        await h.WaitForMutationsAsync();
        Assert.Equal((1L, 1L), await h.RowsAfterDeletesAsync(workspace));
        Assert.Equal(["shared-id"], await h.HotMessageIdsAsync(workspace));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        var restored = await h.ChecksumsAsync(workspace);
        Assert.Equal(3, restored.EventRows);
        Assert.Equal(3, restored.InternalEventRows);
    }

    [Fact]
    public async Task A_late_event_merged_into_one_part_with_the_archived_one_keeps_its_internal_event_and_the_archived_one_goes()
    {
        var h = await OpenAsync();
        var injector = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var past = DateTime.UtcNow.AddMinutes(-10);
        var archived = RawEvent.Of("shared-id", "{\"type\":\"track\",\"event\":\"DFEmailSent\",\"userId\":\"u1\",\"properties\":{\"templateId\":\"t1\"}}", past);
        var late = RawEvent.Of("shared-id", "{\"type\":\"track\",\"event\":\"DFEmailSent\",\"userId\":\"u2\",\"properties\":{\"templateId\":\"t2\"}}", past);
        await h.InsertAsync(workspace, [archived, RawEvent.Of("other", "{\"type\":\"track\",\"event\":\"DFEmailOpened\"}", past)]);
        var original = await h.ChecksumsAsync(workspace);
        var landed = 0;
        // After the events' delete is submitted and before the internal events' is: the late event lands, and a merge
        // joins its internal event's part with the listed part the internal delete is bounded by.
        var archiver = await OpenAsync(RunAfterStep(Services.Steps.ArchiveEventsDeleteSubmitted, async () =>
        {
            if (Interlocked.Increment(ref landed) == 1)
            {
                await injector.InsertAsync(workspace, [late]);
                await h.ClickHouse.ExecuteAsync(new Ports.ClickHouseQuery($"OPTIMIZE TABLE {h.Tables.QualifiedInternalEvents} FINAL").For("test: merge internal events"));
            }
        }));

        var result = await archiver.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(1, landed);
        Assert.Equal(original.EventRows, result.Rows);
        Assert.Equal((1L, 1L), await h.RowsAfterDeletesAsync(workspace));
        var kept = await h.ClickHouse.QueryAsync(new Ports.ClickHouseQuery($"SELECT user_id FROM {h.Tables.QualifiedInternalEvents} WHERE workspace_id = {{w:String}}")
            .With("w", "String", workspace.ToString()).For("test: internal events left"));
        Assert.Equal("u2", Assert.Single(kept).GetString("user_id"));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        var restored = await h.ChecksumsAsync(workspace);
        Assert.Equal(3, restored.EventRows);
        Assert.Equal(3, restored.InternalEventRows);
    }

    private static Services.ColdstoreOptions RunAfterStep(string step, Func<Task> action) => Fast with
    {
        StepCompleted = completed =>
        {
            if (completed == step)
            {
                action().GetAwaiter().GetResult();
            }
        },
    };

    private static async Task WaitUntilAsync(Func<bool> condition, Task writer)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (writer.IsCompleted)
            {
                await writer;
                throw new InvalidOperationException("The writer stopped early.");
            }

            Assert.True(DateTime.UtcNow < deadline, "the writer made no progress within 60 s");
            await Task.Delay(10);
        }
    }
}

public sealed class ConcurrentIngestOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : ConcurrentIngestTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class ConcurrentIngestOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : ConcurrentIngestTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
