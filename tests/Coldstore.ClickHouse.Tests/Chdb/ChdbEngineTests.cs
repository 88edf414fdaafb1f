using System.Diagnostics;
using System.Globalization;
using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Chdb.Native;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Chdb;

/// <summary>What is particular to embedded chDB: loading, one directory per process, threads, signals, crashes.</summary>
public sealed class ChdbEngineTests(ChdbDatabaseFixture chdb) : IClassFixture<ChdbDatabaseFixture>, IDisposable
{
    private readonly List<string> _childDirectories = [];

    private static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public void A_configured_library_path_that_does_not_exist_names_the_fix()
    {
        var error = Assert.Throws<ConfigurationException>(() => ChdbLibrary.Load("/nowhere/libchdb.so", []));

        Assert.Equal("COLDSTORE_LIBCHDB", error.Setting);
        Assert.Contains("/nowhere/libchdb.so", error.Message, StringComparison.Ordinal);
        Assert.Contains("scripts/fetch-native.sh", error.Message, StringComparison.Ordinal);
        Assert.Contains("COLDSTORE_LIBCHDB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_repository_copy_is_found_by_walking_up_from_the_application()
    {
        var found = ChdbLibrary.FindInRepository([AppContext.BaseDirectory]);

        Assert.NotNull(found);
        Assert.EndsWith(Path.Combine("tools", "node_modules", "@chdb", "lib-linux-x64-gnu", "libchdb.so"), found, StringComparison.Ordinal);
    }

    [Fact]
    public void Nothing_is_found_above_a_directory_outside_the_repository()
    {
        Assert.Null(ChdbLibrary.FindInRepository([Path.GetTempPath()]));
    }

    [Fact]
    public async Task A_process_that_cannot_load_the_library_fails_with_the_fix()
    {
        var outcome = await ChildProcess.RunAsync("open", ChildTimeout,
            new Dictionary<string, string?> { ["COLDSTORE_LIBCHDB"] = "/nowhere/libchdb.so" }, NewDirectory());

        Assert.NotEqual(0, outcome.ExitCode);
        Assert.Contains("scripts/fetch-native.sh", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_second_data_directory_in_the_same_process_is_refused()
    {
        var other = NewDirectory();

        var error = Assert.Throws<InvalidOperationException>(() => ChdbClickHouseClient.Open(other));

        Assert.Contains(other, error.Message, StringComparison.Ordinal);
        Assert.Contains(ChdbTestEngine.DataDirectory, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_directory_written_differently_opens_the_running_engine()
    {
        await using var client = ChdbClickHouseClient.Open(ChdbTestEngine.DataDirectory + "/./");

        Assert.Equal(1L, Convert.ToInt64(await client.ScalarAsync(new ClickHouseQuery("SELECT 1")), CultureInfo.InvariantCulture));
        Assert.Contains(ChdbTestEngine.DataDirectory, client.Description, StringComparison.Ordinal);
        Assert.StartsWith("chDB 26.", client.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Many_threads_on_one_client_get_their_own_answers_and_settings()
    {
        var client = chdb.Client;
        var tasks = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                var threads = (worker % 3) + 1;
                var query = new ClickHouseQuery("SELECT {n:UInt64} * 2 AS doubled, toUInt64(getSetting('max_threads')) AS threads")
                    .With("n", "UInt64", (ulong)((worker * 1000) + i));
                if (worker % 2 == 0)
                {
                    query = query.WithSetting("max_threads", threads.ToString(CultureInfo.InvariantCulture));
                }

                var row = Assert.Single(await client.QueryAsync(query));
                Assert.Equal((ulong)(((worker * 1000) + i) * 2), row.GetUInt64("doubled"));
                if (worker % 2 == 0)
                {
                    Assert.Equal((ulong)threads, row.GetUInt64("threads"));
                }
            }
        }));

        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task Separate_clients_run_in_parallel_threads_correctly()
    {
        var clients = Enumerable.Range(0, 4).Select(_ => chdb.OpenClient()).ToArray();
        try
        {
            var sums = await Task.WhenAll(clients.Select((client, index) => Task.Run(() =>
                client.ScalarAsync(new ClickHouseQuery("SELECT sum(number) FROM numbers({n:UInt64})").With("n", "UInt64", (ulong)(100000 * (index + 1)))))));

            for (var index = 0; index < clients.Length; index++)
            {
                var n = (ulong)(100000 * (index + 1));
                Assert.Equal(n * (n - 1) / 2, Convert.ToUInt64(sums[index], CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Cancelling_while_waiting_for_the_connection_gives_up_without_running()
    {
        await using var client = chdb.OpenClient();
        var slow = client.ScalarAsync(new ClickHouseQuery("SELECT sum(sleepEachRow(0.1)) FROM numbers(25)").WithSetting("max_block_size", "100"));
        await Task.Delay(200);
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var stopwatch = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.ScalarAsync(new ClickHouseQuery("SELECT 1"), cancellation.Token));

        // The point is that the caller did not wait for its turn (the slow query still runs); the bound is
        // loose because two busy cores can delay any continuation.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"Cancellation took {stopwatch.Elapsed}.");
        Assert.False(slow.IsCompleted, "The slow query should still be running: a started native call is not interrupted.");
        Assert.Equal(0d, Convert.ToDouble(await slow, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task An_already_cancelled_token_runs_nothing()
    {
        var table = $"{chdb.Database}.never_{Guid.NewGuid():N}";

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            chdb.Client.ExecuteAsync(new ClickHouseQuery($"CREATE TABLE {table} (n UInt8) ENGINE = Memory"), new CancellationToken(canceled: true)));

        Assert.Equal(0L, Convert.ToInt64(await chdb.Client.ScalarAsync(
            new ClickHouseQuery("SELECT count() FROM system.tables WHERE database = {db:String} AND name LIKE 'never_%'").With("db", "String", chdb.Database)),
            CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_second_connection_sees_a_running_query_in_system_processes()
    {
        await using var worker = chdb.OpenClient();
        await using var observer = chdb.OpenClient();
        var marker = $"progress_marker_{Guid.NewGuid():N}";
        var running = worker.ScalarAsync(new ClickHouseQuery($"SELECT sum(sleepEachRow(0.1)) AS {marker} FROM numbers(20)").WithSetting("max_block_size", "100"));

        var seen = 0L;
        for (var attempt = 0; attempt < 40 && seen == 0 && !running.IsCompleted; attempt++)
        {
            await Task.Delay(50);
            seen = Convert.ToInt64(await observer.ScalarAsync(new ClickHouseQuery(
                "SELECT count() FROM system.processes WHERE query LIKE {pattern:String} AND query NOT LIKE '%system.processes%'")
                .With("pattern", "String", $"%{marker}%")), CultureInfo.InvariantCulture);
        }

        await running;
        Assert.Equal(1L, seen);
    }

    [Fact]
    public async Task A_null_reference_is_still_an_exception_after_chdb_ran()
    {
        await chdb.Client.ScalarAsync(new ClickHouseQuery("SELECT 1"));
        await using var another = chdb.OpenClient();
        await another.ScalarAsync(new ClickHouseQuery("SELECT count() FROM numbers(1000)"));

        Assert.True(SignalProbe.CatchNullReference());
        Assert.True(SignalProbe.CatchDivideByZero());
    }

    [Fact]
    public async Task A_null_reference_in_a_fresh_process_with_chdb_is_still_an_exception()
    {
        var outcome = await ChildProcess.RunAsync("null-reference", ChildTimeout, null, NewDirectory());

        Assert.True(outcome.ExitCode == 0, outcome.Error);
        Assert.Equal(["caught", "caught"], outcome.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task A_process_that_exits_without_disposing_exits_cleanly()
    {
        var directory = NewDirectory();

        var outcome = await ChildProcess.RunAsync("exit-without-dispose", ChildTimeout, null, directory);

        Assert.True(outcome.ExitCode == 0, $"exit {outcome.ExitCode}: {outcome.Error}");
        Assert.Contains("done", outcome.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_killed_process_leaves_a_directory_the_next_process_opens()
    {
        var directory = NewDirectory();
        using (var writer = ChildProcess.Start("write-and-wait", null, directory))
        {
            var line = await writer.StandardOutput.ReadLineAsync().WaitAsync(ChildTimeout);
            if (line != "written")
            {
                writer.Kill(entireProcessTree: true);
                Assert.Fail($"The writer did not report its rows: {line} {await writer.StandardError.ReadToEndAsync()}");
            }

            await Task.Delay(300);
            writer.Kill(entireProcessTree: true);
            await writer.WaitForExitAsync();
        }

        var outcome = await ChildProcess.RunAsync("count", ChildTimeout, null, directory);

        Assert.True(outcome.ExitCode == 0, outcome.Error);
        Assert.Equal("1000", outcome.Output.Trim());
    }

    /// <summary>Removes the data directories of this test's child processes, which have all exited by now.</summary>
    public void Dispose()
    {
        foreach (var directory in _childDirectories.Where(Directory.Exists))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private string NewDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "coldstore-chdb-child-" + Guid.NewGuid().ToString("N")[..12]);
        _childDirectories.Add(directory);
        return directory;
    }
}
