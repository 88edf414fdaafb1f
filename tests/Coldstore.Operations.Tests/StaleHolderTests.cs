using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// A holder that stalls past its lease (a frozen VM, a store failover) while another completes the work: when it
/// resumes, its next ledger write is refused with <see cref="LeaseLostException"/> and nothing of it lands over the
/// new holder's work.
/// </summary>
public abstract class StaleHolderTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly TimeSpan PauseLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task An_archive_that_stalled_past_its_lease_while_another_finished_it_stops_at_its_next_write_and_changes_nothing()
    {
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var stallable = new StallableEngines(Engines);
        var aOptions = Fast with
        {
            LeaseDuration = TimeSpan.FromSeconds(1),
            Owner = "stale-a",
            StepCompleted = step =>
            {
                if (step == Steps.ArchiveVerified && !paused.IsSet)
                {
                    // Frozen: no renewals reach the store from here on, and the operation does nothing until resumed.
                    stallable.Last!.StopRenewals();
                    paused.Set();
                    resume.Wait(PauseLimit);
                }
            },
        };
        await using var a = await Harness.OpenAsync(ClickHouse.OpenClient(), stallable, Tables, aOptions);
        var b = await OpenAsync(Fast with { LeaseWait = TimeSpan.FromSeconds(30), Owner = "fresh-b" });
        var workspace = await b.NewWorkspaceAsync();
        await b.IngestAsync(workspace, 400, seed: 909);
        var before = await b.ChecksumsAsync(workspace);

        var stale = Task.Run(() => a.Service.ColdStoreWorkspaceEventsAsync(workspace));
        Assert.True(paused.Wait(PauseLimit), "holder A never reached the verified step");

        // B waits out A's lapsed lease, resumes the verified archive and finishes it.
        var finished = await b.Service.ColdStoreWorkspaceEventsAsync(workspace);
        Assert.Equal(400, finished.Rows);
        var ledgerOfB = Assert.Single(await b.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Archived, ledgerOfB.State);

        resume.Set();
        var lost = await Assert.ThrowsAsync<LeaseLostException>(() => stale);

        Assert.Equal(workspace, lost.WorkspaceId);
        Assert.Equal("update-archive", lost.Step);
        Assert.Contains(workspace.ToString(), lost.Message, StringComparison.Ordinal);
        Assert.Contains("stale-a", lost.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was written", lost.Message, StringComparison.Ordinal);

        // B's work stands exactly: the one archive B finished, no error recorded by A, the workspace cold, every row archived once.
        Assert.Equal(ledgerOfB, Assert.Single(await b.LedgerAsync(workspace)));
        Assert.Null(ledgerOfB.LastError);
        Assert.Equal(StorageState.Cold, await b.StorageAsync(workspace));
        Assert.Equal(0, await b.HotRowsAsync(workspace));
        Assert.Equal((0L, 0L), await b.RowsAfterDeletesAsync(workspace));
        Assert.Equal(400, (await b.ArchivedMessageIdsAsync(ledgerOfB.ObjectPrefix)).Distinct(StringComparer.Ordinal).Count());

        // And the events come back exactly.
        var restored = await b.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(400, restored.Rows);
        Assert.Equal(before, await b.ChecksumsAsync(workspace));
        Assert.Empty(await b.ObjectsAsync(workspace));
    }

    [Fact]
    public async Task A_stale_archive_is_stopped_by_the_lease_alone_when_the_new_holder_has_not_written_yet()
    {
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var stallable = new StallableEngines(Engines);
        var aOptions = Fast with
        {
            LeaseDuration = TimeSpan.FromSeconds(1),
            Owner = "stale-a",
            StepCompleted = step =>
            {
                if (step == Steps.ArchiveVerified && !paused.IsSet)
                {
                    stallable.Last!.StopRenewals();
                    paused.Set();
                    resume.Wait(PauseLimit);
                }
            },
        };
        await using var a = await Harness.OpenAsync(ClickHouse.OpenClient(), stallable, Tables, aOptions);
        var b = await OpenAsync(Fast with { LeaseWait = TimeSpan.FromSeconds(30) });
        var workspace = await b.NewWorkspaceAsync();
        await b.IngestAsync(workspace, 300, seed: 919);
        var before = await b.ChecksumsAsync(workspace);

        var stale = Task.Run(() => a.Service.ColdStoreWorkspaceEventsAsync(workspace));
        Assert.True(paused.Wait(PauseLimit), "holder A never reached the verified step");

        // Another process takes the lapsed lease and has written nothing yet: the ledger still says what A expects.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var taken = await b.State.TryAcquireLeaseAsync(workspace, "fresh-b", TimeSpan.FromMinutes(1));
        Assert.True(taken.Acquired);
        var verified = Assert.Single(await b.LedgerAsync(workspace));
        Assert.Equal(ArchiveState.Verified, verified.State);

        resume.Set();
        var lost = await Assert.ThrowsAsync<LeaseLostException>(() => stale);
        Assert.Equal("update-archive", lost.Step);
        Assert.Contains("fresh-b", lost.Message, StringComparison.Ordinal);

        // Nothing of A's continuation landed: no delete was submitted, the ledger row is as it was.
        Assert.Equal(verified, Assert.Single(await b.LedgerAsync(workspace)));
        Assert.Equal(StorageState.Archiving, await b.StorageAsync(workspace));
        Assert.Equal(300, await b.HotRowsAsync(workspace));

        // Once the new holder is done (here: it gives the lease up), the archive resumes and completes exactly.
        await b.State.ReleaseLeaseAsync(taken.Lease!);
        var finished = await b.Service.ColdStoreWorkspaceEventsAsync(workspace);
        Assert.Equal(300, finished.Rows);
        await b.Service.RestoreWorkspaceEventsAsync(workspace);
        Assert.Equal(before, await b.ChecksumsAsync(workspace));
    }
}

public sealed class StaleHolderOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : StaleHolderTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class StaleHolderOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : StaleHolderTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
