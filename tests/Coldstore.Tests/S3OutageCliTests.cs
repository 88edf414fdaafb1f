using System.Diagnostics;
using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>
/// The CLI with the archive in an S3 that goes away (embedded chDB and SQLite, S3 configured with chDB: the embedded
/// default store is a local directory, so this is the S3 path on the embedded engine): `archive` and `restore` end
/// within the configured bound with one error line that names the endpoint and the step, exit code 1; once S3 is
/// back the same command finishes and the round trip is exact.
/// </summary>
public sealed class S3OutageCliTests : IAsyncLifetime
{
    private const int BoundSeconds = 16;
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    private readonly string _directory = Directory.CreateTempSubdirectory("coldstore-cli-outage-").FullName;
    private readonly string _database = ChdbTestEngine.UniqueDatabaseName("coldstore_outage");
    private readonly string _prefix = $"cli-{Guid.NewGuid():N}"[..16];
    private RestartableS3rver? _s3;

    private RestartableS3rver S3 => _s3 ?? throw new InvalidOperationException("Not initialized.");

    [Fact]
    public async Task Archive_and_restore_fail_within_the_bound_with_one_line_and_exit_1_and_a_rerun_is_exact()
    {
        Assert.Equal(0, (await RunAsync("init")).ExitCode);
        var created = await RunAsync("workspace", "create", "--name", "outage-" + Guid.NewGuid().ToString("N")[..8]);
        Assert.Equal(0, created.ExitCode);
        var workspace = created.Stdout.Trim().Split('\n')[^1].Trim();
        Assert.Equal(0, (await RunAsync("ingest", "-w", workspace, "-n", "5000", "--seed", "77")).ExitCode);
        var original = await RunAsync("checksum", workspace);

        S3.Stop();
        AssertOutage(await TimedAsync("archive", workspace), "archive");
        await S3.RestartAsync();
        Assert.Equal(0, (await RunAsync("archive", workspace)).ExitCode);

        S3.Stop();
        AssertOutage(await TimedAsync("restore", workspace), "restore");
        await S3.RestartAsync();
        var restored = await RunAsync("restore", workspace);
        Assert.True(restored.ExitCode == 0, restored.ToString());

        Assert.Equal(original.Stdout, (await RunAsync("checksum", workspace)).Stdout);
        Assert.Empty(S3.KeysOnDisk($"{_prefix}/workspace_id={workspace}/"));
    }

    public async Task InitializeAsync()
    {
        _s3 = await RestartableS3rver.StartAsync();
        // The CLI reads the standard AWS chain; s3rver's key, as the other CLI tests set it.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", RestartableS3rver.Key);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", RestartableS3rver.Secret);
    }

    public async Task DisposeAsync()
    {
        if (_s3 is not null)
        {
            await _s3.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void AssertOutage((CliResult Result, TimeSpan Elapsed) run, string operation)
    {
        var (result, elapsed) = run;
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.True(elapsed < TimeSpan.FromSeconds(BoundSeconds) + Margin, $"took {elapsed}; {result}");
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith($"coldstore: error: The {operation} of workspace ", line, StringComparison.Ordinal);
        Assert.Contains(S3.Authority, line, StringComparison.Ordinal);
        Assert.Contains("stopped ", line, StringComparison.Ordinal);
        Assert.Contains("Rerun the " + operation, line, StringComparison.Ordinal);
    }

    private async Task<(CliResult Result, TimeSpan Elapsed)> TimedAsync(params string[] command)
    {
        var clock = Stopwatch.StartNew();
        var result = await RunAsync(command);
        return (result, clock.Elapsed);
    }

    private Task<CliResult> RunAsync(params string[] command) => Cli.RunAsync(command.Concat(
    [
        "--clickhouse", CliTarget.ClickHouseSetting,
        "--database", _database,
        "--state", $"sqlite:{Path.Combine(_directory, "state.db")}",
        "--archive", $"s3://{RestartableS3rver.Bucket}/{_prefix}",
        "--s3-endpoint", S3.Endpoint.ToString(),
        "--s3-outage-seconds", BoundSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--settle-seconds", "0.2",
    ]));
}
