using Coldstore.Domain;
using Coldstore.Operations.Tests.Support;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>An archive followed by a restore gives back every row of both tables, and touches no other workspace.</summary>
public abstract class ExactRoundTripTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task Archive_then_restore_gives_back_every_row_of_both_tables_exactly_and_leaves_other_workspaces_alone()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var neighbour = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 3_000, seed: 11);
        await h.IngestAsync(neighbour, 700, seed: 12);
        var before = await h.ChecksumsAsync(workspace);
        var neighbourBefore = await h.ChecksumsAsync(neighbour);
        var stored = await h.StoredColumnsSummaryAsync(workspace);
        Assert.Equal(3_000, before.EventRows);
        Assert.True(before.InternalEventRows > 0, "the generator makes DF track events, so internal_events must have rows");

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Cold, archived.Storage);
        Assert.Equal(3_000, archived.Rows);
        Assert.True(archived.Bytes > 0, "an archive of 3,000 rows has bytes");
        Assert.Equal(stored.Checksum, archived.Checksum);
        var outcome = Assert.Single(archived.Archives);
        Assert.Equal(before.InternalEventRows, outcome.InternalEventRows);
        var record = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Archived, record.State);
        Assert.Equal(3_000, record.RowCount);
        Assert.Equal(stored.Checksum, record.Checksum);
        Assert.Equal(archived.Bytes, record.Bytes);
        Assert.Null(record.LastError);
        Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        var objects = await h.ObjectsAsync(workspace);
        Assert.Contains(objects, o => o.Key == record.ObjectPrefix + "manifest.json");
        Assert.Equal(archived.Bytes, objects.Where(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)).Sum(o => o.Size));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));
        Assert.Equal((long)700, (await h.RowsAfterDeletesAsync(neighbour)).Events);

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(3_000, restored.Rows);
        Assert.Equal(stored.Checksum, restored.Checksum);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
        Assert.Equal(3_000, await h.HotRowsAsync(workspace));
        Assert.Equal(ArchiveState.Restored, Assert.Single(await h.LedgerAsync(workspace)).State);
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task The_archived_copy_holds_exactly_the_rows_that_were_hot()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 1_000, seed: 13);
        var hotIds = await h.HotMessageIdsAsync(workspace);

        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        var record = Assert.Single(await h.LedgerAsync(workspace));
        var archivedIds = await h.ArchivedMessageIdsAsync(record.ObjectPrefix);
        Assert.Equal(hotIds.Order(StringComparer.Ordinal), archivedIds.Order(StringComparer.Ordinal));
        Assert.Empty(await h.HotMessageIdsAsync(workspace));
    }
}

public sealed class ExactRoundTripOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : ExactRoundTripTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class ExactRoundTripOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : ExactRoundTripTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
