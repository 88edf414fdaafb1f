using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// An archive altered in the store after it was verified is refused by restore: nothing is inserted, the workspace
/// stays cold, the ledger records why, verify reports it, and once the objects are put back the restore is exact.
/// </summary>
public abstract class TamperedArchiveTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    public enum Tamper
    {
        DeleteDataObject,
        TruncateDataObject,
        ReplaceDataObjectWithOneRowLess,
        ReplaceDataObjectWithOneRowLessAndManifestSizesToMatch,
        EditManifestRowCount,
        EditManifestChecksum,
        DeleteManifest,
    }

    public static TheoryData<Tamper> Tampers => new(Enum.GetValues<Tamper>());

    [Theory]
    [MemberData(nameof(Tampers))]
    public async Task A_tampered_archive_is_refused_by_restore_without_inserting_anything(Tamper tamper)
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 400, seed: 601);
        var before = await h.ChecksumsAsync(workspace);
        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        await h.WaitForMutationsAsync();
        var record = Assert.Single(await h.LedgerAsync(workspace));
        var dataKey = (await h.Archive.ListAsync(record.ObjectPrefix)).First(o => o.Key.EndsWith(".parquet", StringComparison.Ordinal)).Key;
        var manifestKey = record.ObjectPrefix + ArchiveManifest.FileName;
        var originalData = await h.Archive.ReadAsync(dataKey) ?? throw new InvalidOperationException("no data object");
        var originalManifest = await h.Archive.ReadAsync(manifestKey) ?? throw new InvalidOperationException("no manifest");

        await ApplyAsync(h, tamper, dataKey, manifestKey, originalData, originalManifest);

        var e = await Assert.ThrowsAsync<WorkspaceOperationException>(() => h.Service.RestoreWorkspaceEventsAsync(workspace));
        Assert.Equal(WorkspaceErrorKind.Failed, e.Kind);
        Assert.Equal(workspace, e.WorkspaceId);
        Assert.Contains(workspace.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
        var after = Assert.Single(await h.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Archived, after.State);
        Assert.False(string.IsNullOrEmpty(after.LastError), "the ledger records why the restore failed");
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await h.RowsAfterDeletesAsync(workspace));
        var check = Assert.Single(await h.Service.VerifyWorkspaceArchivesAsync(workspace));
        Assert.False(check.Ok, "verify must report the tampered archive");
        Assert.False(string.IsNullOrEmpty(check.Problem));

        // Put the archive back as it was: the refusal must have destroyed nothing.
        foreach (var extra in (await h.Archive.ListAsync(record.ObjectPrefix)).Where(o => o.Key != dataKey && o.Key != manifestKey))
        {
            await h.Archive.DeletePrefixAsync(extra.Key);
        }

        await h.Archive.WriteAsync(dataKey, originalData);
        await h.Archive.WriteAsync(manifestKey, originalManifest);
        Assert.True(Assert.Single(await h.Service.VerifyWorkspaceArchivesAsync(workspace)).Ok);
        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(archived.Rows, restored.Rows);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Empty(await h.ObjectsAsync(workspace));
    }

    private static async Task ApplyAsync(Harness h, Tamper tamper, string dataKey, string manifestKey, byte[] data, byte[] manifestBytes)
    {
        var manifest = ArchiveManifest.Parse(manifestBytes);
        switch (tamper)
        {
            case Tamper.DeleteDataObject:
                Assert.Equal(1, await h.Archive.DeletePrefixAsync(dataKey));
                break;
            case Tamper.TruncateDataObject:
                await h.Archive.WriteAsync(dataKey, data.AsMemory(0, data.Length / 2));
                break;
            case Tamper.ReplaceDataObjectWithOneRowLess:
            case Tamper.ReplaceDataObjectWithOneRowLessAndManifestSizesToMatch:
                var replacement = await OneRowLessAsync(h, dataKey);
                await h.Archive.WriteAsync(dataKey, replacement);
                if (tamper == Tamper.ReplaceDataObjectWithOneRowLessAndManifestSizesToMatch)
                {
                    var objects = manifest.Objects.Select(o => manifestKey[..^ArchiveManifest.FileName.Length] + o.Key == dataKey ? o with { Size = replacement.Length } : o).ToList();
                    await h.Archive.WriteAsync(manifestKey, (manifest with { Objects = objects }).ToJson());
                }

                break;
            case Tamper.EditManifestRowCount:
                await h.Archive.WriteAsync(manifestKey, (manifest with { RowCount = manifest.RowCount - 1 }).ToJson());
                break;
            case Tamper.EditManifestChecksum:
                await h.Archive.WriteAsync(manifestKey, (manifest with { Checksum = unchecked(manifest.ChecksumValue + 1).ToString(CultureInfo.InvariantCulture) }).ToJson());
                break;
            case Tamper.DeleteManifest:
                Assert.Equal(1, await h.Archive.DeletePrefixAsync(manifestKey));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(tamper), tamper, null);
        }
    }

    /// <summary>A valid Parquet object with the same rows as <paramref name="dataKey"/> but one, written by ClickHouse.</summary>
    private static async Task<byte[]> OneRowLessAsync(Harness h, string dataKey)
    {
        var scratch = $"tamper-{Guid.NewGuid():N}/";
        var source = h.Archive.TableFunction(dataKey, "Parquet", "src");
        var target = h.Archive.TableFunction(scratch + "data.parquet", "Parquet", "dst");
        await h.ClickHouse.ExecuteAsync(new ClickHouseQuery(
                $"INSERT INTO FUNCTION {target.Sql} SELECT * FROM {source.Sql} ORDER BY message_id LIMIT 1, 1000000000")
            .With(source.Parameters)
            .With(target.Parameters)
            .WithSettings(target.WriteSettings)
            .WithSetting("use_hive_partitioning", "0")
            .For("test: write a replacement object"));
        var bytes = await h.Archive.ReadAsync(scratch + "data.parquet") ?? throw new InvalidOperationException("the replacement was not written");
        await h.Archive.DeletePrefixAsync(scratch);
        return bytes;
    }
}

public sealed class TamperedArchiveOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : TamperedArchiveTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class TamperedArchiveOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : TamperedArchiveTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
