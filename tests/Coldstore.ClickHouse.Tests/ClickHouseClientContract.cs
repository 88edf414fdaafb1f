using System.Text;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Tests;

/// <summary>
/// What every <see cref="IClickHouseClient"/> adapter must do, run against a real engine. Subclass it once
/// per adapter: supply a client (a new one per test; the suite disposes it) and a database that exists for
/// the test class (the suite creates it if missing; the subclass's class fixture drops it).
/// </summary>
public abstract class ClickHouseClientContract : IAsyncLifetime
{
    private IClickHouseClient? _client;

    /// <summary>A new client for one test; the suite disposes it after the test.</summary>
    protected abstract IClickHouseClient CreateClient();

    /// <summary>The database this test class may create tables in, unique to the class.</summary>
    protected abstract string Database { get; }

    protected IClickHouseClient Client => _client ?? throw new InvalidOperationException("InitializeAsync has not run.");

    public virtual async Task InitializeAsync()
    {
        _client = CreateClient();
        await Client.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE IF NOT EXISTS {Database}"));
    }

    public virtual async Task DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }

    /// <summary>Creates a uniquely named table in <see cref="Database"/> and returns its qualified name.</summary>
    protected async Task<string> CreateTableAsync(string columns, string engine = "MergeTree ORDER BY tuple()")
    {
        var table = $"{Database}.t_{Guid.NewGuid():N}"[..(Database.Length + 15)];
        await Client.ExecuteAsync(new ClickHouseQuery($"CREATE TABLE {table} ({columns}) ENGINE = {engine}").For("create test table"));
        return table;
    }

    // ---- commands ----

    [Fact]
    public async Task Execute_runs_ddl_and_inserts_that_queries_then_see()
    {
        var table = await CreateTableAsync("id UInt64, name String");
        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')"));
        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} SELECT number + 10, toString(number) FROM numbers(3)"));
        await Client.ExecuteAsync(new ClickHouseQuery($"ALTER TABLE {table} ADD COLUMN extra UInt8 DEFAULT 7"));

        var count = await Client.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {table} WHERE extra = 7"));

        Assert.Equal(5UL, Convert.ToUInt64(count, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Execute_of_a_select_discards_its_rows()
    {
        await Client.ExecuteAsync(new ClickHouseQuery("SELECT number FROM numbers(10)"));
    }

    // ---- result values ----

    [Fact]
    public async Task Query_normalizes_every_value_kind()
    {
        var rows = await Client.QueryAsync(new ClickHouseQuery("""
            SELECT
                toInt64(-9223372036854775808) AS int64_min,
                toInt32(-5) AS int32,
                toUInt8(200) AS uint8,
                toUInt64(18446744073709551615) AS uint64_max,
                toFloat64(1.25) AS float64,
                true AS flag,
                'text' AS text,
                toUUID('6f1c9a36-1111-2222-3333-444455556666') AS uuid,
                toDateTime64('2024-01-02 03:04:05.678', 3, 'UTC') AS at_utc,
                toDateTime('2024-01-02 12:04:05', 'Asia/Tokyo') AS at_tokyo,
                CAST(NULL, 'Nullable(String)') AS nothing
            """));

        var row = Assert.Single(rows);
        Assert.Equal(long.MinValue, Assert.IsType<long>(row["int64_min"]));
        Assert.Equal(-5L, row.GetInt64("int32"));
        Assert.Equal(200L, row.GetInt64("uint8"));
        Assert.Equal(ulong.MaxValue, Assert.IsType<ulong>(row["uint64_max"]));
        Assert.Equal(1.25, Assert.IsType<double>(row["float64"]));
        Assert.True(Assert.IsType<bool>(row["flag"]));
        Assert.Equal("text", Assert.IsType<string>(row["text"]));
        Assert.Equal("6f1c9a36-1111-2222-3333-444455556666", row.GetString("uuid"));
        var atUtc = Assert.IsType<DateTime>(row["at_utc"]);
        Assert.Equal(DateTimeKind.Utc, atUtc.Kind);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), atUtc);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), row.GetDateTime("at_tokyo"));
        Assert.Null(row["nothing"]);
        Assert.True(row.IsNull("nothing"));
    }

    [Fact]
    public async Task Query_returns_no_rows_as_an_empty_list()
    {
        var rows = await Client.QueryAsync(new ClickHouseQuery("SELECT number FROM numbers(10) WHERE number > 100"));

        Assert.Empty(rows);
    }

    [Fact]
    public async Task Scalar_is_null_when_there_are_no_rows()
    {
        Assert.Null(await Client.ScalarAsync(new ClickHouseQuery("SELECT number FROM numbers(3) WHERE number > 5")));
    }

    [Theory]
    [InlineData("18446744073709551615")]
    [InlineData("18446744073709551557")]
    [InlineData("9223372036854775809")]
    public async Task Scalar_keeps_uint64_values_near_two_to_the_64_exact(string value)
    {
        var scalar = await Client.ScalarAsync(new ClickHouseQuery($"SELECT toUInt64('{value}')"));

        Assert.Equal(ulong.Parse(value, System.Globalization.CultureInfo.InvariantCulture), Assert.IsType<ulong>(scalar));
    }

    [Fact]
    public async Task Scalar_checksum_of_many_rows_matches_the_engines_own_text()
    {
        var query = "SELECT sum(cityHash64(number)) FROM numbers(100000)";
        var asNumber = await Client.ScalarAsync(new ClickHouseQuery(query));
        var asText = await Client.ScalarAsync(new ClickHouseQuery($"SELECT toString(({query}))"));

        Assert.Equal(asText, Convert.ToString(asNumber, System.Globalization.CultureInfo.InvariantCulture));
    }

    // ---- per-query settings ----

    [Fact]
    public async Task A_query_setting_applies_to_that_query_only()
    {
        var before = await Client.ScalarAsync(new ClickHouseQuery("SELECT toString(getSetting('max_threads'))"));
        var during = await Client.ScalarAsync(new ClickHouseQuery("SELECT toString(getSetting('max_threads'))").WithSetting("max_threads", "7"));
        var after = await Client.ScalarAsync(new ClickHouseQuery("SELECT toString(getSetting('max_threads'))"));

        Assert.Equal("7", during);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task A_text_setting_changes_how_the_query_reads_date_times()
    {
        var zone = await Client.ScalarAsync(new ClickHouseQuery("SELECT timezone()").WithSetting("session_timezone", "Asia/Tokyo"));
        var midnight = await Client.ScalarAsync(
            new ClickHouseQuery("SELECT toDateTime('2024-01-02 09:00:00')").WithSetting("session_timezone", "Asia/Tokyo"));

        Assert.Equal("Asia/Tokyo", zone);
        Assert.Equal(new DateTime(2024, 1, 2, 0, 0, 0, DateTimeKind.Utc), midnight);
    }

    [Fact]
    public async Task Settings_apply_to_insert_select()
    {
        var table = await CreateTableAsync("zone String");

        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} SELECT timezone()").WithSetting("session_timezone", "America/Chicago"));

        Assert.Equal("America/Chicago", await Client.ScalarAsync(new ClickHouseQuery($"SELECT zone FROM {table}")));
    }

    [Fact]
    public async Task Settings_apply_to_delete()
    {
        var table = await CreateTableAsync("id UInt64");
        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} SELECT number FROM numbers(10)"));

        // Turning lightweight deletes off must make this very DELETE fail, which proves it saw the setting.
        var refused = await Assert.ThrowsAsync<ClickHouseException>(() => Client.ExecuteAsync(
            new ClickHouseQuery($"DELETE FROM {table} WHERE id < 5").WithSetting("enable_lightweight_delete", "0")));
        await Client.ExecuteAsync(new ClickHouseQuery($"DELETE FROM {table} WHERE id < 5").WithSetting("lightweight_deletes_sync", "2"));

        Assert.NotEqual(0, refused.Code);
        Assert.Equal(5UL, Convert.ToUInt64(await Client.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {table}")), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Settings_apply_to_alter()
    {
        var table = await CreateTableAsync("id UInt64");
        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} SELECT number FROM numbers(10)"));

        await Client.ExecuteAsync(new ClickHouseQuery($"ALTER TABLE {table} DELETE WHERE id >= 3").WithSetting("mutations_sync", "2"));

        // With mutations_sync = 2 the ALTER waited, so the rows are already gone.
        Assert.Equal(3UL, Convert.ToUInt64(await Client.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {table}")), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Settings_apply_to_insert_into_a_table_function()
    {
        var file = $"coldstore_contract_{Guid.NewGuid():N}.csv";
        var write = new ClickHouseQuery("INSERT INTO FUNCTION file({path:String}, 'CSV', 'n UInt64') SELECT number FROM numbers(5)")
            .With("path", "String", file)
            .WithSetting("engine_file_truncate_on_insert", "1");

        await Client.ExecuteAsync(write);
        await Client.ExecuteAsync(write);

        // Truncation on insert means the second run replaced the file rather than appending to it.
        var count = await Client.ScalarAsync(new ClickHouseQuery("SELECT count() FROM file({path:String}, 'CSV', 'n UInt64')").With("path", "String", file));
        Assert.Equal(5UL, Convert.ToUInt64(count, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task An_unknown_setting_fails_with_the_engines_code()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.ScalarAsync(new ClickHouseQuery("SELECT 1").WithSetting("no_such_setting_anywhere", "1")));

        Assert.Equal(115, error.Code);
        Assert.Equal("UNKNOWN_SETTING", error.CodeName);
    }

    // ---- parameters ----

    public static TheoryData<string, string> HostileStrings() => new()
    {
        { "backslashes", @"C:\path\to\file \\ and \n literally" },
        { "quotes", "it's \"quoted\" and `back` 'single'" },
        { "tabs and newlines", "a\tb\nc\r\nd" },
        { "nul bytes", "before\0after\0" },
        { "emoji", "snow ☃ and 🧊 and 👩‍👩‍👧" },
        { "broken json", "{\"a\": [1, 2, \"unterminated" },
        { "sql", "'; DROP TABLE x; --" },
        { "escape lookalikes", @"\N \0 \t \x41 \u0041 %s {x:String}" },
        { "control characters", "\b\f\v\u0001\u001f" },
        { "empty", "" },
    };

    [Theory]
    [MemberData(nameof(HostileStrings))]
    public async Task A_string_parameter_survives_exactly(string what, string value)
    {
        _ = what;
        var echoed = await Client.ScalarAsync(new ClickHouseQuery("SELECT {value:String}").With("value", "String", value));
        var length = await Client.ScalarAsync(new ClickHouseQuery("SELECT length({value:String})").With("value", "String", value));

        Assert.Equal(value, echoed);
        Assert.Equal((long)Encoding.UTF8.GetByteCount(value), Convert.ToInt64(length, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_one_megabyte_string_parameter_survives_exactly()
    {
        var value = string.Concat(Enumerable.Range(0, 1 << 20).Select(i => (char)('a' + (i % 26)))) + "\\\t\n'\0☃";
        var table = await CreateTableAsync("body String");

        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} SELECT {{body:String}}").With("body", "String", value));

        Assert.Equal(value, await Client.ScalarAsync(new ClickHouseQuery($"SELECT body FROM {table}")));
    }

    [Fact]
    public async Task Integer_bool_guid_and_date_time_parameters_bind_by_type()
    {
        var id = Guid.Parse("6f1c9a36-1111-2222-3333-444455556666");
        var at = new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc);
        var query = new ClickHouseQuery("""
            SELECT {i8:Int8} AS i8, {u8:UInt8} AS u8, {i16:Int16} AS i16, {u16:UInt16} AS u16, {i32:Int32} AS i32,
                   {u32:UInt32} AS u32, {i64:Int64} AS i64, {u64:UInt64} AS u64, {flag:Bool} AS flag,
                   {id:UUID} AS id, {at:DateTime64(3, 'UTC')} AS at, {whole:DateTime('UTC')} AS whole
            """)
            .With("i8", "Int8", sbyte.MinValue).With("u8", "UInt8", byte.MaxValue)
            .With("i16", "Int16", short.MinValue).With("u16", "UInt16", ushort.MaxValue)
            .With("i32", "Int32", int.MinValue).With("u32", "UInt32", uint.MaxValue)
            .With("i64", "Int64", long.MinValue).With("u64", "UInt64", ulong.MaxValue)
            .With("flag", "Bool", true).With("id", "UUID", id)
            .With("at", "DateTime64(3, 'UTC')", at).With("whole", "DateTime('UTC')", new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc));

        var row = Assert.Single(await Client.QueryAsync(query));

        Assert.Equal(sbyte.MinValue, row.GetInt64("i8"));
        Assert.Equal(byte.MaxValue, row.GetInt64("u8"));
        Assert.Equal(short.MinValue, row.GetInt64("i16"));
        Assert.Equal(ushort.MaxValue, row.GetInt64("u16"));
        Assert.Equal(int.MinValue, row.GetInt64("i32"));
        Assert.Equal(uint.MaxValue, row.GetUInt64("u32"));
        Assert.Equal(long.MinValue, row.GetInt64("i64"));
        Assert.Equal(ulong.MaxValue, row.GetUInt64("u64"));
        Assert.True(row.GetBoolean("flag"));
        Assert.Equal(id.ToString(), row.GetString("id"));
        Assert.Equal(at, row.GetDateTime("at"));
        Assert.Equal(new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc), row.GetDateTime("whole"));
    }

    [Fact]
    public async Task A_utc_date_time_parameter_means_the_same_instant_in_any_placeholder_zone()
    {
        var at = new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc);

        var tokyo = await Client.ScalarAsync(new ClickHouseQuery("SELECT toUnixTimestamp64Milli({at:DateTime64(3, 'Asia/Tokyo')})").With("at", "DateTime64(3, 'Asia/Tokyo')", at));
        var session = await Client.ScalarAsync(new ClickHouseQuery("SELECT toUnixTimestamp64Milli({at:DateTime64(3)})").With("at", "DateTime64(3)", at)
            .WithSetting("session_timezone", "America/New_York"));

        var expected = new DateTimeOffset(at).ToUnixTimeMilliseconds();
        Assert.Equal(expected, Convert.ToInt64(tokyo, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(expected, Convert.ToInt64(session, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Array_parameters_carry_hostile_strings_and_numbers()
    {
        string[] words = ["plain", "it's", @"back\slash", "tab\there", "new\nline", "nul\0byte", "☃", "", "]','["];
        var query = new ClickHouseQuery("""
            SELECT length({words:Array(String)}) AS n,
                   arrayStringConcat({words:Array(String)}, '|') AS joined,
                   has({ids:Array(UInt64)}, 18446744073709551615) AS has_max,
                   length({ids:Array(UInt64)}) AS id_count,
                   length({none:Array(String)}) AS none_count,
                   {flags:Array(Bool)}[2] AS second_flag,
                   {ids2:Array(UUID)}[1] AS first_id
            """)
            .With("words", "Array(String)", words)
            .With("ids", "Array(UInt64)", new ulong[] { 1, ulong.MaxValue })
            .With("none", "Array(String)", Array.Empty<string>())
            .With("flags", "Array(Bool)", new[] { true, false })
            .With("ids2", "Array(UUID)", new[] { Guid.Parse("6f1c9a36-1111-2222-3333-444455556666") });

        var row = Assert.Single(await Client.QueryAsync(query));

        Assert.Equal(words.Length, row.GetInt64("n"));
        Assert.Equal(string.Join('|', words), row.GetString("joined"));
        Assert.True(row.GetBoolean("has_max"));
        Assert.Equal(2, row.GetInt64("id_count"));
        Assert.Equal(0, row.GetInt64("none_count"));
        Assert.False(row.GetBoolean("second_flag"));
        Assert.Equal("6f1c9a36-1111-2222-3333-444455556666", row.GetString("first_id"));
    }

    [Fact]
    public async Task A_parameter_used_in_a_filter_selects_exactly_the_matching_rows()
    {
        var table = await CreateTableAsync("workspace String, n UInt64");
        await Client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {table} VALUES ('ws1', 1), ('ws10', 2), ('ws1\\'', 3)"));

        var count = await Client.ScalarAsync(new ClickHouseQuery($"SELECT sum(n) FROM {table} WHERE workspace = {{ws:String}}").With("ws", "String", "ws1'"));

        Assert.Equal(3UL, Convert.ToUInt64(count, System.Globalization.CultureInfo.InvariantCulture));
    }

    // ---- errors ----

    [Fact]
    public async Task An_unknown_table_maps_to_code_60_with_the_purpose()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.QueryAsync(new ClickHouseQuery($"SELECT * FROM {Database}.no_such_table").For("count hot rows")));

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.CodeName);
        Assert.Equal("count hot rows", error.Purpose);
        Assert.Contains("count hot rows", error.Message, StringComparison.Ordinal);
        Assert.Contains("no_such_table", error.EngineMessage, StringComparison.Ordinal);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task A_syntax_error_maps_to_its_code()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() => Client.ExecuteAsync(new ClickHouseQuery("SELEC 1")));

        Assert.Equal(62, error.Code);
        Assert.Equal("SYNTAX_ERROR", error.CodeName);
    }

    [Fact]
    public async Task A_secret_the_engine_cannot_parse_is_absent_from_the_error()
    {
        const string secret = "hunter2-very-secret";
        var query = new ClickHouseQuery("SELECT {key:UInt64}").WithSecret("key", "UInt64", secret).For("read credentials");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Client.ScalarAsync(query));

        Assert.DoesNotContain(secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, query.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_secret_echoed_by_a_failing_function_is_absent_from_the_error()
    {
        const string secret = "AKIA-not-a-number-secret";
        var query = new ClickHouseQuery("SELECT toUInt64({key:String})").WithSecret("key", "String", secret).For("use credentials");

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => Client.ScalarAsync(query));

        Assert.NotEqual(0, error.Code);
        Assert.DoesNotContain(secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, error.EngineMessage, StringComparison.Ordinal);
    }

    // ---- streaming insert ----

    [Fact]
    public async Task Insert_streams_json_each_row_into_a_table()
    {
        var table = await CreateTableAsync("id UInt64, message String, at DateTime64(3, 'UTC')");
        var body = new StringBuilder();
        for (var i = 0; i < 5000; i++)
        {
            body.Append("{\"id\":").Append(i).Append(",\"message\":\"line\\n\\ttab \\\\ \\u0000 ☃ ").Append(i).Append("\",\"at\":\"2024-01-02 03:04:05.678\"}\n");
        }

        await using var data = new MemoryStream(Encoding.UTF8.GetBytes(body.ToString()));
        await Client.InsertAsync(new ClickHouseQuery($"INSERT INTO {table} (id, message, at)").For("ingest events"), "JSONEachRow", data);

        var row = Assert.Single(await Client.QueryAsync(new ClickHouseQuery($"SELECT count() AS n, sum(id) AS s, any(message) AS m, max(at) AS at FROM {table} WHERE id = 42 OR id >= 0")));
        Assert.Equal(5000UL, row.GetUInt64("n"));
        Assert.Equal(4999UL * 5000 / 2, row.GetUInt64("s"));
        Assert.StartsWith("line\n\ttab \\ \0 ☃ ", row.GetString("m"), StringComparison.Ordinal);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), row.GetDateTime("at"));
    }

    [Fact]
    public async Task Insert_leaves_the_callers_stream_open_for_the_next_batch()
    {
        var table = await CreateTableAsync("id UInt64");
        using var buffer = new MemoryStream();
        for (var batch = 0; batch < 3; batch++)
        {
            // One buffer reused batch after batch, as ingestion does: the adapter borrows it and must not dispose it.
            buffer.SetLength(0);
            buffer.Write(Encoding.UTF8.GetBytes($"{{\"id\":{batch}}}\n"));
            buffer.Position = 0;
            await Client.InsertAsync(new ClickHouseQuery($"INSERT INTO {table} (id)"), "JSONEachRow", buffer);
        }

        Assert.Equal(3UL, Convert.ToUInt64(await Client.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {table}")), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Insert_reports_bad_rows_as_a_clickhouse_error()
    {
        var table = await CreateTableAsync("id UInt64");
        await using var data = new MemoryStream(Encoding.UTF8.GetBytes("{\"id\":\"not a number\"}\n"));

        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.InsertAsync(new ClickHouseQuery($"INSERT INTO {table} (id)").For("ingest events"), "JSONEachRow", data));

        Assert.NotEqual(0, error.Code);
        Assert.Equal("ingest events", error.Purpose);
    }

    [Fact]
    public async Task Insert_into_an_unknown_table_maps_to_code_60()
    {
        await using var data = new MemoryStream(Encoding.UTF8.GetBytes("{\"id\":1}\n"));

        var error = await Assert.ThrowsAsync<ClickHouseException>(() =>
            Client.InsertAsync(new ClickHouseQuery($"INSERT INTO {Database}.missing (id)"), "JSONEachRow", data));

        Assert.Equal(60, error.Code);
    }

    [Fact]
    public async Task The_description_names_the_engine_without_credentials()
    {
        await Task.CompletedTask;

        Assert.False(string.IsNullOrWhiteSpace(Client.Description));
        Assert.DoesNotContain("password", Client.Description, StringComparison.OrdinalIgnoreCase);
    }
}
