using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// A restore inserts only its own workspace's rows: an archive object that holds another tenant's rows (swapped in
/// after the restore checked the objects, or before it) brings none of them in, and the other tenant is unchanged.
/// </summary>
public abstract class WorkspaceIsolationTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task An_object_of_another_workspace_swapped_in_after_the_check_inserts_none_of_its_rows()
    {
        var setup = await OpenAsync();
        var (a, b, bObject) = await TwoWorkspacesWithAnObjectOfBAsync(setup);
        var aBefore = await setup.ChecksumsAsync(a);
        var bBefore = await setup.ChecksumsAsync(b);
        await setup.Service.ColdStoreWorkspaceEventsAsync(a);
        await setup.WaitForMutationsAsync();
        var aRecord = Assert.Single(await setup.LedgerAsync(a));
        var aKey = (await setup.Archive.ListAsync(aRecord.ObjectPrefix)).Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)).Key;
        var aObject = await setup.Archive.ReadAsync(aKey) ?? throw new InvalidOperationException("no data object");

        // Between the restore's check of the objects and its insert, which reads them again, B's object replaces A's.
        var swapping = await OpenAsync(Fast with
        {
            StepCompleted = step =>
            {
                if (step == Steps.RestoreStarted)
                {
                    setup.Archive.WriteAsync(aKey, bObject).GetAwaiter().GetResult();
                }
            },
        });
        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => swapping.Service.RestoreWorkspaceEventsAsync(a));

        Assert.Equal(a, e.WorkspaceId);
        Assert.Equal(bBefore, await setup.ChecksumsAsync(b));
        await setup.WaitForMutationsAsync();
        Assert.Equal((bBefore.EventRows, bBefore.InternalEventRows), await setup.RowsAfterDeletesAsync(b));
        Assert.Equal((0L, 0L), await setup.RowsAfterDeletesAsync(a));
        Assert.Equal(StorageState.Cold, await setup.StorageAsync(a));

        // With A's object back, the restore is exact.
        await setup.Archive.WriteAsync(aKey, aObject);
        await setup.Service.RestoreWorkspaceEventsAsync(a);
        Assert.Equal(aBefore, await setup.ChecksumsAsync(a));
        Assert.Equal(bBefore, await setup.ChecksumsAsync(b));
    }

    [Fact]
    public async Task An_archive_whose_objects_hold_another_workspaces_rows_is_refused_before_anything_is_inserted()
    {
        var h = await OpenAsync();
        var (a, b, bObject) = await TwoWorkspacesWithAnObjectOfBAsync(h);
        var bBefore = await h.ChecksumsAsync(b);
        await h.Service.ColdStoreWorkspaceEventsAsync(a);
        await h.WaitForMutationsAsync();
        var aRecord = Assert.Single(await h.LedgerAsync(a));
        var aKey = (await h.Archive.ListAsync(aRecord.ObjectPrefix)).Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)).Key;

        // B's object under A's key, and the manifest's sizes edited to match, so only the content gives it away.
        await h.Archive.WriteAsync(aKey, bObject);
        var manifestKey = aRecord.ObjectPrefix + ArchiveManifest.FileName;
        var manifest = ArchiveManifest.Parse(await h.Archive.ReadAsync(manifestKey) ?? throw new InvalidOperationException("no manifest"));
        await h.Archive.WriteAsync(manifestKey, (manifest with
        {
            Objects = [.. manifest.Objects.Select(o => o with { Size = bObject.Length })],
        }).ToJson());

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.RestoreWorkspaceEventsAsync(a));

        Assert.Contains("rows of other workspaces", e.Message, StringComparison.Ordinal);
        Assert.Equal(bBefore, await h.ChecksumsAsync(b));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(a));
        var check = Assert.Single(await h.Service.VerifyWorkspaceArchivesAsync(a));
        Assert.False(check.Ok);
        Assert.Contains("rows of other workspaces", check.Problem, StringComparison.Ordinal);
    }

    /// <summary>Workspaces A and B with events, and the bytes of an archive object of B's (B is hot again afterwards).</summary>
    private static async Task<(Guid A, Guid B, byte[] BObject)> TwoWorkspacesWithAnObjectOfBAsync(Harness h)
    {
        var a = await h.NewWorkspaceAsync();
        var b = await h.NewWorkspaceAsync();
        await h.IngestAsync(a, 300, seed: 901);
        await h.IngestAsync(b, 250, seed: 902);
        await h.Service.ColdStoreWorkspaceEventsAsync(b);
        await h.WaitForMutationsAsync();
        var bRecord = Assert.Single(await h.LedgerAsync(b));
        var bKey = (await h.Archive.ListAsync(bRecord.ObjectPrefix)).Single(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)).Key;
        var bObject = await h.Archive.ReadAsync(bKey) ?? throw new InvalidOperationException("no data object");
        await h.Service.RestoreWorkspaceEventsAsync(b);
        await h.WaitForMutationsAsync();
        return (a, b, bObject);
    }
}

public sealed class WorkspaceIsolationOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : WorkspaceIsolationTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class WorkspaceIsolationOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : WorkspaceIsolationTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
