using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// A workspace with more rows than <see cref="ColdstoreOptions.ChunkRows"/> is archived in chunks (months together,
/// a large month split by hash), each its own archive copied, verified, deleted and restored on its own; an archive
/// stopped after any step, between chunks included, resumes chunk by chunk and restores exactly.
/// </summary>
public abstract class ChunkedArchiveTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private const int ChunkRows = 120;

    public static TheoryData<string> ArchiveSteps => new(Steps.All.Where(s => s.StartsWith("archive:", StringComparison.Ordinal)));

    public static TheoryData<string> RestoreSteps => new(Steps.All.Where(s => s.StartsWith("restore:", StringComparison.Ordinal)));

    private static ColdstoreOptions Chunked => Fast with { ChunkRows = ChunkRows };

    [Fact]
    public async Task A_large_workspace_is_archived_in_chunks_by_month_and_hash_and_restored_exactly()
    {
        var h = await OpenAsync(Chunked);
        var workspace = await h.NewWorkspaceAsync();
        var neighbour = await h.NewWorkspaceAsync();
        // Two small months that fit one chunk together, a month three chunks large, a small month after it, and the
        // rows ingested now (this month): five chunks or more; the neighbour has rows in the same months.
        await InsertMonthsAsync(h, workspace, seed: 11, (2024, 1, 50), (2024, 2, 60), (2024, 3, 330), (2024, 5, 40));
        await h.IngestAsync(workspace, 90, seed: 12);
        await InsertMonthsAsync(h, neighbour, seed: 13, (2024, 1, 30), (2024, 3, 70));
        var original = await h.ChecksumsAsync(workspace);
        var neighbourBefore = await h.ChecksumsAsync(neighbour);
        Assert.Equal(570, original.EventRows);
        Assert.True(original.InternalEventRows > 0, "the generated messages include Dittofeed's internal events");

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Cold, archived.Storage);
        Assert.Equal(original.EventRows, archived.Rows);
        var ledger = await h.LedgerAsync(workspace);
        Assert.All(ledger, a => Assert.Equal(ArchiveState.Archived, a.State));
        Assert.All(ledger, a => Assert.NotNull(a.Chunk));
        Assert.Equal(archived.Archives.Select(a => a.ArchiveId).Order(), ledger.Select(a => a.ArchiveId).Order());
        Assert.Equal(original.EventRows, ledger.Sum(a => a.RowCount));
        Assert.Equal(original.InternalEventRows, ledger.Sum(a => a.InternalEventRows));
        // January and February together; March in three buckets of about a chunk each; May alone; this month alone.
        var chunks = ledger.Select(a => a.Chunk!).ToList();
        Assert.Contains(chunks, c => c.From == Month(2024, 1) && c.Until == Month(2024, 3) && c.Buckets == 1);
        Assert.Equal([0, 1, 2], chunks.Where(c => c.From == Month(2024, 3)).Select(c => c.Bucket).Order());
        Assert.All(chunks.Where(c => c.From == Month(2024, 3)), c => Assert.Equal(3, c.Buckets));
        Assert.Contains(chunks, c => c.From == Month(2024, 5) && c.Buckets == 1);
        Assert.Equal(330, ledger.Where(a => a.Chunk!.From == Month(2024, 3)).Sum(a => a.RowCount));
        Assert.All(ledger.Where(a => a.Chunk!.Buckets > 1), a => Assert.InRange(a.RowCount!.Value, 1, 2 * ChunkRows));

        // Each chunk's objects hold exactly its rows, under a prefix of its own; nothing is hot; the neighbour is untouched.
        var ids = new List<string>();
        foreach (var archive in ledger)
        {
            var held = await h.ArchivedMessageIdsAsync(archive.ObjectPrefix);
            Assert.Equal(archive.RowCount, held.Count);
            ids.AddRange(held);
        }

        Assert.Equal(original.EventRows, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(original.EventRows, restored.Rows);
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));
        Assert.All(await h.LedgerAsync(workspace), a => Assert.Equal(ArchiveState.Restored, a.State));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    [Fact]
    public async Task A_workspace_within_the_chunk_size_is_one_archive_as_before()
    {
        var h = await OpenAsync(Chunked);
        var workspace = await h.NewWorkspaceAsync();
        await InsertMonthsAsync(h, workspace, seed: 21, (2024, 1, 50), (2024, 7, 70));
        var original = await h.ChecksumsAsync(workspace);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        var only = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Null(only.Chunk);
        Assert.Equal(120, only.RowCount);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal(archived.Rows, original.EventRows);
    }

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task A_chunked_archive_stopped_after_a_step_resumes_chunk_by_chunk_and_restores_exactly(string step)
    {
        var h = await OpenAsync(Chunked);
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await InsertMonthsAsync(h, workspace, seed: 31, (2024, 2, 100), (2024, 4, 300));
        var original = await h.ChecksumsAsync(workspace);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.ColdStoreWorkspaceEventsAsync(workspace));
        var before = await h.LedgerAsync(workspace);
        var finished = before.Where(a => a.State == ArchiveState.Archived).Select(a => a.ArchiveId).ToList();
        var rerun = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        // The chunks archived before the stop are kept as they are; the rest is archived once, with nothing left hot.
        Assert.Equal(StorageState.Cold, rerun.Storage);
        var ledger = await h.LedgerAsync(workspace);
        Assert.All(finished, id => Assert.Equal(ArchiveState.Archived, Assert.Single(ledger, a => a.ArchiveId == id).State));
        var archived = ledger.Where(a => a.State == ArchiveState.Archived).ToList();
        Assert.All(ledger, a => Assert.Contains(a.State, new[] { ArchiveState.Archived, ArchiveState.Abandoned }));
        Assert.Equal(original.EventRows, archived.Sum(a => a.RowCount));
        var ids = new List<string>();
        foreach (var archive in archived)
        {
            ids.AddRange(await h.ArchivedMessageIdsAsync(archive.ObjectPrefix));
        }

        Assert.Equal(original.EventRows, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));

        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    [Theory]
    [MemberData(nameof(ArchiveSteps))]
    public async Task A_chunked_archive_stopped_after_a_step_is_finished_or_undone_by_a_restore(string step)
    {
        var h = await OpenAsync(Chunked);
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await InsertMonthsAsync(h, workspace, seed: 41, (2024, 4, 300));
        var original = await h.ChecksumsAsync(workspace);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.ColdStoreWorkspaceEventsAsync(workspace));
        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal((original.EventRows, original.InternalEventRows), await h.RowsAfterDeletesAsync(workspace));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    [Theory]
    [MemberData(nameof(RestoreSteps))]
    public async Task A_chunked_restore_stopped_after_a_step_is_finished_exactly_by_running_it_again(string step)
    {
        var h = await OpenAsync(Chunked);
        var crashing = await OpenAsync(CrashAfter(step));
        var workspace = await h.NewWorkspaceAsync();
        await InsertMonthsAsync(h, workspace, seed: 51, (2024, 4, 300));
        var original = await h.ChecksumsAsync(workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        Assert.True((await h.LedgerAsync(workspace)).Count >= 2, "the archive is in chunks");

        await Assert.ThrowsAsync<SimulatedCrashException>(() => crashing.Service.RestoreWorkspaceEventsAsync(workspace));
        var partly = await h.LedgerAsync(workspace);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal((original.EventRows, original.InternalEventRows), await h.RowsAfterDeletesAsync(workspace));
        Assert.All(await h.LedgerAsync(workspace), a => Assert.Equal(ArchiveState.Restored, a.State));
        Assert.Empty(await h.ObjectsAsync(workspace));
        // A stop after the first chunk's step left the other chunks archived (restore:done comes after all of them).
        if (step != Steps.RestoreDone)
        {
            Assert.Contains(partly, a => a.State == ArchiveState.Archived);
        }
    }

    private static DateTime Month(int year, int month) => new(year, month, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Inserts generated messages with <c>processing_time</c> spread over each given month (UTC).</summary>
    private static async Task InsertMonthsAsync(Harness h, Guid workspace, int seed, params (int Year, int Month, int Rows)[] months)
    {
        foreach (var (year, month, rows) in months)
        {
            var start = Month(year, month);
            var span = start.AddMonths(1) - start;
            var messages = SegmentEventGenerator.Generate(rows, seed + (year * 100) + month).ToList();
            var events = messages.Select((m, i) => RawEvent.Of(m.MessageId, m.Raw, start + (span * i / rows))).ToList();
            await h.InsertAsync(workspace, events);
        }
    }

    private static ColdstoreOptions CrashAfter(string step) => StepCrash.After(Chunked, step);
}

public sealed class ChunkedArchiveOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : ChunkedArchiveTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class ChunkedArchiveOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : ChunkedArchiveTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
