using System.Globalization;
using System.Text.Json;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Tests;

/// <summary>
/// What the <c>coldstore</c> command line does, end to end on real engines; subclassed once per configuration.
/// Every test works in workspaces of its own (names carry a GUID), so tests of a class share its database safely.
/// </summary>
public abstract class CliContract(CliTarget target)
{
    protected CliTarget Target { get; } = target;

    private static string UniqueName(string label) => $"{label}-{Guid.NewGuid():N}";

    private async Task<Guid> CreateWorkspaceAsync(string? name = null)
    {
        var created = await Target.RunAsync("workspace", "create", "--name", name ?? UniqueName("ws"));
        Assert.True(created.ExitCode == 0, created.ToString());
        return Guid.ParseExact(created.Stdout.Trim(), "D");
    }

    private async Task<JsonElement> StatusAsync(Guid workspaceId)
    {
        var status = await Target.RunAsync("status", workspaceId.ToString("D"), "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        var reports = Json.Parse(status);
        Assert.Equal(JsonValueKind.Array, reports.ValueKind);
        return Assert.Single(reports.EnumerateArray().ToArray());
    }

    private async Task<string> WriteEventsFileAsync(params string[] lines)
    {
        var path = Path.Combine(Target.TempDirectory, $"events-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(path, lines);
        return path;
    }

    private async Task<IReadOnlyList<string>> TablesAsync(string database)
    {
        var rows = await Target.ClickHouse.QueryAsync(
            new ClickHouseQuery("SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name").With("db", "String", database));
        return rows.Select(r => r.GetString("name")).ToArray();
    }

    private async Task<IReadOnlyList<string>> ShowCreateAsync(string database, IEnumerable<string> tables)
    {
        var statements = new List<string>();
        foreach (var table in tables)
        {
            statements.Add((string)(await Target.ClickHouse.ScalarAsync(new ClickHouseQuery($"SHOW CREATE TABLE `{database}`.`{table}`")))!);
        }

        return statements;
    }

    private async Task<long> CountAsync(string sqlFrom, Guid workspaceId)
    {
        var value = await Target.ClickHouse.ScalarAsync(
            new ClickHouseQuery($"SELECT count() FROM {sqlFrom}").With("ws", "String", workspaceId.ToString("D")));
        return Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }

    private string Events => $"`{Target.Database}`.user_events_v2";

    private string InternalEvents => $"`{Target.Database}`.internal_events";

    private static int[] Migrations(JsonElement init) =>
        init.GetProperty("stateMigrations").EnumerateArray().Select(v => v.GetInt32()).ToArray();

    // ---- init ----

    [Fact]
    public async Task Init_creates_the_events_table_internal_events_and_their_view()
    {
        var database = Target.NewDatabase();
        var state = await Target.NewStateAsync();

        var init = await Cli.RunAsync(Target.Args(["init", "--json"], database, state));

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Equal(["internal_events", "internal_events_mv", "user_events_v2"], await TablesAsync(database));
        var json = Json.Parse(init);
        Assert.Equal(database, json.GetProperty("database").GetString());
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], Migrations(json));
    }

    [Fact]
    public async Task Init_run_a_second_time_succeeds_and_changes_nothing()
    {
        var database = Target.NewDatabase();
        var state = await Target.NewStateAsync();
        var first = await Cli.RunAsync(Target.Args(["init", "--json"], database, state));
        Assert.True(first.ExitCode == 0, first.ToString());
        var tables = await TablesAsync(database);
        var definitions = await ShowCreateAsync(database, tables);

        var second = await Cli.RunAsync(Target.Args(["init", "--json"], database, state));

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(tables, await TablesAsync(database));
        Assert.Equal(definitions, await ShowCreateAsync(database, tables));
        Assert.Equal(Migrations(Json.Parse(first)), Migrations(Json.Parse(second)));
        Assert.NotEmpty(Migrations(Json.Parse(second)));
    }

