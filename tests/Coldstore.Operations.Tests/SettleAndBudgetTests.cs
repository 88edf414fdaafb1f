using System.Globalization;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// What an archive waits for instead of a fixed window: the inserts that started by its cutoff, and a table's queue of
/// unfinished mutations below the budget before it adds a delete.
/// </summary>
public abstract class SettleAndBudgetTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task An_archive_waits_for_an_insert_that_started_before_its_cutoff_and_takes_all_of_its_rows()
    {
        // Without waiting for the slow insert, an archive taken meanwhile copies none of its rows, and they would
        // stay hot behind its cutoff.
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 30, seed: 11);
        await using var writer = ClickHouse.OpenClient();
        const int SlowRows = 300;
        var inserting = writer.ExecuteAsync(SlowInsert(workspace, SlowRows));
        await WaitUntilRunningAsync(h.ClickHouse, "slow-", inserting);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await inserting;

        Assert.Equal(30 + SlowRows, archived.Rows);
        await h.WaitForMutationsAsync();
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(30 + SlowRows, (await h.ChecksumsAsync(workspace)).EventRows);
    }

    [Fact]
    public async Task An_insert_slower_than_the_wait_is_left_hot_and_never_lost()
    {
        var h = await OpenAsync(Fast with { InFlightInsertWait = TimeSpan.FromMilliseconds(300) });
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 20, seed: 12);
        await using var writer = ClickHouse.OpenClient();
        var inserting = writer.ExecuteAsync(SlowInsert(workspace, 400));
        await WaitUntilRunningAsync(h.ClickHouse, "slow-", inserting);

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await inserting;

        // The 400 rows committed after the copy: either the listing saw them and the archive copied again, or they
        // landed after it and stay hot. Either way each row is exactly once in hot or archive.
        await h.WaitForMutationsAsync();
        var hot = await h.HotMessageIdsAsync(workspace);
        Assert.Equal(420, archived.Rows + hot.Count);
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        var after = await h.HotMessageIdsAsync(workspace);
        Assert.Equal(420, after.Count);
        Assert.Equal(420, after.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task A_delete_waits_while_the_table_has_as_many_unfinished_mutations_as_the_budget()
    {
        var h = await OpenAsync(Fast with { MutationBudget = 2 });
        var workspace = await h.NewWorkspaceAsync();
        var other = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 40, seed: 13);
        await h.IngestAsync(other, 10, seed: 14);
        var before = await h.ChecksumsAsync(workspace);
        await StopMergesAsync(h);
        Task<OperationResult>? archiving = null;
        try
        {
            // Two mutations of someone else's that cannot finish while merges are stopped fill the budget.
            foreach (var n in new[] { 1, 2 })
            {
                await h.ClickHouse.ExecuteAsync(new ClickHouseQuery($"ALTER TABLE {Tables.QualifiedEvents} DELETE WHERE workspace_id = {{w:String}} AND message_id = {{m:String}}")
                    .With("w", "String", EventSql.WorkspaceIdText(other)).With("m", "String", "none-" + n.ToString(CultureInfo.InvariantCulture))
                    .WithSetting("mutations_sync", "0").For("test: a pending mutation"));
            }

            archiving = h.Service.ColdStoreWorkspaceEventsAsync(workspace);
            await Task.Delay(TimeSpan.FromSeconds(3));

            Assert.False(archiving.IsCompleted, archiving.IsFaulted ? archiving.Exception!.ToString() : "the archive finished while the budget was full");
            Assert.Equal(2, await UnfinishedMutationsAsync(h, Tables.Events));
            Assert.Equal(0, await UnfinishedMutationsNamingAsync(h, workspace));
        }
        finally
        {
            await StartMergesAsync(h);
        }

        var archived = await archiving;
        Assert.Equal(40, archived.Rows);
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
    }

    [Fact]
    public async Task Concurrent_archives_never_hold_more_unfinished_mutations_of_a_table_than_the_budget()
    {
        const int Budget = 2;
        var harnesses = new List<Harness>();
        var workspaces = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            var harness = await OpenAsync(Fast with { MutationBudget = Budget });
            harnesses.Add(harness);
            var workspace = await harness.NewWorkspaceAsync();
            await harness.IngestAsync(workspace, 25, seed: 20 + i);
            workspaces.Add(workspace);
        }

        var h = harnesses[0];
        var before = new List<WorkspaceChecksums>();
        foreach (var workspace in workspaces)
        {
            before.Add(await h.ChecksumsAsync(workspace));
        }

        await StopMergesAsync(h);
        var archiving = new List<Task<OperationResult>>();
        try
        {
            archiving.AddRange(workspaces.Select((w, i) => harnesses[i].Service.ColdStoreWorkspaceEventsAsync(w)));

            // With merges stopped no delete applies, so exactly the budget's worth are submitted and the rest wait.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await UnfinishedMutationsAsync(h, Tables.Events) < Budget && DateTime.UtcNow < deadline)
            {
                Assert.DoesNotContain(archiving, a => a.IsFaulted);
                await Task.Delay(50);
            }

            for (var look = 0; look < 20; look++)
            {
                Assert.Equal(Budget, await UnfinishedMutationsAsync(h, Tables.Events));
                Assert.True(await UnfinishedMutationsAsync(h, Tables.InternalEvents) <= Budget);
                await Task.Delay(100);
            }

            Assert.DoesNotContain(archiving, a => a.IsCompleted);
        }
        finally
        {
            await StartMergesAsync(h);
        }

        var results = await Task.WhenAll(archiving);
        Assert.All(results, r => Assert.Equal(25, r.Rows));
        for (var i = 0; i < workspaces.Count; i++)
        {
            Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspaces[i]));
            await h.Service.RestoreWorkspaceEventsAsync(workspaces[i]);
            Assert.Equal(before[i], await h.ChecksumsAsync(workspaces[i]));
        }
    }

    /// <summary>
    /// A slow INSERT … SELECT (about a second per 100 rows) whose rows all carry its start time (now64() is one value
    /// per statement) and land in one part at its end. The workspace is a literal, not a parameter: chDB serializes
    /// parameterized statements process-wide, which would make the archive wait for the insert whatever it does.
    /// </summary>
    private ClickHouseQuery SlowInsert(Guid workspace, int rows) =>
        new ClickHouseQuery($$"""
            INSERT INTO {{Tables.QualifiedEvents}} (message_raw, processing_time, workspace_id, message_id, server_time)
            SELECT '{}', now64(3, 'UTC'), '{{EventSql.WorkspaceIdText(workspace)}}', concat('slow-', toString(number)), now64(3, 'UTC')
            FROM numbers({{rows}}) WHERE sleepEachRow(0.01) = 0
            SETTINGS max_block_size = 100, min_insert_block_size_rows = 1000000, min_insert_block_size_bytes = 1000000000
            """).For("test: a slow insert");

    private Task StopMergesAsync(Harness h) => SystemMergesAsync(h, "STOP");

    private Task StartMergesAsync(Harness h) => SystemMergesAsync(h, "START");

    private async Task SystemMergesAsync(Harness h, string verb)
    {
        foreach (var table in new[] { Tables.QualifiedEvents, Tables.QualifiedInternalEvents })
        {
            await h.ClickHouse.ExecuteAsync(new ClickHouseQuery($"SYSTEM {verb} MERGES {table}").For($"test: {verb.ToLowerInvariant()} merges"));
        }
    }

    private async Task<long> UnfinishedMutationsAsync(Harness h, string table) =>
        Convert.ToInt64(await h.ClickHouse.ScalarAsync(ArchiveSql.UnfinishedMutationsOfTable(Tables, table)), CultureInfo.InvariantCulture);

    private async Task<long> UnfinishedMutationsNamingAsync(Harness h, Guid workspace) =>
        Convert.ToInt64(await h.ClickHouse.ScalarAsync(ArchiveSql.PendingDeletes(Tables, workspace)), CultureInfo.InvariantCulture);

    /// <summary>Waits until a statement whose text contains <paramref name="marker"/> is running, so the archive's cutoff comes after its start.</summary>
    private static async Task WaitUntilRunningAsync(IClickHouseClient observer, string marker, Task statement)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            Assert.False(statement.IsCompleted, "the slow insert ended before the archive could start beside it");
            var running = Convert.ToInt64(await observer.ScalarAsync(new ClickHouseQuery(
                "SELECT count() FROM system.processes WHERE query_kind = 'Insert' AND position(query, {marker:String}) > 0")
                .With("marker", "String", marker).For("test: is the insert running")), CultureInfo.InvariantCulture);
            if (running > 0)
            {
                await Task.Delay(200);
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "the slow insert never showed in system.processes");
            await Task.Delay(20);
        }
    }
}

public sealed class SettleAndBudgetOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : SettleAndBudgetTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class SettleAndBudgetOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : SettleAndBudgetTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
