using Coldstore.Domain;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>Archive and restore repeated, stacked, and on nothing.</summary>
public abstract class RepeatedCycleTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task Three_archive_restore_cycles_with_new_events_between_them_stay_exact()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        long total = 0;
        for (var cycle = 1; cycle <= 3; cycle++)
        {
            await h.IngestAsync(workspace, 400 * cycle, seed: 100 + cycle);
            total += 400 * cycle;
            var before = await h.ChecksumsAsync(workspace);
            Assert.Equal(total, before.EventRows);

            var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
            Assert.Equal(total, archived.Rows);
            Assert.Equal(0, await h.HotRowsAsync(workspace));

            var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);
            Assert.Equal(total, restored.Rows);
            Assert.Equal(StorageState.Hot, restored.Storage);
            Assert.Equal(before, await h.ChecksumsAsync(workspace));
            Assert.Empty(await h.ObjectsAsync(workspace));
        }

        var ledger = await h.LedgerAsync(workspace);
        Assert.Equal(3, ledger.Count);
        Assert.All(ledger, a => Assert.Equal(ArchiveState.Restored, a.State));
        Assert.Equal([400L, 1_200L, 2_400L], ledger.Select(a => a.RowCount!.Value));
    }

    [Fact]
    public async Task Two_archives_in_a_row_give_two_archives_and_one_restore_brings_both_back_exactly()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 600, seed: 201);
        var first = await h.ChecksumsAsync(workspace);
        var firstArchive = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await h.IngestAsync(workspace, 900, seed: 202);
        var second = await h.ChecksumsAsync(workspace);
        Assert.Equal(900, second.EventRows);

        var secondArchive = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(600, firstArchive.Rows);
        Assert.Equal(900, secondArchive.Rows);
        var ledger = await h.LedgerAsync(workspace);
        Assert.Equal(2, ledger.Count);
        Assert.All(ledger, a => Assert.Equal(ArchiveState.Archived, a.State));
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(1_500, restored.Rows);
        Assert.Equal(2, restored.Archives.Count);
        var expected = new WorkspaceChecksums(
            workspace,
            first.EventRows + second.EventRows,
            unchecked(first.EventChecksum + second.EventChecksum),
            first.InternalEventRows + second.InternalEventRows,
            unchecked(first.InternalEventChecksum + second.InternalEventChecksum));
        Assert.Equal(expected, await h.ChecksumsAsync(workspace));
        Assert.All(await h.LedgerAsync(workspace), a => Assert.Equal(ArchiveState.Restored, a.State));
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
    }

    [Fact]
    public async Task Archive_and_restore_keep_no_table_of_their_own_in_clickhouse()
    {
        // Whatever Coldstore kept in ClickHouse would live on one node of a cluster: nothing is kept there.
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 500, seed: 205);
        var before = await h.ChecksumsAsync(workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        var whileCold = await TablesAsync(h);

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(500, restored.Rows);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Equal(new[] { h.Tables.InternalEvents, h.Tables.InternalEventsView, h.Tables.Events }.Order(StringComparer.Ordinal), whileCold);
        Assert.Equal(whileCold, await TablesAsync(h));
    }

    private static async Task<List<string>> TablesAsync(Harness h) =>
        [.. (await h.ClickHouse.QueryAsync(new Ports.ClickHouseQuery("SELECT name FROM system.tables WHERE database = {database:String} ORDER BY name")
            .With("database", "String", h.Tables.Database))).Select(r => r.GetString("name"))];

    [Fact]
    public async Task Archiving_a_workspace_without_events_archives_nothing_and_writes_no_ledger_row_or_object()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        var busy = await h.NewWorkspaceAsync();
        await h.IngestAsync(busy, 50, seed: 203);

        var result = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(0, result.Rows);
        Assert.Equal(0, result.Bytes);
        Assert.Empty(result.Archives);
        Assert.Empty(await h.LedgerAsync(workspace));
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Empty(await h.Archive.ListAsync(""));
        Assert.Equal(50, await h.HotRowsAsync(busy));
    }

    [Fact]
    public async Task Restoring_a_workspace_without_an_archive_restores_nothing_and_leaves_it_hot()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 80, seed: 204);
        var before = await h.ChecksumsAsync(workspace);

        var result = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(0, result.Rows);
        Assert.Empty(result.Archives);
        Assert.Equal(StorageState.Hot, result.Storage);
        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Empty(await h.LedgerAsync(workspace));
    }
}

public sealed class RepeatedCycleOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : RepeatedCycleTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class RepeatedCycleOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : RepeatedCycleTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
