using Coldstore.Domain;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests;

/// <summary>
/// Status, the straggler sweep and a worker pass at fleet size: the statements they send to ClickHouse and the state
/// store are counted through proxies, and must not grow from 10 workspaces to 1,000.
/// </summary>
public abstract class FleetStatusTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    [Fact]
    public async Task Status_the_straggler_sweep_and_a_worker_pass_issue_the_same_statements_for_10_and_for_1000_workspaces()
    {
        var counted = new CountingEngines(Engines);
        var clickHouse = CallCounter.Wrap(ClickHouse.OpenClient(), out var clickHouseCalls);
        await using var h = await Harness.OpenAsync(clickHouse, counted, Tables, Fast with { SettleWindow = TimeSpan.Zero });

        // Ten workspaces: one archived with a straggler beside it, one with hot events, the rest empty.
        var archived = await h.NewWorkspaceAsync();
        await h.IngestAsync(archived, 300, seed: 71);
        await h.Service.PauseWorkspaceAsync(archived);
        await h.IngestAsync(archived, 7, seed: 72);
        var hot = await h.NewWorkspaceAsync();
        await h.IngestAsync(hot, 120, seed: 73);
        var emptyPaused = new List<Guid>();
        for (var i = 0; i < 8; i++)
        {
            emptyPaused.Add(await h.NewWorkspaceAsync());
        }

        // Cold ones grow with the fleet too, so a per-workspace read in the sweep would show.
        foreach (var w in emptyPaused.Take(4))
        {
            await h.Service.PauseWorkspaceAsync(w);
        }

        var small = await MeasureAsync(h, clickHouseCalls, counted.Calls, 10);
        Assert.Equal(7, small.Status.Single(r => r.Id == archived).HotRows);
        Assert.Equal(300, small.Status.Single(r => r.Id == archived).ArchivedRows);
        Assert.Equal(120, small.Status.Single(r => r.Id == hot).HotRows);
        Assert.Equal([archived], small.Stragglers);

        for (var i = 0; i < 990; i++)
        {
            var w = await h.NewWorkspaceAsync();
            if (i < 40)
            {
                await h.Service.PauseWorkspaceAsync(w);
            }
        }

        var large = await MeasureAsync(h, clickHouseCalls, counted.Calls, 1000);
        Assert.Equal(7, large.Status.Single(r => r.Id == archived).HotRows);
        Assert.Equal(1, large.Status.Single(r => r.Id == archived).Archives);
        Assert.Equal(120, large.Status.Single(r => r.Id == hot).HotRows);
        Assert.Equal(45, large.Status.Count(r => r.Storage == StorageState.Cold));
        Assert.Equal([archived], large.Stragglers);

        Assert.Equal(small.StatusCalls, large.StatusCalls);
        Assert.Equal(small.SweepCalls, large.SweepCalls);
        Assert.Equal(small.PassCalls, large.PassCalls);
        // Four statements: workspaces and ledger from the state store, pending deletes and hot rows from ClickHouse.
        Assert.Equal((2, 2), small.StatusCalls);
    }

    [Fact]
    public async Task A_running_worker_lists_the_fleet_once_per_poll_and_otherwise_reads_only_the_workspaces_it_is_told_about()
    {
        var counted = new CountingEngines(Engines);
        await using var h = await Harness.OpenAsync(ClickHouse.OpenClient(), counted, Tables, Fast);
        var fleet = new List<Guid>();
        for (var i = 0; i < 30; i++)
        {
            var w = await h.NewWorkspaceAsync();
            fleet.Add(w);
            if (i < 9)
            {
                await h.IngestAsync(w, 20, seed: 90 + i);
            }
        }

        // Six paused before the worker starts (it finds them in its first listing), three paused while it runs
        // (by an application's plain UPDATE, which only a notification reports before the next poll).
        foreach (var w in fleet.Take(6))
        {
            await h.Service.PauseWorkspaceAsync(w, moveEvents: false);
        }

        var before = counted.Calls.CountOf(nameof(IStateStore.ListWorkspacesAsync));
        var worker = new ColdstoreWorker(h.Service, new WorkerOptions { PollInterval = TimeSpan.FromMinutes(10), SweepInterval = Timeout.InfiniteTimeSpan, Concurrency = 2 });
        using var stop = new CancellationTokenSource();
        var running = worker.RunAsync(stop.Token);
        try
        {
            await WaitUntilColdAsync(h, fleet.Take(6));
            if (Engines.NotifiesChanges)
            {
                foreach (var w in fleet.Skip(6).Take(3))
                {
                    await Engines.SetStatusAsAnApplicationAsync(w, "Paused");
                }

                await WaitUntilColdAsync(h, fleet.Skip(6).Take(3));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }

        // One listing at start; a notifying store's feed opens with "changes may have been missed", worth one more.
        // Every move and every notification after that is one read of its own workspace. Re-listing after each of
        // them would make it 7 or more here, and at fleet size a listing of every workspace per change.
        var listings = counted.Calls.CountOf(nameof(IStateStore.ListWorkspacesAsync)) - before;
        Assert.InRange(listings, 1, Engines.NotifiesChanges ? 2 : 1);
        Assert.True(counted.Calls.CountOf(nameof(IStateStore.GetWorkspaceAsync)) >= (Engines.NotifiesChanges ? 9 : 6));
        foreach (var w in fleet.Take(Engines.NotifiesChanges ? 9 : 6))
        {
            Assert.Equal(0, await h.HotRowsAsync(w));
        }
    }

    private static async Task WaitUntilColdAsync(Harness h, IEnumerable<Guid> workspaces)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        foreach (var w in workspaces)
        {
            while ((await h.State.GetWorkspaceAsync(w))!.Storage != StorageState.Cold)
            {
                Assert.True(DateTime.UtcNow < deadline, $"workspace {w} did not become cold within 120 s");
                await Task.Delay(50);
            }
        }
    }

    private static async Task<FleetSample> MeasureAsync(Harness h, CallCounter clickHouse, CallCounter state, int expected)
    {
        var (clickHouseBefore, stateBefore) = (clickHouse.Count, state.Count);
        var status = await h.Service.GetStatusAsync();
        var statusCalls = (state.Count - stateBefore, clickHouse.Count - clickHouseBefore);
        Assert.Equal(expected, status.Count);

        var workspaces = await h.Service.ListWorkspacesAsync();
        (clickHouseBefore, stateBefore) = (clickHouse.Count, state.Count);
        var stragglers = await h.Service.FindStragglersAsync(workspaces);
        var sweepCalls = (state.Count - stateBefore, clickHouse.Count - clickHouseBefore);

        // A pass over a converged fleet (no sweep, which would archive the straggler): listing only.
        (clickHouseBefore, stateBefore) = (clickHouse.Count, state.Count);
        var pass = await new ColdstoreWorker(h.Service, new WorkerOptions { SweepInterval = Timeout.InfiniteTimeSpan }).RunOnceAsync();
        var passCalls = (state.Count - stateBefore, clickHouse.Count - clickHouseBefore);
        Assert.Empty(pass.Attempts);
        Assert.True(pass.Converged);
        return new FleetSample(status, stragglers, statusCalls, sweepCalls, passCalls);
    }

    private sealed record FleetSample(
        IReadOnlyList<WorkspaceReport> Status, IReadOnlyList<Guid> Stragglers, (int State, int ClickHouse) StatusCalls,
        (int State, int ClickHouse) SweepCalls, (int State, int ClickHouse) PassCalls);

    /// <summary>The test's engines, with every state store they open counted.</summary>
    private sealed class CountingEngines(IEngines inner) : ForwardingEngines(inner)
    {
        private CallCounter? _calls;

        public CallCounter Calls => _calls ?? throw new InvalidOperationException("No state store was opened.");

        public override IStateStore OpenState() => CallCounter.WrapState(Inner.OpenState(), out _calls);
    }
}

public sealed class FleetStatusOnSqliteAndDirectory(ChdbDatabaseFixture chdb)
    : FleetStatusTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class FleetStatusOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : FleetStatusTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
