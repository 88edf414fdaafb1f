using System.Collections.Concurrent;
using System.Text.Json;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>
/// One configuration of engines the CLI runs against, shared by a test class: always the process's chDB engine
/// (chDB allows one data directory per process) with a ClickHouse database of the class's own, plus a state store
/// and an archive chosen by the subclass. The class database is initialized with <c>coldstore init</c> up front;
/// tests that need an untouched database or state store ask for a new one.
/// </summary>
public abstract class CliTarget : IAsyncLifetime
{
    private readonly ConcurrentBag<string> _databases = [];
    private IClickHouseClient? _clickHouse;

    /// <summary>A temporary directory of the class's own (events files, SQLite files, local archives).</summary>
    public string TempDirectory { get; } = Path.Combine(Path.GetTempPath(), $"coldstore-cli-tests-{Guid.NewGuid():N}");

    /// <summary>The class's ClickHouse database, initialized.</summary>
    public string Database { get; } = ChdbTestEngine.UniqueDatabaseName("coldstore_cli");

    /// <summary>The <c>--clickhouse</c> value: the shared embedded engine.</summary>
    public static string ClickHouseSetting => $"embedded:{ChdbTestEngine.DataDirectory}";

    /// <summary>The <c>--state</c> value of the class's (initialized) state store.</summary>
    public abstract string State { get; }

    /// <summary>The <c>--archive</c> value.</summary>
    public abstract string Archive { get; }

    /// <summary>Further settings this configuration needs, as flags.</summary>
    protected virtual IEnumerable<string> ExtraSettings => [];

    /// <summary>A client on the shared engine for the tests' own queries.</summary>
    public IClickHouseClient ClickHouse => _clickHouse ?? throw new InvalidOperationException("The target is not initialized yet.");

    /// <summary>A <c>--state</c> value naming a new, empty (never initialized) state store.</summary>
    public abstract Task<string> NewStateAsync();

    /// <summary>A database name no one uses yet; it is dropped (if it was created) when the class is done.</summary>
    public string NewDatabase()
    {
        var name = ChdbTestEngine.UniqueDatabaseName("coldstore_cli");
        _databases.Add(name);
        return name;
    }

    /// <summary>
    /// The command line for <paramref name="command"/> with this configuration's settings; pass
    /// <paramref name="database"/>, <paramref name="state"/> or <paramref name="archive"/> to replace one of them, or
    /// <paramref name="clickHouse"/> to replace the engine.
    /// </summary>
    public IReadOnlyList<string> Args(IEnumerable<string> command, string? database = null, string? state = null, string? archive = null, string? clickHouse = null)
    {
        var args = new List<string>(command)
        {
            "--clickhouse", clickHouse ?? ClickHouseSetting,
            "--database", database ?? Database,
            "--state", state ?? State,
            "--archive", archive ?? Archive,
        };
        args.AddRange(ExtraSettings);
        return args;
    }

    /// <summary>Runs the CLI with this configuration's settings.</summary>
    public Task<CliResult> RunAsync(params string[] command) => Cli.RunAsync(Args(command));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(TempDirectory);
        await StartAsync();
        _clickHouse = ChdbTestEngine.OpenClient();
        _databases.Add(Database);
        var init = await RunAsync("init");
        if (init.ExitCode != 0)
        {
            throw new InvalidOperationException($"`coldstore init` failed while setting up the test class: {init}");
        }
    }

    public async Task DisposeAsync()
    {
        if (_clickHouse is not null)
        {
            foreach (var database in _databases)
            {
                await _clickHouse.ExecuteAsync(new ClickHouseQuery($"DROP DATABASE IF EXISTS `{database}` SYNC").For("drop test database"));
            }

            await _clickHouse.DisposeAsync();
        }

        await StopAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(TempDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless; a failing dispose would hide the real result.
        }
    }

    /// <summary>Starts what the configuration needs before the first command.</summary>
    protected virtual Task StartAsync() => Task.CompletedTask;

    /// <summary>Stops what <see cref="StartAsync"/> started.</summary>
    protected virtual Task StopAsync() => Task.CompletedTask;
}

/// <summary>chDB + SQLite + a local archive directory: the embedded defaults.</summary>
public sealed class SqliteAndLocalDirectoryTarget : CliTarget
{
    public override string State => $"sqlite:{Path.Combine(TempDirectory, "state.db")}";

    public override string Archive => $"file:{Path.Combine(TempDirectory, "archive")}";

    public override Task<string> NewStateAsync() =>
        Task.FromResult($"sqlite:{Path.Combine(TempDirectory, $"fresh-{Guid.NewGuid():N}.db")}");
}

/// <summary>chDB + Postgres (a schema of the class's own) + S3 (s3rver, a prefix of the class's own).</summary>
public sealed class PostgresAndS3Target : CliTarget
{
    private readonly PostgresFixture _postgres = new();
    private readonly S3rverFixture _s3 = new();
    private readonly string _prefix = S3rverFixture.UniquePrefix("cli");

    public override string State => _postgres.ConnectionString;

    public override string Archive => $"s3://{_s3.Bucket}/{_prefix}";

    /// <summary>The bucket and prefix, as the archive's description names them.</summary>
    public string BucketAndPrefix => $"s3://{_s3.Bucket}/{_prefix}";

    protected override IEnumerable<string> ExtraSettings => ["--s3-endpoint", _s3.Endpoint.ToString()];

    public override async Task<string> NewStateAsync() => (await _postgres.CreateSchemaAsync("fresh")).ConnectionString;

    protected override async Task StartAsync()
    {
        // The settings read the standard AWS chain from the process environment: s3rver's key, or the external S3's.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", _s3.AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", _s3.SecretKey);
        await _postgres.InitializeAsync();
        await _s3.InitializeAsync();
    }

    protected override async Task StopAsync()
    {
        await _s3.DisposeAsync();
        await _postgres.DisposeAsync();
    }
}

/// <summary>Small helpers for reading the CLI's JSON.</summary>
public static class Json
{
    /// <summary>Parses stdout as exactly one JSON document (trailing text of any kind fails).</summary>
    public static JsonElement Parse(CliResult result)
    {
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }
}
