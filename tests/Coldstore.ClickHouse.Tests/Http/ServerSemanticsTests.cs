using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// What the server set relies on a ClickHouse server doing, asserted on the raw HTTP interface (the one over the
/// embedded engine, or the real server named by COLDSTORE_TEST_CLICKHOUSE_URL): statements that outlive their client,
/// query ids in system.processes, KILL QUERY, refusals with ClickHouse's codes, compression and summaries.
/// </summary>
public sealed class ServerSemanticsTests : IAsyncLifetime
{
    private readonly HttpClient _http = Client(TimeSpan.FromSeconds(60));
    private readonly string _database = ChdbTestEngine.UniqueDatabaseName("semantics");

    /// <summary>A client of the server, authenticating as the URL's user (a real server's URL carries one).</summary>
    private static HttpClient Client(TimeSpan timeout)
    {
        var url = new Uri(ClickHouseHttpTestServer.Url + "/");
        var http = new HttpClient { BaseAddress = new UriBuilder(url) { UserName = string.Empty, Password = string.Empty }.Uri, Timeout = timeout };
        if (url.UserInfo.Length > 0)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(url.UserInfo))));
        }

        return http;
    }

    public async Task InitializeAsync() => await PostAsync($"CREATE DATABASE {_database}");

    public async Task DisposeAsync()
    {
        await PostAsync($"DROP DATABASE IF EXISTS {_database} SYNC");
        _http.Dispose();
    }

    [Fact]
    public async Task A_statement_whose_client_gave_up_runs_to_its_end_and_shows_its_query_id_meanwhile()
    {
        await PostAsync($"CREATE TABLE {_database}.t (n UInt64) ENGINE = MergeTree ORDER BY n");
        var queryId = "semantics-" + Guid.NewGuid().ToString("N");

        // About 2 s of work; the client gives up after 0.3 s.
        using (var impatient = Client(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<TaskCanceledException>(() => impatient.PostAsync(
                $"?query_id={queryId}&max_block_size=10",
                new StringContent($"INSERT INTO {_database}.t SELECT number + sleepEachRow(0.01) * 0 FROM numbers(200)")));
        }

        var listed = await PostAsync($"SELECT count() FROM system.processes WHERE query_id = '{queryId}'");
        Assert.Equal("1", listed.Trim());

        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30) && (await PostAsync($"SELECT count() FROM system.processes WHERE query_id = '{queryId}'")).Trim() != "0")
        {
            await Task.Delay(50);
        }

        Assert.Equal("200", (await PostAsync($"SELECT count() FROM {_database}.t")).Trim());
    }

    [Fact]
    public async Task KILL_QUERY_SYNC_by_query_id_ends_a_running_statement_and_answers_its_row()
    {
        var queryId = "semantics-" + Guid.NewGuid().ToString("N");
        var running = _http.PostAsync($"?query_id={queryId}&max_block_size=10", new StringContent("SELECT sum(sleepEachRow(0.01)) FROM numbers(3000)"));
        await WaitUntilRunningAsync(queryId);

        var killed = await PostAsync($"KILL QUERY WHERE query_id = '{queryId}' SYNC FORMAT TabSeparated");

        Assert.Contains(queryId, killed, StringComparison.Ordinal);
        using var answer = await running;
        Assert.False(answer.IsSuccessStatusCode);
        Assert.Equal("394", Assert.Single(answer.Headers.GetValues("X-ClickHouse-Exception-Code")));
        Assert.Equal("0", (await PostAsync($"SELECT count() FROM system.processes WHERE query_id = '{queryId}'")).Trim());
    }

    [Fact]
    public async Task A_query_id_that_is_still_running_is_refused_with_code_216()
    {
        var queryId = "semantics-" + Guid.NewGuid().ToString("N");
        var first = _http.PostAsync($"?query_id={queryId}&max_block_size=10", new StringContent("SELECT sum(sleepEachRow(0.01)) FROM numbers(150)"));
        await WaitUntilRunningAsync(queryId);

        using var second = await _http.PostAsync($"?query_id={queryId}", new StringContent("SELECT 1"));

        Assert.False(second.IsSuccessStatusCode);
        Assert.Equal("216", Assert.Single(second.Headers.GetValues("X-ClickHouse-Exception-Code")));
        using var firstAnswer = await first;
        Assert.True(firstAnswer.IsSuccessStatusCode, await firstAnswer.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_unknown_setting_in_the_url_is_refused_with_code_115_and_its_text()
    {
        using var answer = await _http.PostAsync("?no_such_setting_at_all=1", new StringContent("SELECT 1"));

        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal("115", Assert.Single(answer.Headers.GetValues("X-ClickHouse-Exception-Code")));
        Assert.Contains("no_such_setting_at_all", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Parameters_bind_from_the_url_and_from_a_multipart_form_with_the_default_format_asked_for()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("SELECT {a:UInt8} + {b:UInt8} AS s, {t:String} AS t"), "query" },
            { new StringContent("2"), "param_b" },
            { new StringContent("it\\'s"), "param_t" },
        };

        using var answer = await _http.PostAsync("?param_a=40&default_format=TabSeparatedWithNames", form);
        var body = await answer.Content.ReadAsStringAsync();

        Assert.True(answer.IsSuccessStatusCode, body);
        Assert.Equal("s\tt\n42\tit\\'s\n", body);
        Assert.Equal("TabSeparatedWithNames", Assert.Single(answer.Headers.GetValues("X-ClickHouse-Format")));
    }

    [Fact]
    public async Task With_http_compression_enabled_the_answer_is_gzip_when_the_client_accepts_it()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "?enable_http_compression=1") { Content = new StringContent("SELECT repeat('x', 1000)") };
        request.Headers.AcceptEncoding.ParseAdd("gzip");

        using var answer = await _http.SendAsync(request);
        Assert.True(answer.IsSuccessStatusCode);
        Assert.Equal("gzip", Assert.Single(answer.Content.Headers.ContentEncoding));
        await using var gzip = new GZipStream(await answer.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);

        Assert.Equal(new string('x', 1000), (await reader.ReadToEndAsync()).TrimEnd('\n'));
    }

    [Fact]
    public async Task A_get_may_only_read()
    {
        using var write = await _http.GetAsync("?query=" + Uri.EscapeDataString($"CREATE TABLE {_database}.g (n UInt8) ENGINE = Memory"));
        using var read = await _http.GetAsync("?query=" + Uri.EscapeDataString("SELECT 7"));

        Assert.False(write.IsSuccessStatusCode);
        Assert.Equal("164", Assert.Single(write.Headers.GetValues("X-ClickHouse-Exception-Code")));
        Assert.Equal("7", (await read.Content.ReadAsStringAsync()).Trim());
    }

    [Fact]
    public async Task An_insert_with_its_rows_in_the_body_reports_them_in_the_summary()
    {
        await PostAsync($"CREATE TABLE {_database}.rows (n UInt64) ENGINE = MergeTree ORDER BY n");
        var query = Uri.EscapeDataString($"INSERT INTO {_database}.rows FORMAT TabSeparated");

        using var answer = await _http.PostAsync($"?query={query}", new StringContent("1\n2\n3\n"));

        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        var summary = Assert.Single(answer.Headers.GetValues("X-ClickHouse-Summary"));
        Assert.Contains("\"written_rows\":\"3\"", summary, StringComparison.Ordinal);
        Assert.Equal("3", (await PostAsync($"SELECT count() FROM {_database}.rows")).Trim());
    }

    private async Task WaitUntilRunningAsync(string queryId)
    {
        var clock = Stopwatch.StartNew();
        while ((await PostAsync($"SELECT count() FROM system.processes WHERE query_id = '{queryId}'")).Trim() != "1")
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"Statement {queryId} never showed in system.processes.");
            await Task.Delay(20);
        }
    }

    private async Task<string> PostAsync(string sql)
    {
        using var answer = await _http.PostAsync(string.Empty, new StringContent(sql));
        var body = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.IsSuccessStatusCode, $"{sql}\n{(int)answer.StatusCode}: {body}");
        return body;
    }
}
