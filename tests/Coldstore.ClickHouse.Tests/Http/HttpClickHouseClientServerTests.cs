using System.Runtime.CompilerServices;
using System.Text;
using Coldstore.ClickHouse.Http;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// The adapter against a ClickHouse server: the HTTP interface over the embedded engine, or the real server
/// named by COLDSTORE_TEST_CLICKHOUSE_URL (see <see cref="ClickHouseHttpTestServer"/>). Tables are named from
/// the test plus a GUID and dropped afterwards, so runs can share a server.
/// </summary>
public sealed class HttpClickHouseClientServerTests : IAsyncLifetime
{
    private readonly List<string> _tables = [];
    private IClickHouseClient? _client;

    private IClickHouseClient Client => _client ??= HttpClickHouseClient.Create(ClickHouseHttpTestServer.Url);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_client is null)
        {
            return;
        }

        foreach (var table in _tables)
        {
            await _client.ExecuteAsync(new ClickHouseQuery($"DROP TABLE IF EXISTS {table}").For("drop test table"));
        }

        await _client.DisposeAsync();
    }

    [Fact]
    public async Task Select_one_returns_a_long()
    {
        Assert.Equal(1L, await Client.ScalarAsync(new ClickHouseQuery("SELECT 1")));
    }

    [Fact]
    public async Task Typed_parameters_round_trip_exactly()
    {
        var at = new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        var id = Guid.NewGuid();
        var text = "it's\ta \\ test\n";

        var rows = await Client.QueryAsync(new ClickHouseQuery(
                "SELECT {s:String} AS s, {n:UInt64} AS n, {t:DateTime64(3, 'UTC')} AS t, {ids:Array(UUID)} AS ids, {b:Bool} AS b, toString({id:UUID}) AS id")
            .With("s", "String", text)
            .With("n", "UInt64", ulong.MaxValue)
            .With("t", "DateTime64(3, 'UTC')", at)
            .With("ids", "Array(UUID)", new[] { id })
            .With("b", "Bool", true)
            .With("id", "UUID", id));

        var row = Assert.Single(rows);
        Assert.Equal(text, row["s"]);
        Assert.Equal(ulong.MaxValue, row["n"]);
        Assert.Equal(at, row["t"]);
        Assert.Equal(true, row["b"]);
        Assert.Equal(id.ToString(), row["id"]);
        Assert.Equal(new object?[] { id.ToString() }, row["ids"]);
    }

    [Fact]
    public async Task Settings_apply_to_the_one_statement()
    {
        var value = await Client.ScalarAsync(new ClickHouseQuery("SELECT getSetting('max_threads')").WithSetting("max_threads", "1"));

        Assert.Equal("1", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_date_time_in_a_zone_comes_back_in_utc()
    {
        var value = await Client.ScalarAsync(new ClickHouseQuery("SELECT toDateTime('2024-10-27 02:30:00', 'Europe/Berlin')"));

        Assert.Equal(new DateTime(2024, 10, 27, 0, 30, 0, DateTimeKind.Utc), value);
    }

    [Fact]
    public async Task An_unknown_table_is_code_60()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.QueryAsync(new ClickHouseQuery($"SELECT * FROM missing_{Guid.NewGuid():N}").For("read missing")));

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.CodeName);
        Assert.Equal("read missing", error.Purpose);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task A_secret_echoed_by_the_server_is_redacted()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.ScalarAsync(new ClickHouseQuery("SELECT toUInt64({k:String})").WithSecret("k", "String", "not-a-number-secret")));

        Assert.DoesNotContain("not-a-number-secret", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insert_streams_rows_into_a_table()
    {
        var table = await CreateTableAsync("(workspace_id String, message_id String, n UInt64) ENGINE = MergeTree ORDER BY workspace_id");
        var rows = new StringBuilder();
        for (var i = 0; i < 1000; i++)
        {
            rows.Append("{\"workspace_id\":\"ws1\",\"message_id\":\"m").Append(i).Append("\",\"n\":").Append(i).Append("}\n");
        }

        using var data = new MemoryStream(Encoding.UTF8.GetBytes(rows.ToString()));
        await Client.InsertAsync(new ClickHouseQuery($"INSERT INTO {table} (workspace_id, message_id, n)").WithSetting("async_insert", "0"), "JSONEachRow", data);

        var count = await Client.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {table} WHERE workspace_id = {{ws:String}}").With("ws", "String", "ws1"));
        Assert.Equal(1000UL, count);
    }

    private async Task<string> CreateTableAsync(string definition, [CallerMemberName] string test = "")
    {
        var table = $"t_{test.ToLowerInvariant()}_{Guid.NewGuid():N}";
        _tables.Add(table);
        await Client.ExecuteAsync(new ClickHouseQuery($"CREATE TABLE {table} {definition}").For("create test table"));
        return table;
    }
}
