using System.Diagnostics;
using Coldstore.Archive.S3;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests.Outage;

/// <summary>
/// S3 goes away in the middle of an archive or a restore: the operation fails within the configured bound (not the
/// nine idle minutes ClickHouse's default retries took) with one error naming the endpoint and the step; once S3 is
/// back, rerunning finishes it and the round trip is exact, with no object left behind. Each test runs its own s3rver,
/// killed from the operation's progress callback right as the step begins (or, for a transfer cut off half-way, a
/// moment into it) and started again on the same port and directory.
/// </summary>
public abstract class S3OutageTests(ClickHouseDatabaseFixture clickHouse, Func<string, Task<IStateFactory>> state)
    : IAsyncLifetime
{
    /// <summary>The short bound every test configures; the default is two minutes.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(16);

    /// <summary>What the failure may take beyond the bound: process scheduling on a loaded machine, not retries.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    private readonly List<Harness> _harnesses = [];
    private RestartableS3rver? _s3;
    private IStateFactory? _state;
    private string _prefix = "";

    private RestartableS3rver S3 => _s3 ?? throw new InvalidOperationException("Not initialized.");

    private EventTables Tables { get; } = new(clickHouse.Database);

    /// <summary>Options as in the other operations tests.</summary>
    private static ColdstoreOptions Fast => new()
    {
        SettleWindow = TimeSpan.FromMilliseconds(200),
        LeaseDuration = TimeSpan.FromSeconds(15),
        DeleteWaitTimeout = TimeSpan.FromSeconds(90),
        StatementTimeout = TimeSpan.FromMinutes(10),
    };

    /// <summary>Where S3 is stopped: the progress text (or step name) that begins the step, and the operation.</summary>
    public static TheoryData<string, string> Cuts => new()
    {
        { "archive", "copying rows to" },            // the copy: INSERT INTO FUNCTION s3(…)
        { "archive", "reading the archive back" },   // the read-back: SELECT count(), sum(hash) FROM s3(…)
        { "archive", Steps.ArchiveReadBack },         // the verify: list the objects, write the manifest (the SDK)
        { "restore", "checking archive" },            // the restore's check: manifest, list, read-back
        { "restore", "inserting" },                   // the restore insert: INSERT INTO events SELECT FROM s3(…)
    };

    [Theory]
    [MemberData(nameof(Cuts))]
    public async Task An_outage_at_a_step_fails_within_the_bound_naming_the_endpoint_and_the_step_and_a_rerun_is_exact(string operation, string cut)
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 2_000, seed: 9101);
        var original = await h.ChecksumsAsync(workspace);
        if (operation == "restore")
        {
            await h.Service.ColdStoreWorkspaceEventsAsync(workspace);
        }

        var stop = new StopWhen(cut, S3, delay: TimeSpan.Zero);
        var failure = await FailsWithinBoundAsync(() => Run(h, operation, workspace, stop));
        AssertNamesEndpointAndStep(failure, workspace, operation, cut);

        await S3.RestartAsync();
        await Run(h, operation, workspace, progress: null);
        await FinishRoundTripExactlyAsync(h, workspace, operation, original);
    }

    [Fact]
    public async Task A_restore_insert_cut_off_mid_transfer_fails_within_the_bound_and_a_rerun_is_exact()
    {
        var h = await OpenAsync();
        var workspace = await h.NewWorkspaceAsync();
        await h.IngestAsync(workspace, 60_000, seed: 9102);
        var original = await h.ChecksumsAsync(workspace);
        await h.Service.ColdStoreWorkspaceEventsAsync(workspace);

        // Over HTTP as the slowed user the read takes seconds, so the stop lands inside the transfer; embedded, the
        // read is fast and the stop may land after it, in which case the next step's S3 call meets the outage.
        var slow = await OpenAsync(SlowClient());
        var stop = new StopWhen("inserting", S3, delay: TimeSpan.FromMilliseconds(400));
        var failure = await FailsWithinBoundAsync(() => slow.Service.RestoreWorkspaceEventsAsync(workspace, stop));
        Assert.Contains(S3.Authority, failure.Message, StringComparison.Ordinal);
        Assert.Equal(WorkspaceErrorKind.Failed, failure.Kind);

        await S3.RestartAsync();
        await h.Service.RestoreWorkspaceEventsAsync(workspace);
        await AssertRestoredExactlyAsync(h, workspace, original);
    }

    [Fact]
    public void The_bound_sets_every_s3_statement_s_timeouts_and_retries_and_the_default_is_two_minutes()
    {
        var store = OpenArchive(Bound);
        var access = store.TableFunction("x/*.parquet", "Parquet", "a", "a String").AccessSettings;
        Assert.Equal(["s3_connect_timeout_ms", "s3_max_single_read_retries", "s3_max_unexpected_write_error_retries", "s3_request_timeout_ms", "s3_retry_attempts"],
            access.Keys.Order(StringComparer.Ordinal));
        var attempts = (int.Parse(access["s3_max_single_read_retries"], System.Globalization.CultureInfo.InvariantCulture) + 1)
            * (int.Parse(access["s3_retry_attempts"], System.Globalization.CultureInfo.InvariantCulture) + 1);
        var perAttempt = TimeSpan.FromMilliseconds(long.Parse(access["s3_connect_timeout_ms"], System.Globalization.CultureInfo.InvariantCulture)
            + long.Parse(access["s3_request_timeout_ms"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(perAttempt * attempts < Bound, $"{attempts} attempts of {perAttempt} exceed the bound {Bound}");
        Assert.Equal(TimeSpan.FromMinutes(2), new S3ArchiveOptions { Bucket = "b-1" }.OutageBound);
        static Configuration.SettingSource Source(string outageSeconds) => Configuration.SettingSource.FromEnvironment(
            new Dictionary<string, string?>(StringComparer.Ordinal) { [S3ArchiveOptions.ArchiveSetting] = "s3://bucket-a/p", [S3ArchiveOptions.OutageSetting] = outageSeconds },
            null,
            "/");
        Assert.Equal(TimeSpan.FromSeconds(30), S3ArchiveOptions.FromSettings(Source("30")).OutageBound);
        var refused = Assert.Throws<ConfigurationException>(() => S3ArchiveOptions.FromSettings(Source("1")));
        Assert.Equal(S3ArchiveOptions.OutageSetting, refused.Setting);
    }

    public async Task InitializeAsync()
    {
        _s3 = await RestartableS3rver.StartAsync();
        _state = await state(GetType().Name);
        _prefix = $"outage-{Guid.NewGuid():N}"[..20];
    }

    public async Task DisposeAsync()
    {
        foreach (var harness in _harnesses)
        {
            await harness.DisposeAsync();
        }

        if (_state is not null)
        {
            await _state.DisposeAsync();
        }

        if (_s3 is not null)
        {
            await _s3.DisposeAsync();
        }
    }

    /// <summary>A client that transfers slowly (1 MB/s over HTTP); the ordinary one embedded.</summary>
    protected virtual IClickHouseClient SlowClient() => clickHouse.OpenClient();

    private static Task<OperationResult> Run(Harness h, string operation, Guid workspace, IProgress<OperationProgress>? progress) =>
        operation == "archive"
            ? h.Service.ColdStoreWorkspaceEventsAsync(workspace, progress)
            : h.Service.RestoreWorkspaceEventsAsync(workspace, progress);

    private static async Task<WorkspaceOperationException> FailsWithinBoundAsync(Func<Task> run)
    {
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<WorkspaceOperationException>(run);
        clock.Stop();
        Assert.True(clock.Elapsed < Bound + Margin, $"the operation took {clock.Elapsed} to fail; the bound is {Bound}. {failure.Message}");
        return failure;
    }

    private void AssertNamesEndpointAndStep(WorkspaceOperationException failure, Guid workspace, string operation, string cut)
    {
        Assert.Equal(WorkspaceErrorKind.Failed, failure.Kind);
        Assert.Equal(workspace, failure.WorkspaceId);
        Assert.Contains(S3.Authority, failure.Message, StringComparison.Ordinal);
        Assert.Contains($"The {operation} of workspace {workspace} stopped at step '", failure.Message, StringComparison.Ordinal);
        Assert.StartsWith(cut, failure.Step, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', failure.Message);
        Assert.DoesNotContain(RestartableS3rver.Secret + "x", failure.Message, StringComparison.Ordinal);
    }

    private async Task FinishRoundTripExactlyAsync(Harness h, Guid workspace, string operation, WorkspaceChecksums original)
    {
        if (operation == "archive")
        {
            Assert.Equal(StorageState.Cold, await h.StorageAsync(workspace));
            var archived = Assert.Single(await h.LedgerAsync(workspace), a => a.State == ArchiveState.Archived);
            Assert.Equal(original.EventRows, archived.RowCount);
            await h.Service.RestoreWorkspaceEventsAsync(workspace);
        }

        await AssertRestoredExactlyAsync(h, workspace, original);
    }

    private async Task AssertRestoredExactlyAsync(Harness h, Guid workspace, WorkspaceChecksums original)
    {
        Assert.Equal(original, await h.ChecksumsAsync(workspace));
        Assert.Equal(StorageState.Hot, await h.StorageAsync(workspace));
        Assert.Equal((original.EventRows, original.InternalEventRows), await h.RowsAfterDeletesAsync(workspace));
        Assert.All(await h.LedgerAsync(workspace), a => Assert.Contains(a.State, new[] { ArchiveState.Restored, ArchiveState.Abandoned }));
        Assert.Empty(await h.ObjectsAsync(workspace));
        Assert.Empty(S3.KeysOnDisk($"{_prefix}/{Harness.WorkspacePrefix(workspace)}"));
    }

    private async Task<Harness> OpenAsync(IClickHouseClient? client = null)
    {
        var harness = await Harness.OpenAsync(client ?? clickHouse.OpenClient(), new Engines(this), Tables, Fast);
        lock (_harnesses)
        {
            _harnesses.Add(harness);
        }

        return harness;
    }

    private S3ArchiveStore OpenArchive(TimeSpan bound) => S3ArchiveStore.Create(new S3ArchiveOptions
    {
        Bucket = RestartableS3rver.Bucket,
        Prefix = _prefix,
        ServiceUrl = S3.Endpoint,
        Credentials = new S3Credentials(RestartableS3rver.Key, RestartableS3rver.Secret),
        OutageBound = bound,
    });

    /// <summary>Kills S3 when the operation reports <c>cut</c> (then, or after a delay); the progress report is synchronous.</summary>
    private sealed class StopWhen(string cut, RestartableS3rver s3, TimeSpan delay) : IProgress<OperationProgress>
    {
        private int _stopped;

        public void Report(OperationProgress value)
        {
            if (!value.Step.StartsWith(cut, StringComparison.Ordinal) || Interlocked.Exchange(ref _stopped, 1) != 0)
            {
                return;
            }

            if (delay == TimeSpan.Zero)
            {
                s3.Stop();
            }
            else
            {
                _ = Task.Delay(delay).ContinueWith(_ => s3.Stop(), TaskScheduler.Default);
            }
        }
    }

    /// <summary>The test's state store and its own S3, with the short bound.</summary>
    private sealed class Engines(S3OutageTests test) : IEngines
    {
        public bool NotifiesChanges => false;

        public IReadOnlyDictionary<string, string?> Settings => throw new NotSupportedException();

        public Task InitializeAsync(string label) => Task.CompletedTask;

        public IStateStore OpenState() => (test._state ?? throw new InvalidOperationException("Not initialized.")).Open();

        public IArchiveStore OpenArchive() => test.OpenArchive(Bound);

        public Task SetStatusAsAnApplicationAsync(Guid workspaceId, string status) => throw new NotSupportedException();

        public Task<int> DeleteWorkspaceAsAnApplicationAsync(Guid workspaceId) => throw new NotSupportedException();

        public Task AgeAsync(Guid workspaceId, TimeSpan age) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>Opens state-store adapters on one test's state.</summary>
public interface IStateFactory : IAsyncDisposable
{
    IStateStore Open();
}

/// <summary>SQLite in a temporary file.</summary>
public sealed class SqliteStateFactory : IStateFactory
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coldstore-outage-").FullName;

    public IStateStore Open() => SqliteStateStore.Open(Path.Combine(_directory, "state.db"));

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>A Postgres schema of the test's own.</summary>
public sealed class PostgresStateFactory(PostgresSchema schema) : IStateFactory
{
    public IStateStore Open() => PostgresStateStore.Create(schema.ConnectionString);

    public ValueTask DisposeAsync() => schema.DisposeAsync();
}

/// <summary>Embedded chDB, SQLite, and S3 configured with chDB (the embedded default store is a local directory).</summary>
public sealed class S3OutageOnChdbSqliteAndS3(ChdbDatabaseFixture chdb)
    : S3OutageTests(chdb, _ => Task.FromResult<IStateFactory>(new SqliteStateFactory())), IClassFixture<ChdbDatabaseFixture>;

/// <summary>ClickHouse over HTTP (the slowed user for the mid-transfer cut), Postgres and s3rver.</summary>
public sealed class S3OutageOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres)
    : S3OutageTests(clickHouse, async label => new PostgresStateFactory(await postgres.CreateSchemaAsync(label))), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>
{
    protected override IClickHouseClient SlowClient() => Coldstore.ClickHouse.Http.HttpClickHouseClient.Create(ClickHouseHttpTestServer.SlowUserUrl);
}
