using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Coldstore.Cli;

namespace Coldstore.Tests;

/// <summary>
/// <c>coldstore worker --listen</c>: <c>/readyz</c> is 503 before <c>init</c> and with the state store unreachable, 200
/// after; <c>/healthz</c> answers; <c>/metrics</c> is Prometheus text whose counters move while the worker archives a
/// workspace the application paused. The worker runs in this process (the CLI's own entry point, stopped by its token),
/// so the embedded engine is shared with the commands the test runs beside it.
/// </summary>
public abstract partial class WorkerEndpointCliTests(CliTarget target)
{
    [Fact]
    public async Task Readyz_is_503_before_init_and_200_after_and_the_metrics_move_while_the_worker_archives()
    {
        var state = await target.NewStateAsync();
        var database = target.NewDatabase();
        var port = FreePort();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var worker = CliApp.RunAsync([.. target.Args(["worker", "--listen", $"127.0.0.1:{port}", "--poll-seconds", "0.2"], database, state)],
            TextWriter.Synchronized(stdout), TextWriter.Synchronized(stderr), stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            var before = await FirstAnswerAsync(http, "/readyz", worker);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.Status);
            Assert.Contains("not initialized", before.Body, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/healthz")).Status);

            var init = await Cli.RunAsync(target.Args(["init"], database, state));
            Assert.True(init.ExitCode == 0, init.ToString());
            var ready = await GetAsync(http, "/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.Status);
            Assert.Contains("\"ready\":true", ready.Body, StringComparison.Ordinal);

            var created = await Cli.RunAsync(target.Args(["workspace", "create", "--name", $"endpoint-{Guid.NewGuid():N}"], database, state));
            var id = created.Stdout.Trim();
            Assert.True((await Cli.RunAsync(target.Args(["ingest", "--workspace", id, "--generate", "40", "--seed", "8"], database, state))).ExitCode == 0);
            var succeededBefore = Sum(await ScrapeAsync(http), "coldstore_operations_total", "coldstore_outcome=\"succeeded\"");
            var rowsBefore = Sum(await ScrapeAsync(http), "coldstore_rows_total");

            // The application pauses it (status only); the worker notices and archives it.
            Assert.True((await Cli.RunAsync(target.Args(["pause", id, "--no-wait"], database, state))).ExitCode == 0);
            await UntilAsync(async () => Json.Parse(await Cli.RunAsync(target.Args(["status", id, "--json"], database, state)))[0].GetProperty("storage").GetString() == "cold", worker);
            var metrics = await UntilScrapedAsync(http, text => Sum(text, "coldstore_workspaces", "coldstore_storage=\"cold\"") >= 1, worker);

            Assert.True(Sum(metrics, "coldstore_operations_total", "coldstore_outcome=\"succeeded\"") > succeededBefore, metrics);
            Assert.True(Sum(metrics, "coldstore_rows_total") >= rowsBefore + 40, metrics);
            Assert.Contains("coldstore_step_duration_seconds_bucket{", metrics, StringComparison.Ordinal);
            Assert.Contains("coldstore_step=\"archive:verified\"", metrics, StringComparison.Ordinal);
            Assert.Contains("# TYPE coldstore_mutations_unfinished gauge", metrics, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
        }

        Assert.Equal(0, await worker);
    }

    [Fact]
    public async Task Readyz_is_503_naming_the_state_store_when_it_cannot_be_reached()
    {
        var port = FreePort();
        var unreachable = target is PostgresAndS3Target
            ? "Host=127.0.0.1;Port=1;Username=nobody;Password=x;Database=none;Timeout=2"
            : $"sqlite:{Path.Combine(target.TempDirectory, "no-such-directory", Guid.NewGuid().ToString("N"), "state.db")}";
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var worker = CliApp.RunAsync([.. target.Args(["worker", "--listen", $"127.0.0.1:{port}"], state: unreachable)],
            TextWriter.Synchronized(stdout), TextWriter.Synchronized(stderr), stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            var answer = await FirstAnswerAsync(http, "/readyz", worker);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.Status);
            Assert.Matches("\"name\":\"state\",\"ok\":false", answer.Body);
            Assert.Matches("\"name\":\"clickhouse\",\"ok\":true", answer.Body);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/healthz")).Status);
        }
        finally
        {
            await stop.CancelAsync();
        }

        await worker;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The first answer once the listener is up (the worker opens its engines first), failing if the worker ends.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> FirstAnswerAsync(HttpClient http, string path, Task<int> worker)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(100))
        {
            Assert.False(worker.IsCompleted, $"the worker exited with {(worker.IsCompleted ? worker.Result : 0)} before listening");
            try
            {
                return await GetAsync(http, path);
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                // Not listening yet.
            }
        }
    }

    private static async Task<string> ScrapeAsync(HttpClient http)
    {
        var (status, body) = await GetAsync(http, "/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        return body;
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, Task<int> worker)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(90); !await condition(); await Task.Delay(200))
        {
            Assert.False(worker.IsCompleted, "the worker exited");
            Assert.True(DateTime.UtcNow < deadline, "the worker did not archive the paused workspace within 90 s");
        }
    }

    private static async Task<string> UntilScrapedAsync(HttpClient http, Func<string, bool> condition, Task<int> worker)
    {
        var text = string.Empty;
        await UntilAsync(async () => condition(text = await ScrapeAsync(http)), worker);
        return text;
    }

    /// <summary>The sum of a metric's samples whose labels contain <paramref name="label"/> (all samples when null).</summary>
    private static double Sum(string exposition, string metric, string? label = null) =>
        Sample().Matches(exposition)
            .Where(m => m.Groups["name"].Value == metric && (label is null || m.Groups["labels"].Value.Contains(label, StringComparison.Ordinal)))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eE]+|NaN)(?: \d+)?$", RegexOptions.Multiline)]
    private static partial Regex Sample();
}

public sealed class WorkerEndpointCliOnSqliteAndLocalDirectory(SqliteAndLocalDirectoryTarget target)
    : WorkerEndpointCliTests(target), IClassFixture<SqliteAndLocalDirectoryTarget>;

public sealed class WorkerEndpointCliOnPostgresAndS3(PostgresAndS3Target target)
    : WorkerEndpointCliTests(target), IClassFixture<PostgresAndS3Target>;