    [Fact]
    public async Task Init_refuses_an_existing_events_table_without_coldstores_columns_and_leaves_it_unchanged()
    {
        var database = Target.NewDatabase();
        await Target.ClickHouse.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE `{database}`"));
        await Target.ClickHouse.ExecuteAsync(new ClickHouseQuery(
            $"CREATE TABLE `{database}`.user_events_v2 (message_id String, workspace_id String, payload String) ENGINE = MergeTree ORDER BY message_id"));
        await Target.ClickHouse.ExecuteAsync(new ClickHouseQuery(
            $"INSERT INTO `{database}`.user_events_v2 VALUES ('m1', 'w1', 'p1')"));
        var before = await ShowCreateAsync(database, ["user_events_v2"]);

        var init = await Cli.RunAsync(Target.Args(["init"], database));

        Assert.True(init.ExitCode != 0, init.ToString());
        Assert.Equal(1, init.ExitCode);
        Assert.Equal(before, await ShowCreateAsync(database, ["user_events_v2"]));
        Assert.Equal(1L, Convert.ToInt64(await Target.ClickHouse.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM `{database}`.user_events_v2")), CultureInfo.InvariantCulture));
        Assert.Single(init.StderrLines);
        foreach (var missing in new[] { "message_raw", "processing_time", "server_time", "user_or_anonymous_id", "event_type" })
        {
            Assert.True(init.Stderr.Contains(missing, StringComparison.Ordinal), init.ToString());
        }
        Assert.Empty(init.Stdout);
        // Refused means refused: no half-made set of tables beside the foreign one.
        Assert.Equal(["user_events_v2"], await TablesAsync(database));
    }

    [Theory]
    [InlineData("ReplacingMergeTree")]
    [InlineData("SummingMergeTree")]
    public async Task Init_refuses_an_events_table_on_an_engine_that_merges_rows_away_with_one_line_and_exit_2(string engine)
    {
        // (A Distributed table needs a cluster in the server's configuration: Coldstore.Replicated.Tests has one.)
        var database = Target.NewDatabase();
        await Target.ClickHouse.ExecuteAsync(new ClickHouseQuery($"CREATE DATABASE `{database}`"));
        await Target.ClickHouse.ExecuteAsync(new ClickHouseQuery(
            SchemaSql.CreateEvents(new EventTables(database)).Sql.Replace("ENGINE = MergeTree", $"ENGINE = {engine}", StringComparison.Ordinal)));

        var init = await Cli.RunAsync(Target.Args(["init"], database));

        Assert.True(init.ExitCode == 2, init.ToString());
        var line = Assert.Single(init.StderrLines);
        Assert.Contains($"{database}.user_events_v2 uses the {engine} engine", line, StringComparison.Ordinal);
        Assert.Contains("Nothing was created or changed", line, StringComparison.Ordinal);
        Assert.Equal(["user_events_v2"], await TablesAsync(database));
    }

    // ---- workspace create ----

    [Fact]
    public async Task Workspace_create_prints_the_new_id_and_nothing_else_on_stdout()
    {
        var name = UniqueName("acme");

        var created = await Target.RunAsync("workspace", "create", "--name", name);

        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$", created.Stdout);
        var report = await StatusAsync(Guid.ParseExact(created.Stdout.Trim(), "D"));
        Assert.Equal(name, report.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Workspace_create_uses_the_given_id()
    {
        var id = Guid.NewGuid();

        var created = await Target.RunAsync("workspace", "create", "--name", UniqueName("with-id"), "--id", id.ToString("D"));

        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal(id.ToString("D") + "\n", created.Stdout);
        Assert.Equal(id.ToString("D"), (await StatusAsync(id)).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Workspace_create_with_a_taken_name_is_a_conflict()
    {
        var name = UniqueName("taken");
        await CreateWorkspaceAsync(name);

        var again = await Target.RunAsync("workspace", "create", "--name", name);

        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Empty(again.Stdout);
        Assert.Single(again.StderrLines);
    }

    [Fact]
    public async Task Workspace_create_with_a_malformed_id_is_a_usage_error()
    {
        var created = await Target.RunAsync("workspace", "create", "--name", UniqueName("bad-id"), "--id", "not-a-uuid");

        Assert.True(created.ExitCode == 2, created.ToString());
        Assert.Empty(created.Stdout);
        Assert.Contains("'not-a-uuid' is not a workspace id", Assert.Single(created.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Workspace_create_json_reports_storage_as_status_does()
    {
        var name = UniqueName("json");

        var created = await Target.RunAsync("workspace", "create", "--name", name, "--json");

        Assert.True(created.ExitCode == 0, created.ToString());
        var json = Json.Parse(created);
        var id = Guid.ParseExact(json.GetProperty("id").GetString()!, "D");
        Assert.Equal(name, json.GetProperty("name").GetString());
        var report = await StatusAsync(id);
        Assert.Equal(report.GetProperty("status").GetString(), json.GetProperty("status").GetString());
        Assert.Equal("hot", json.GetProperty("storage").GetString());
    }

    // ---- ingest and status ----

    [Fact]
    public async Task Ingesting_generated_events_shows_them_as_hot_rows_in_status()
    {
        var name = UniqueName("gen");
        var workspace = await CreateWorkspaceAsync(name);

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--generate", "10000", "--seed", "1");

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var report = await StatusAsync(workspace);
        // The field names are a contract: later versions may add fields, but these stay, spelled exactly so.
        Assert.Subset(report.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal), new HashSet<string>(["id", "name", "status", "storage", "hotRows"], StringComparer.Ordinal));
        Assert.Equal(workspace.ToString("D"), report.GetProperty("id").GetString());
        Assert.Equal(name, report.GetProperty("name").GetString());
        Assert.Equal("Active", report.GetProperty("status").GetString());
        Assert.Equal("hot", report.GetProperty("storage").GetString());
        Assert.Equal(10_000, report.GetProperty("hotRows").GetInt64());
    }

    [Fact]
    public async Task Status_without_an_id_lists_every_workspace_with_its_own_hot_rows()
    {
        var busy = await CreateWorkspaceAsync();
        var idle = await CreateWorkspaceAsync();
        var ingest = await Target.RunAsync("ingest", "--workspace", busy.ToString("D"), "--generate", "25");
        Assert.True(ingest.ExitCode == 0, ingest.ToString());

        var status = await Target.RunAsync("status", "--json");

        Assert.True(status.ExitCode == 0, status.ToString());
        var reports = Json.Parse(status).EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!, r => r.GetProperty("hotRows").GetInt64());
        Assert.Equal(25, reports[busy.ToString("D")]);
        Assert.Equal(0, reports[idle.ToString("D")]);
    }

    [Fact]
    public async Task The_same_seed_generates_the_same_events_and_another_seed_different_ones()
    {
        var first = await CreateWorkspaceAsync();
        var same = await CreateWorkspaceAsync();
        var other = await CreateWorkspaceAsync();
        foreach (var (workspace, seed) in new[] { (first, "7"), (same, "7"), (other, "8") })
        {
            var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--generate", "2000", "--seed", seed);
            Assert.True(ingest.ExitCode == 0, ingest.ToString());
        }

        var rows = await Target.ClickHouse.QueryAsync(new ClickHouseQuery($"""
            SELECT workspace_id, count() AS n, sum(cityHash64(message_raw, message_id)) AS h
            FROM {Events} WHERE workspace_id IN {"{ids:Array(String)}"} GROUP BY workspace_id
            """).With("ids", "Array(String)", new[] { first, same, other }.Select(w => w.ToString("D")).ToArray()));
        var hashes = rows.ToDictionary(r => r.GetString("workspace_id"), r => (Count: r.GetInt64("n"), Hash: r.GetUInt64("h")));

        Assert.All(hashes.Values, v => Assert.Equal(2000, v.Count));
        Assert.Equal(hashes[first.ToString("D")].Hash, hashes[same.ToString("D")].Hash);
        Assert.NotEqual(hashes[first.ToString("D")].Hash, hashes[other.ToString("D")].Hash);
    }

    [Fact]
    public async Task About_a_sixth_of_generated_events_reach_internal_events_through_the_view()
    {
        var workspace = await CreateWorkspaceAsync();

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--generate", "10000", "--seed", "1");

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var internalEvents = await CountAsync($"{InternalEvents} WHERE workspace_id = {{ws:String}}", workspace);
        var dittofeedTracks = await CountAsync($"{Events} WHERE workspace_id = {{ws:String}} AND event_type = 'track' AND startsWith(event, 'DF')", workspace);
        Assert.True(internalEvents > 0);
        Assert.Equal(dittofeedTracks, internalEvents);
        Assert.InRange(internalEvents, 10_000 / 6 - 300, 10_000 / 6 + 300);
    }

    [Fact]
    public async Task ClickHouse_derives_every_column_from_message_raw()
    {
        var workspace = await CreateWorkspaceAsync();
        const string Traits = """{"email":"ada@example.com","plan":"growth","logins":3}""";
        const string DfProperties = """{"templateId":"tpl-1","journeyId":"journey-1","messageId":"origin-1","variant":{"type":"Email","to":"ada@example.com","from":"hello@example.com"}}""";
        const string PageProperties = """{"path":"/pricing"}""";
        var file = await WriteEventsFileAsync(
            $$"""{"messageId":"m-identify","type":"identify","userId":"user-1","traits":{{Traits}},"timestamp":"2024-03-04T05:06:07.123Z"}""",
            $$"""{"messageId":"m-df","type":"track","event":"DFEmailSent","anonymousId":"anon-9","properties":{{DfProperties}},"context":{"hidden":true},"timestamp":"2024-03-04T07:06:07.250+02:00"}""",
            $$"""{"messageId":"m-track","type":"track","event":"Order Completed","userId":"user-2","anonymousId":"anon-2","properties":{"revenue":12.5},"timestamp":"2024-03-04T05:06:08Z"}""",
            $$"""{"messageId":"m-page","type":"page","anonymousId":"anon-3","name":"Docs","properties":{{PageProperties}},"timestamp":"2024-03-04T05:06:09.5"}""");

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file);

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var rows = (await Target.ClickHouse.QueryAsync(new ClickHouseQuery($"""
            SELECT message_id, toString(event_type) AS type, event, user_id, anonymous_id, user_or_anonymous_id, properties,
                   toString(event_time, 'UTC') AS time, toUInt8(hidden) AS hidden
            FROM {Events} WHERE workspace_id = {"{ws:String}"}
            """).With("ws", "String", workspace.ToString("D")))).ToDictionary(r => r.GetString("message_id"));

        Assert.Equal(["m-df", "m-identify", "m-page", "m-track"], rows.Keys.Order(StringComparer.Ordinal));
        var identify = rows["m-identify"];
        Assert.Equal(("identify", "", "user-1", "user-1", Traits, "2024-03-04 05:06:07.123", 0L),
            (identify.GetString("type"), identify.GetString("event"), identify.GetString("user_id"), identify.GetString("user_or_anonymous_id"),
             identify.GetString("properties"), identify.GetString("time"), identify.GetInt64("hidden")));
        var df = rows["m-df"];
        Assert.Equal(("track", "DFEmailSent", "", "anon-9", DfProperties, "2024-03-04 05:06:07.250", 1L),
            (df.GetString("type"), df.GetString("event"), df.GetString("user_id"), df.GetString("user_or_anonymous_id"),
             df.GetString("properties"), df.GetString("time"), df.GetInt64("hidden")));
        var track = rows["m-track"];
        Assert.Equal(("track", "Order Completed", "user-2", "anon-2", "user-2", "2024-03-04 05:06:08.000"),
            (track.GetString("type"), track.GetString("event"), track.GetString("user_id"), track.GetString("anonymous_id"),
             track.GetString("user_or_anonymous_id"), track.GetString("time")));
        var page = rows["m-page"];
        // A timestamp without an offset is read as UTC, whatever the machine's time zone.
        Assert.Equal(("page", "anon-3", PageProperties, "2024-03-04 05:06:09.500", 0L),
            (page.GetString("type"), page.GetString("user_or_anonymous_id"), page.GetString("properties"), page.GetString("time"), page.GetInt64("hidden")));

        var internalRows = await Target.ClickHouse.QueryAsync(new ClickHouseQuery($"""
            SELECT message_id, event, user_or_anonymous_id, template_id, journey_id, broadcast_id, channel_type, delivery_to, delivery_from,
                   origin_message_id, toUInt8(hidden) AS hidden, toString(event_time, 'UTC') AS time
            FROM {InternalEvents} WHERE workspace_id = {"{ws:String}"}
            """).With("ws", "String", workspace.ToString("D")));
        var internalEvent = Assert.Single(internalRows);
        Assert.Equal(("m-df", "DFEmailSent", "anon-9", "tpl-1", "journey-1", "", "Email", "ada@example.com", "hello@example.com", "origin-1", 1L, "2024-03-04 05:06:07.250"),
            (internalEvent.GetString("message_id"), internalEvent.GetString("event"), internalEvent.GetString("user_or_anonymous_id"),
             internalEvent.GetString("template_id"), internalEvent.GetString("journey_id"), internalEvent.GetString("broadcast_id"),
             internalEvent.GetString("channel_type"), internalEvent.GetString("delivery_to"), internalEvent.GetString("delivery_from"),
             internalEvent.GetString("origin_message_id"), internalEvent.GetInt64("hidden"), internalEvent.GetString("time")));
    }

    [Fact]
    public async Task Ingest_stores_message_raw_verbatim_and_message_id_from_messageId()
    {
        var workspace = await CreateWorkspaceAsync();
        const string Line = """{"type":"track", "event":"Zoë 🚀 \"quoted\"","messageId":"verbatim-1","userId":"u","timestamp":"2024-01-01T00:00:00Z"}""";
        var file = await WriteEventsFileAsync(Line);

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file);

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var row = Assert.Single(await Target.ClickHouse.QueryAsync(new ClickHouseQuery(
            $"SELECT message_id, message_raw, event FROM {Events} WHERE workspace_id = {{ws:String}}").With("ws", "String", workspace.ToString("D"))));
        Assert.Equal("verbatim-1", row.GetString("message_id"));
        Assert.Equal(Line, row.GetString("message_raw"));
        Assert.Equal("Zoë 🚀 \"quoted\"", row.GetString("event"));
    }

    // ---- ingest errors ----

    [Fact]
    public async Task A_bad_line_in_the_middle_of_a_file_fails_naming_the_line_and_nothing_is_inserted()
    {
        var workspace = await CreateWorkspaceAsync();
        var file = await WriteEventsFileAsync(
            """{"messageId":"a","type":"track","event":"One","userId":"u"}""",
            """{"messageId":"b","type":"track","event":"Two","userId":"u"}""",
            """{"messageId":"c","type":"track","event":"Three",""",
            """{"messageId":"d","type":"track","event":"Four","userId":"u"}""");

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file);

        Assert.True(ingest.ExitCode == 2, ingest.ToString());
        Assert.Contains("Line 3 of", Assert.Single(ingest.StderrLines), StringComparison.Ordinal);
        Assert.Equal(0, (await StatusAsync(workspace)).GetProperty("hotRows").GetInt64());
        Assert.Equal(0, await CountAsync($"{Events} WHERE workspace_id = {{ws:String}}", workspace));
    }

    [Fact]
    public async Task A_line_without_a_messageId_fails_naming_the_line()
    {
        var workspace = await CreateWorkspaceAsync();
        var file = await WriteEventsFileAsync(
            """{"messageId":"a","type":"track","event":"One","userId":"u"}""",
            "",
            """{"type":"track","event":"Two","userId":"u"}""");

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file);

        Assert.True(ingest.ExitCode == 2, ingest.ToString());
        Assert.Contains("Line 3 of", ingest.Stderr, StringComparison.Ordinal);
        Assert.Contains("messageId", ingest.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync($"{Events} WHERE workspace_id = {{ws:String}}", workspace));
    }

    [Fact]
    public async Task Ingesting_for_a_workspace_that_does_not_exist_fails_with_exit_code_1()
    {
        var missing = Guid.NewGuid();

        var ingest = await Target.RunAsync("ingest", "--workspace", missing.ToString("D"), "--generate", "10");

        Assert.True(ingest.ExitCode == 1, ingest.ToString());
        Assert.Contains(missing.ToString("D"), Assert.Single(ingest.StderrLines), StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync($"{Events} WHERE workspace_id = {{ws:String}}", missing));
    }

    [Fact]
    public async Task Ingest_with_both_file_and_generate_is_a_usage_error()
    {
        var workspace = await CreateWorkspaceAsync();
        var file = await WriteEventsFileAsync("""{"messageId":"a"}""");

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file, "--generate", "10");

        Assert.True(ingest.ExitCode == 2, ingest.ToString());
        Assert.Contains("exactly one of --file and --generate", ingest.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync($"{Events} WHERE workspace_id = {{ws:String}}", workspace));
    }

    [Fact]
    public async Task Ingest_with_neither_file_nor_generate_is_a_usage_error()
    {
        var workspace = await CreateWorkspaceAsync();

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"));

        Assert.True(ingest.ExitCode == 2, ingest.ToString());
        Assert.Contains("exactly one of --file and --generate", ingest.Stderr, StringComparison.Ordinal);
        Assert.Empty(ingest.Stdout);
    }

    [Fact]
    public async Task Ingest_from_a_missing_file_is_a_usage_error_naming_the_file()
    {
        var workspace = await CreateWorkspaceAsync();
        var file = Path.Combine(Target.TempDirectory, "no-such-file.jsonl");

        var ingest = await Target.RunAsync("ingest", "--workspace", workspace.ToString("D"), "--file", file);

        Assert.True(ingest.ExitCode == 2, ingest.ToString());
        Assert.Contains(file, Assert.Single(ingest.StderrLines), StringComparison.Ordinal);
    }

    // ---- configuration errors ----

    [Fact]
    public async Task A_malformed_clickhouse_setting_is_one_line_naming_the_flag_it_came_by()
    {
        var status = await Cli.RunAsync(Target.Args(["status"], clickHouse: "bogus"));

        Assert.True(status.ExitCode == 2, status.ToString());
        Assert.Contains("--clickhouse='bogus' is not valid: use embedded:<directory>", Assert.Single(status.StderrLines), StringComparison.Ordinal);
        Assert.Empty(status.Stdout);
    }

    [Fact]
    public async Task An_unreachable_postgres_is_one_line_naming_the_variable_without_the_password()
    {
        var status = await Cli.RunAsync(Target.Args(["status"], state: "Host=127.0.0.1;Port=1;Username=u;Password=topsecret;Database=d"));

        Assert.True(status.ExitCode == 2, status.ToString());
        var line = Assert.Single(status.StderrLines);
        Assert.Contains("COLDSTORE_STATE", line, StringComparison.Ordinal);
        Assert.DoesNotContain("topsecret", status.Stderr + status.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unsupported_archive_scheme_is_a_configuration_error()
    {
        var status = await Cli.RunAsync(Target.Args(["status"], archive: "gs://x"));

        Assert.True(status.ExitCode == 2, status.ToString());
        Assert.Contains("--archive='gs://x' is not valid", Assert.Single(status.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_database_name_is_a_configuration_error()
    {
        var status = await Cli.RunAsync(Target.Args(["status"], database: "no-dashes; DROP"));

        Assert.True(status.ExitCode == 2, status.ToString());
        Assert.Contains("--database='no-dashes; DROP' is not valid", Assert.Single(status.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_command_line_option_is_a_usage_error()
    {
        var result = await Target.RunAsync("status", "--no-such-option");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Empty(result.Stdout);
    }

    // ---- before init ----

    [Theory]
    [InlineData("status")]
    [InlineData("workspace", "create", "--name", "early")]
    [InlineData("ingest", "--workspace", "0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d", "--generate", "5")]
    public async Task Commands_before_init_say_to_run_init(params string[] command)
    {
        var state = await Target.NewStateAsync();

        var result = await Cli.RunAsync(Target.Args(command, Target.NewDatabase(), state));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("run `coldstore init`", Assert.Single(result.StderrLines), StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task Commands_on_an_initialized_state_but_a_database_without_the_tables_say_to_run_init()
    {
        var database = Target.NewDatabase();

        var result = await Cli.RunAsync(Target.Args(["status"], database));

        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.Contains("run `coldstore init`", line, StringComparison.Ordinal);
        Assert.Contains(database, line, StringComparison.Ordinal);
    }

    // ---- --json ----

    [Fact]
    public async Task Every_json_output_is_one_valid_document_with_nothing_else_on_stdout()
    {
        var init = await Target.RunAsync("init", "--json");
        var created = await Target.RunAsync("workspace", "create", "--name", UniqueName("json-all"), "--json");
        var id = Json.Parse(created).GetProperty("id").GetString()!;
        var ingest = await Target.RunAsync("ingest", "--workspace", id, "--generate", "50", "--json");
        var status = await Target.RunAsync("status", "--json");
        var one = await Target.RunAsync("status", id, "--json");

        foreach (var result in new[] { init, created, ingest, status, one })
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            // JsonDocument.Parse rejects anything after the document, so this also proves stdout holds nothing else.
            var exception = Record.Exception(() => Json.Parse(result));
            Assert.True(exception is null, $"{exception?.Message}\n{result}");
        }

        Assert.Equal(JsonValueKind.Object, Json.Parse(init).ValueKind);
        Assert.Equal(Target.Database, Json.Parse(init).GetProperty("database").GetString());
        Assert.Equal(50, Json.Parse(ingest).GetProperty("rows").GetInt64());
        Assert.Equal(id, Json.Parse(ingest).GetProperty("workspaceId").GetString());
        Assert.Contains(Json.Parse(status).EnumerateArray(), r => r.GetProperty("id").GetString() == id);
        Assert.Equal(50, Assert.Single(Json.Parse(one).EnumerateArray().ToArray()).GetProperty("hotRows").GetInt64());
    }

    [Fact]
    public async Task A_failing_json_command_writes_nothing_to_stdout_and_one_line_to_stderr()
    {
        var result = await Target.RunAsync("status", Guid.NewGuid().ToString("D"), "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Empty(result.Stdout);
        Assert.Single(result.StderrLines);
    }

    [Fact]
    public async Task Init_json_names_the_configured_engines()
    {
        var init = await Target.RunAsync("init", "--json");

        Assert.True(init.ExitCode == 0, init.ToString());
        var json = Json.Parse(init);
        Assert.Contains(ChdbTestEngineDirectory, json.GetProperty("clickHouse").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("state").GetString()));
        AssertArchiveDescription(json.GetProperty("archive").GetString()!);
    }

    private static string ChdbTestEngineDirectory => Coldstore.Testing.ChdbTestEngine.DataDirectory;

    /// <summary>Checks the archive's description names what the configuration set.</summary>
    protected abstract void AssertArchiveDescription(string description);
}

/// <summary>The CLI on chDB, SQLite and a local archive directory.</summary>
public sealed class SqliteAndLocalDirectoryCliTests(SqliteAndLocalDirectoryTarget target)
    : CliContract(target), IClassFixture<SqliteAndLocalDirectoryTarget>
{
    protected override void AssertArchiveDescription(string description) =>
        Assert.Contains(Path.Combine(target.TempDirectory, "archive"), description, StringComparison.Ordinal);

    [Fact]
    public async Task Init_json_names_the_sqlite_file()
    {
        var init = await Target.RunAsync("init", "--json");

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Contains(Path.Combine(target.TempDirectory, "state.db"), Json.Parse(init).GetProperty("state").GetString(), StringComparison.Ordinal);
    }
}

/// <summary>The CLI on chDB, Postgres and S3 (s3rver).</summary>
public sealed class PostgresAndS3CliTests(PostgresAndS3Target target)
    : CliContract(target), IClassFixture<PostgresAndS3Target>
{
    protected override void AssertArchiveDescription(string description) =>
        Assert.StartsWith(target.BucketAndPrefix, description, StringComparison.Ordinal);

    [Fact]
    public async Task Init_json_describes_postgres_without_the_password()
    {
        var state = new Npgsql.NpgsqlConnectionStringBuilder(target.State) { Password = "pg-secret-pw" }.ConnectionString;

        var init = await Cli.RunAsync(Target.Args(["init", "--json"], state: state));

        // The test server trusts every connection, so the password is accepted and ignored.
        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.StartsWith("Postgres ", Json.Parse(init).GetProperty("state").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("pg-secret-pw", init.Stdout + init.Stderr, StringComparison.Ordinal);
    }
}
