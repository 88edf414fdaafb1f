using System.Text;
using Coldstore.ClickHouse.Http;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// The real adapter and driver against a loopback stand-in that answers like ClickHouse's HTTP interface:
/// what goes on the wire, and how answers and failures come back.
/// </summary>
public sealed class HttpAdapterOverLoopbackTests
{
    private const string UnknownTable = "Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE) (version 26.7.1.1)";

    [Fact]
    public async Task A_statement_sends_sql_database_settings_and_typed_parameters_in_the_form_body()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Empty());
        await using var client = HttpClickHouseClient.Create(server.Url());
        var at = new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        var query = new ClickHouseQuery("DELETE FROM events WHERE workspace_id = {ws:String} AND processing_time < {cutoff:DateTime64(3, 'UTC')} AND n < {n:UInt64} AND id IN {ids:Array(UUID)} AND {flag:Bool}")
            .With("ws", "String", "ws'1\t")
            .With("cutoff", "DateTime64(3, 'UTC')", at)
            .With("n", "UInt64", ulong.MaxValue)
            .With("ids", "Array(UUID)", new[] { Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e") })
            .With("flag", "Bool", true)
            .WithSetting("mutations_sync", "0")
            .WithSetting("lightweight_deletes_sync", "0")
            .For("delete archived rows");

        await client.ExecuteAsync(query);

        var request = server.Single;
        Assert.Equal("POST", request.Method);
        Assert.Equal(query.Sql, request.Sql);
        Assert.Equal("analytics", request.Query["database"]);
        Assert.Equal("0", request.Query["mutations_sync"]);
        Assert.Equal("0", request.Query["lightweight_deletes_sync"]);
        Assert.Equal("ws\\'1\\t", request.Form["param_ws"]);
        Assert.Equal("2024-01-02 03:04:05.6780000", request.Form["param_cutoff"]);
        Assert.Equal("18446744073709551615", request.Form["param_n"]);
        Assert.Equal("['0f8fad5b-d9cb-469f-a165-70867728950e']", request.Form["param_ids"]);
        Assert.Equal("true", request.Form["param_flag"]);
        Assert.DoesNotContain(request.Query.Keys, k => k.StartsWith("param_", StringComparison.Ordinal));
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("tester:s3cret")), request.Authorization);
    }

    [Fact]
    public async Task A_secret_parameter_travels_only_in_the_body_never_in_the_url()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Empty());
        await using var client = HttpClickHouseClient.Create(server.Url());

        await client.ExecuteAsync(new ClickHouseQuery("SELECT count() FROM s3({url:String}, {key:String}, {secret:String})")
            .With("url", "String", "http://s3/bucket/x.parquet")
            .WithSecret("key", "String", "AKIAEXAMPLE")
            .WithSecret("secret", "String", "wJalrXUtnFEMI"));

        var request = server.Single;
        Assert.Equal("wJalrXUtnFEMI", request.Form["param_secret"]);
        Assert.DoesNotContain("wJalrXUtnFEMI", request.Query.Values);
        Assert.DoesNotContain("AKIAEXAMPLE", string.Join('&', request.Query.Values), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_error_becomes_a_ClickHouseException_with_code_name_message_and_purpose()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Error(404, 60, UnknownTable));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            client.QueryAsync(new ClickHouseQuery("SELECT * FROM x").For("read x")));

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.CodeName);
        Assert.Equal("Table default.x does not exist.", error.EngineMessage);
        Assert.Equal("read x", error.Purpose);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task A_transient_server_code_is_marked_transient()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Error(500, 202,
            "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES) (version 26.7.1.1)"));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ScalarAsync(new ClickHouseQuery("SELECT 1")));

        Assert.Equal(202, error.Code);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task A_proxy_502_without_a_code_is_transient()
    {
        await using var server = FakeClickHouseServer.Start(_ => new FakeReply(502, Encoding.UTF8.GetBytes("<html>Bad Gateway</html>")));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ExecuteAsync(new ClickHouseQuery("SELECT 1")));

        Assert.Equal(0, error.Code);
        Assert.True(error.IsTransient);
        Assert.Contains("HTTP 502", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_message_quoting_a_secret_is_redacted()
    {
        await using var server = FakeClickHouseServer.Start(r => FakeReply.Error(400, 6,
            $"Code: 6. DB::Exception: Cannot parse string '{r.Form["param_k"]}' as UInt64. (CANNOT_PARSE_TEXT) (version 26.7.1.1)"));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ScalarAsync(
            new ClickHouseQuery("SELECT toUInt64({k:String})").WithSecret("k", "String", "top'secret")));

        Assert.Equal(6, error.Code);
        Assert.DoesNotContain("secret", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Answers KILL QUERY at once and everything else after five seconds: a statement still running.</summary>
    private static FakeReply SlowExceptKill(RecordedRequest request) =>
        request.Sql.StartsWith("KILL QUERY", StringComparison.Ordinal) ? FakeReply.Empty() : FakeReply.Empty() with { Delay = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task No_answer_within_the_timeout_is_a_transient_ClickHouseException_and_the_statement_is_killed_by_its_query_id()
    {
        await using var server = FakeClickHouseServer.Start(SlowExceptKill);
        await using var client = HttpClickHouseClient.Create(server.Url(options: "?compression=false&timeout=1"));

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ExecuteAsync(new ClickHouseQuery("SELECT sleep(3)").For("slow")));

        Assert.True(error.IsTransient);
        Assert.Equal(0, error.Code);
        Assert.Contains("no answer within 1 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("killed on the server", error.Message, StringComparison.Ordinal);
        var requests = server.Requests.ToArray();
        var statement = Assert.Single(requests, r => r.Sql == "SELECT sleep(3)");
        var kill = Assert.Single(requests, r => r.Sql.StartsWith("KILL QUERY", StringComparison.Ordinal));
        Assert.StartsWith("coldstore-", statement.Query["query_id"], StringComparison.Ordinal);
        Assert.Equal(statement.Query["query_id"], kill.Form["param_query_id"]);
    }

    [Fact]
    public async Task Our_cancellation_stays_a_cancellation_and_kills_the_statement_on_the_server()
    {
        await using var server = FakeClickHouseServer.Start(SlowExceptKill);
        await using var client = HttpClickHouseClient.Create(server.Url());
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ExecuteAsync(new ClickHouseQuery("SELECT 1").WithQueryId("coldstore:ws:run:1:step"), cancel.Token));

        var kill = Assert.Single(server.Requests, r => r.Sql.StartsWith("KILL QUERY", StringComparison.Ordinal));
        Assert.Equal("coldstore:ws:run:1:step", kill.Form["param_query_id"]);
    }

    [Fact]
    public async Task The_query_id_of_a_statement_travels_to_the_server()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Empty());
        await using var client = HttpClickHouseClient.Create(server.Url());

        await client.ExecuteAsync(new ClickHouseQuery("SELECT 1").WithQueryId("coldstore:abc:run:7:copy"));

        Assert.Equal("coldstore:abc:run:7:copy", server.Single.Query["query_id"]);
    }

    [Theory]
    [InlineData(null, 600, 600)]
    [InlineData("7200", 600, 7260)]
    [InlineData("30", 600, 600)]
    [InlineData("0", 600, 600)]
    public void A_request_may_take_longer_than_its_statements_max_execution_time(string? maxExecutionTime, int configuredSeconds, int expectedSeconds)
    {
        var query = new ClickHouseQuery("SELECT 1");
        query = maxExecutionTime is null ? query : query.WithSetting("max_execution_time", maxExecutionTime);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), DriverClickHouseClient.RequestTimeout(query, TimeSpan.FromSeconds(configuredSeconds)));
    }

    [Fact]
    public async Task An_unreachable_server_is_EngineUnavailable_naming_the_setting_without_the_password()
    {
        int port;
        await using (var server = FakeClickHouseServer.Start(_ => FakeReply.Empty()))
        {
            port = server.Port;
        }

        await using var client = HttpClickHouseClient.Create($"http://u:pa55word@127.0.0.1:{port}/db?timeout=5");

        var error = await Assert.ThrowsAsync<EngineUnavailableException>(() => client.ExecuteAsync(new ClickHouseQuery("SELECT 1")));

        Assert.Equal("COLDSTORE_CLICKHOUSE", error.Setting);
        Assert.True(error.IsTransient);
        Assert.DoesNotContain("pa55word", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insert_streams_the_body_with_the_statement_format_settings_and_parameters_in_the_url()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Empty());
        await using var client = HttpClickHouseClient.Create(server.Url());
        var rows = "{\"workspace_id\":\"ws1\",\"message_id\":\"m1\"}\n{\"workspace_id\":\"ws1\",\"message_id\":\"m2\"}\n";
        using var data = new MemoryStream(Encoding.UTF8.GetBytes(rows));

        await client.InsertAsync(
            new ClickHouseQuery("INSERT INTO user_events_v2 (workspace_id, message_id)")
                .WithSetting("async_insert", "0")
                .With("tag", "String", "a b")
                .For("ingest"),
            "JSONEachRow", data);

        var request = server.Single;
        Assert.Equal("INSERT INTO user_events_v2 (workspace_id, message_id) FORMAT JSONEachRow", request.Query["query"]);
        Assert.Equal("0", request.Query["async_insert"]);
        Assert.Equal("a b", request.Query["param_tag"]);
        Assert.Equal("analytics", request.Query["database"]);
        Assert.Equal(rows, request.BodyText);
    }

    [Fact]
    public async Task Insert_refuses_a_format_that_is_not_a_name()
    {
        await using var client = HttpClickHouseClient.Create("http://127.0.0.1:1/db");
        using var data = new MemoryStream();

        await Assert.ThrowsAsync<ArgumentException>(() =>
            client.InsertAsync(new ClickHouseQuery("INSERT INTO t"), "JSONEachRow SETTINGS x=1", data));
    }

    [Fact]
    public async Task An_insert_failure_maps_like_any_other()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Error(500, 252,
            "Code: 252. DB::Exception: Too many parts (3001). Merges are processing significantly slower than inserts. (TOO_MANY_PARTS) (version 26.7.1.1)"));
        await using var client = HttpClickHouseClient.Create(server.Url());
        using var data = new MemoryStream("{}\n"u8.ToArray());

        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            client.InsertAsync(new ClickHouseQuery("INSERT INTO t").For("ingest"), "JSONEachRow", data));

        Assert.Equal(252, error.Code);
        Assert.Equal("TOO_MANY_PARTS", error.CodeName);
        Assert.True(error.IsTransient);
        Assert.Equal("ingest", error.Purpose);
    }

    [Fact]
    public async Task Query_rows_come_back_normalized_to_the_row_contract()
    {
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        var at = new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc);
        (string, string)[] columns =
        [
            ("name", "String"), ("u8", "UInt8"), ("u32", "UInt32"), ("u64", "UInt64"), ("i32", "Int32"), ("f32", "Float32"),
            ("f64", "Float64"), ("flag", "Bool"), ("at", "DateTime64(3, 'UTC')"), ("plain", "DateTime"),
            ("id", "UUID"), ("maybe", "Nullable(String)"), ("day", "Date"), ("money", "Decimal(18, 4)"), ("tags", "Array(String)"),
        ];
        var body = RowBinary.Encode(columns,
            ["a", (byte)1, uint.MaxValue, ulong.MaxValue, -7, 0.1f, 2.5d, true, at, new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc), id, null, new DateTime(2024, 5, 6), 12.34m, new[] { "x", "y" }],
            ["b", (byte)2, 0u, 0ul, 0, 0f, 0d, false, at, at, Guid.Empty, "here", new DateTime(1970, 1, 1), 0m, Array.Empty<string>()]);
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Ok(body));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var rows = await client.QueryAsync(new ClickHouseQuery("SELECT …"));

        Assert.Equal(2, rows.Count);
        var row = rows[0];
        Assert.Equal("a", row["name"]);
        Assert.Equal(1L, row["u8"]);
        Assert.Equal(4294967295L, row["u32"]);
        Assert.Equal(ulong.MaxValue, row["u64"]);
        Assert.Equal(-7L, row["i32"]);
        Assert.Equal(0.1d, row["f32"]);
        Assert.Equal(2.5d, row["f64"]);
        Assert.Equal(true, row["flag"]);
        Assert.Equal(at, row["at"]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)row["at"]!).Kind);
        Assert.Equal(new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc), row["plain"]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)row["plain"]!).Kind);
        Assert.Equal(id.ToString(), row["id"]);
        Assert.Null(row["maybe"]);
        Assert.Equal(new DateTime(2024, 5, 6, 0, 0, 0, DateTimeKind.Utc), row.GetDateTime("day"));
        Assert.Equal("12.34", row.GetString("money").TrimEnd('0'));
        Assert.Equal(new object?[] { "x", "y" }, row["tags"]);
        Assert.Equal("here", rows[1]["maybe"]);
        Assert.Equal(0UL, rows[1].GetUInt64("u64"));
    }

    [Fact]
    public async Task A_date_time_in_a_non_utc_zone_comes_back_as_the_same_instant_in_utc()
    {
        var summer = new DateTime(2024, 7, 1, 12, 0, 0, DateTimeKind.Utc);
        var tokyo = new DateTime(2024, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc);
        var body = RowBinary.Encode([("t", "DateTime('Europe/Berlin')"), ("n", "Nullable(DateTime64(3, 'Asia/Tokyo'))")],
            [summer, tokyo],
            [summer, null]);
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Ok(body));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var rows = await client.QueryAsync(new ClickHouseQuery("SELECT t, n"));

        Assert.Equal(summer, rows[0]["t"]);
        Assert.Equal(tokyo, rows[0]["n"]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)rows[0]["n"]!).Kind);
        Assert.Null(rows[1]["n"]);
    }

    [Fact]
    public async Task In_the_repeated_hour_of_a_zoned_column_the_driver_gives_back_the_earlier_instant()
    {
        // Pins a ClickHouse.Driver 1.5.0 limitation (it converts zoned values to wall clock before we see
        // them): 00:30 and 01:30 UTC on 2024-10-27 are both 02:30 in Berlin. If a driver upgrade fixes
        // this, the second assertion fails and the comment in RowValues can go.
        var first = new DateTime(2024, 10, 27, 0, 30, 0, DateTimeKind.Utc);
        var body = RowBinary.Encode([("t", "DateTime('Europe/Berlin')")], [first], [first.AddHours(1)]);
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Ok(body));
        await using var client = HttpClickHouseClient.Create(server.Url());

        var rows = await client.QueryAsync(new ClickHouseQuery("SELECT t"));

        Assert.Equal(first, rows[0]["t"]);
        Assert.Equal(first, rows[1]["t"]);
    }

    [Fact]
    public async Task Scalar_returns_the_first_column_of_the_first_row_or_null()
    {
        var body = RowBinary.Encode([("c", "UInt64"), ("other", "String")], [42ul, "x"], [7ul, "y"]);
        await using var server = FakeClickHouseServer.Start(r => r.Sql.Contains("empty", StringComparison.Ordinal)
            ? FakeReply.Ok(RowBinary.Encode([("c", "UInt64")]))
            : FakeReply.Ok(body));
        await using var client = HttpClickHouseClient.Create(server.Url());

        Assert.Equal(42UL, await client.ScalarAsync(new ClickHouseQuery("SELECT count()")));
        Assert.Null(await client.ScalarAsync(new ClickHouseQuery("SELECT c FROM empty")));
    }

    [Fact]
    public async Task Compression_on_gzips_the_statement_and_asks_for_compressed_answers()
    {
        await using var server = FakeClickHouseServer.Start(_ => FakeReply.Empty());
        await using var client = HttpClickHouseClient.Create(server.Url(options: ""));

        await client.ExecuteAsync(new ClickHouseQuery("SELECT 1"));

        Assert.Equal("SELECT 1", server.Single.Sql);
        Assert.Equal("true", server.Single.Query["enable_http_compression"]);
    }

    [Fact]
    public async Task The_description_names_the_server_without_the_password_and_use_after_dispose_throws()
    {
        var client = HttpClickHouseClient.Create("https://admin:hunter2@ch.example.com:8443/events");
        Assert.Equal("ClickHouse server at https://ch.example.com:8443/events as admin", client.Description);

        await client.DisposeAsync();
        await client.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ExecuteAsync(new ClickHouseQuery("SELECT 1")));
    }
}
