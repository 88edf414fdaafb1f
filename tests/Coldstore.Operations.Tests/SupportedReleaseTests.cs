using System.Net;
using Coldstore.Domain;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Archive and restore through a server that reports an older supported release and lacks the settings that release
/// lacks (the HTTP interface pretending it: a statement that sends a hidden setting fails with code 115, as there).
/// The round trip passing proves Coldstore, and ClickHouse.Driver under it, sent none of them.
/// </summary>
public abstract class SupportedReleaseTests(PretendedReleaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private readonly PretendedReleaseFixture _release = clickHouse;

    [Fact]
    public async Task Archive_then_restore_is_exact_on_a_server_of_this_release_without_the_settings_it_lacks()
    {
        var hidden = PretendedReleases.SettingsAbsentFrom(_release.Release);
        Assert.NotEmpty(hidden);
        // The interface really refuses them, so a statement carrying one would fail the round trip below.
        foreach (var setting in hidden)
        {
            await AssertRefusedAsync(setting);
        }

        var h = await OpenAsync();
        Assert.Equal(_release.Release, await h.ClickHouse.ScalarAsync(new ClickHouseQuery("SELECT version()").For("test: server version")));
        var workspace = await h.NewWorkspaceAsync();
        var neighbour = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 2_000, seed: 31);
        await h.IngestAsync(neighbour, 300, seed: 32);
        var before = await h.ChecksumsAsync(workspace);
        var neighbourBefore = await h.ChecksumsAsync(neighbour);
        Assert.Equal(2_000, before.EventRows);
        Assert.True(before.InternalEventRows > 0, "the generator makes DF track events, so internal_events must have rows");

        var archived = await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Cold, archived.Storage);
        Assert.Equal(2_000, archived.Rows);
        Assert.Equal(ArchiveState.Archived, Assert.Single(await h.LedgerAsync(workspace)).State);
        Assert.Equal(0, await h.HotRowsAsync(workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));

        var restored = await h.Service.RestoreWorkspaceEventsAsync(workspace);

        Assert.Equal(StorageState.Hot, restored.Storage);
        Assert.Equal(2_000, restored.Rows);
        Assert.Equal(before, await h.ChecksumsAsync(workspace));
        Assert.Equal(ArchiveState.Restored, Assert.Single(await h.LedgerAsync(workspace)).State);
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Equal(neighbourBefore, await h.ChecksumsAsync(neighbour));
    }

    /// <summary>Sends <c>SELECT 1</c> with the setting straight over HTTP (no Coldstore, no driver): code 115.</summary>
    private async Task AssertRefusedAsync(string setting)
    {
        using var http = new HttpClient();
        using var body = new StringContent("SELECT 1");
        using var response = await http.PostAsync(new Uri($"{_release.Url}/?{setting}=0"), body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("UNKNOWN_SETTING", text, StringComparison.Ordinal);
        Assert.Equal("115", response.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
    }
}

public sealed class SupportedRelease24Dot8OnPostgresAndS3(Release24Dot8Fixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : SupportedReleaseTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<Release24Dot8Fixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;

public sealed class SupportedRelease24Dot12OnPostgresAndS3(Release24Dot12Fixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : SupportedReleaseTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<Release24Dot12Fixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;

public sealed class SupportedRelease25Dot8OnPostgresAndS3(Release25Dot8Fixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : SupportedReleaseTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<Release25Dot8Fixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
