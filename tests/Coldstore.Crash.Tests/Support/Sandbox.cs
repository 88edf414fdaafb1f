using System.Text.Json;
using Coldstore.Archive.FileSystem;
using Coldstore.Archive.S3;
using Coldstore.ClickHouse.Http;
using Coldstore.Domain;
using Coldstore.Ports;
using Coldstore.Sql;
using Coldstore.State.Postgres;
using Coldstore.Testing;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit.Abstractions;

namespace Coldstore.Crash.Tests.Support;

/// <summary>The two configurations every crash test runs on.</summary>
public enum EngineSet
{
    /// <summary>chDB + SQLite + a local archive directory: the embedded defaults.</summary>
    SqliteAndLocalDirectory,

    /// <summary>
    /// ClickHouse over HTTP through ClickHouse.Driver (a database of the test's own on the HTTP interface, or on a real
    /// server) + Postgres (a schema of the test's own) + S3 (s3rver, a key prefix of the test's own).
    /// </summary>
    HttpPostgresAndS3,
}

/// <summary>Full-row checksums of one workspace, as <c>coldstore checksum ID --json</c> prints them.</summary>
public sealed record WorkspaceChecksums(long EventRows, string EventChecksum, long InternalEventRows, string InternalEventChecksum);

/// <summary>One element of <c>coldstore status --json</c>.</summary>
public sealed record WorkspaceStatus(
    Guid Id, string Name, string Status, string Storage, long HotRows, int Archives, long ArchivedRows, long ArchivedBytes, long PendingDeletes);

/// <summary>
/// One test's own engines: a chDB data directory (a copy of an <see cref="EventTemplate"/>'s, so it starts with the
/// template's workspaces and events), a state store and an archive location. Every command runs in a CLI child
/// process with this sandbox's environment; the test process never opens chDB (see <see cref="ColdstoreCli"/>).
/// </summary>
public sealed class Sandbox : IAsyncDisposable
{
    private readonly Dictionary<string, string> _environment;
    private readonly PostgresSchema? _schema;
    private readonly IArchiveStore _archive;
    private readonly ITestOutputHelper? _output;

    private Sandbox(
        EngineSet engines, EventTemplate template, string root, Dictionary<string, string> environment, PostgresSchema? schema, IArchiveStore archive,
        ITestOutputHelper? output)
    {
        _output = output;
        Engines = engines;
        Template = template;
        Root = root;
        _environment = environment;
        _schema = schema;
        _archive = archive;
    }

    /// <summary>The configuration.</summary>
    public EngineSet Engines { get; }

    /// <summary>The events this sandbox started with, and their checksums.</summary>
    public EventTemplate Template { get; }

    /// <summary>The sandbox's temporary directory (chDB data, SQLite file, local archive; the CLI's working directory).</summary>
    public string Root { get; }

    /// <summary>The chDB data directory (the embedded set's; unused on the HTTP set).</summary>
    public string ChdbDirectory => Path.Combine(Root, "chdb");

    /// <summary>On the HTTP set: the sandbox's database on the ClickHouse server.</summary>
    public string? ServerDatabase { get; private init; }

    /// <summary>On the HTTP set: the sandbox's database, or a clear failure for a test that asks on the embedded set.</summary>
    private string RequiredServerDatabase =>
        ServerDatabase ?? throw new InvalidOperationException("Only a sandbox on the HTTP set has a server.");

    /// <summary>A client of the HTTP set's server (the caller disposes it).</summary>
    private static IClickHouseClient OpenServer() => HttpClickHouseClient.Create(ClickHouseHttpTestServer.Url);

    /// <summary>
    /// On the HTTP set: the statements the server is running now on this sandbox's database (by query id and text),
    /// whoever sent them: a CLI child that is still alive, or one that died and left its statement running.
    /// </summary>
    public async Task<IReadOnlyList<(string QueryId, string Query)>> ServerStatementsAsync()
    {
        var database = RequiredServerDatabase;
        await using var client = OpenServer();
        // This listing itself is left out by its table's name, which the interface rewrites to a view of its own. A
        // statement that names no table of the sandbox (a read of archive objects) is found by its query id, whose
        // prefix names the sandbox's events table.
        var prefix = Services.StatementTagger.PrefixFor(new Sql.EventTables(database), Guid.Empty);
        var tablePrefix = prefix[..(prefix.IndexOf(':', "coldstore:".Length) + 1)];
        var rows = await client.QueryAsync(new ClickHouseQuery(
                "SELECT query_id, query FROM system.processes WHERE (position(query, {database:String}) > 0 OR startsWith(query_id, {prefix:String})) AND position(query, '.processes') = 0")
            .With("database", "String", database).With("prefix", "String", tablePrefix).For("list the sandbox's running statements"));
        return [.. rows.Select(r => ((string)r[0]!, (string)r[1]!))];
    }

    /// <summary>
    /// On the HTTP set: waits until the server runs no statement on this sandbox's database and has no unfinished
    /// mutation of its tables, so what a test reads next is final (an orphan can no longer add or remove a row).
    /// Returns null once quiet, else what was still running or pending when the timeout passed.
    /// </summary>
    public async Task<string?> WaitUntilTheServerIsQuietAsync(TimeSpan timeout)
    {
        var database = RequiredServerDatabase;
        await using var client = OpenServer();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var mutations = await client.QueryAsync(new ClickHouseQuery(
                "SELECT table, mutation_id, command, latest_fail_reason FROM system.mutations WHERE database = {database:String} AND NOT is_done")
                .With("database", "String", database));
            var statements = await ServerStatementsAsync();
            if (mutations.Count == 0 && statements.Count == 0)
            {
                return null;
            }

            if (clock.Elapsed > timeout)
            {
                return string.Join("\n", mutations.Select(m => $"mutation {m[0]} {m[1]}: {m[2]} (fail: {m[3]})")
                    .Concat(statements.Select(q => $"statement {q.QueryId}: {q.Query}")));
            }

            await Task.Delay(50);
        }
    }

    /// <summary>On the HTTP set: the rows a workspace physically has in both tables, read with no filter (deletes applied or not).</summary>
    public async Task<(long Events, long InternalEvents)> PhysicalRowsAsync(Guid workspaceId)
    {
        var tables = new EventTables(RequiredServerDatabase);
        await using var client = OpenServer();
        var row = Assert.Single(await client.QueryAsync(new ClickHouseQuery(
                $"SELECT (SELECT count() FROM {tables.QualifiedEvents} WHERE workspace_id = {{ws:String}}), (SELECT count() FROM {tables.QualifiedInternalEvents} WHERE workspace_id = {{ws:String}})")
            .With("ws", "String", workspaceId.ToString("D"))));
        return (Convert.ToInt64(row[0], System.Globalization.CultureInfo.InvariantCulture), Convert.ToInt64(row[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Gives a sandbox its own database on the server holding the template's events: the schema as <c>init</c> makes it,
    /// then the stored columns inserted back exactly as a restore does (every other column, and internal_events through
    /// the view, are derived again), so the copy's checksums are the template's.
    /// </summary>
    private static async Task<string> CopyServerTemplateAsync(EventTemplate template)
    {
        var database = ChdbTestEngine.UniqueDatabaseName("crash");
        var tables = new EventTables(database);
        var source = new EventTables(template.ServerDatabase!);
        var columns = string.Join(", ", SchemaSql.StoredColumns);
        await using var client = OpenServer();
        foreach (var statement in SchemaSql.CreateAll(tables))
        {
            await client.ExecuteAsync(statement);
        }

        await client.ExecuteAsync(new ClickHouseQuery($"INSERT INTO {tables.QualifiedEvents} ({columns}) SELECT {columns} FROM {source.QualifiedEvents}")
            .WithSetting("session_timezone", "UTC").WithSetting("insert_deduplicate", "0").For("copy the template's events"));
        return database;
    }

    /// <summary>
    /// Makes a sandbox holding <paramref name="template"/>'s workspaces and events. On SQLite the template's state file is
    /// copied; on Postgres a new schema is initialized and the template's workspaces are created with their ids.
    /// </summary>
    /// <param name="engines">The engine set.</param>
    /// <param name="template">The events to start with.</param>
    /// <param name="label">Names the test's Postgres schema and S3 prefix.</param>
    /// <param name="output">Where runs are logged.</param>
    public static async Task<Sandbox> CreateAsync(EngineSet engines, EventTemplate template, string label, ITestOutputHelper? output = null)
    {
        var root = Path.Combine(Path.GetTempPath(), $"coldstore-crash-{Guid.NewGuid():N}"[..31]);
        try
        {
            return await CreateInAsync(root, engines, template, label, output);
        }
        catch
        {
            TryDeleteDirectory(root);
            throw;
        }
    }

    private static async Task<Sandbox> CreateInAsync(string root, EngineSet engines, EventTemplate template, string label, ITestOutputHelper? output)
    {
        Directory.CreateDirectory(root);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["COLDSTORE_SETTLE_SECONDS"] = "0.2",
        };
        string? serverDatabase = null;
        if (engines == EngineSet.SqliteAndLocalDirectory)
        {
            CopyDirectory(template.ChdbDirectory, Path.Combine(root, "chdb"));
            environment["COLDSTORE_CLICKHOUSE"] = $"embedded:{Path.Combine(root, "chdb")}";
        }
        else
        {
            template = await template.OnServerAsync();
            serverDatabase = await CopyServerTemplateAsync(template);
            environment["COLDSTORE_CLICKHOUSE"] = ClickHouseHttpTestServer.Url;
            environment["COLDSTORE_CLICKHOUSE_DATABASE"] = serverDatabase;
        }

        PostgresSchema? schema = null;
        IArchiveStore archive;
        if (engines == EngineSet.SqliteAndLocalDirectory)
        {
            File.Copy(template.StateFile, Path.Combine(root, "state.db"));
            environment["COLDSTORE_STATE"] = $"sqlite:{Path.Combine(root, "state.db")}";
            environment["COLDSTORE_ARCHIVE"] = $"file:{Path.Combine(root, "archive")}";
            archive = FileSystemArchiveStore.Open(Path.Combine(root, "archive"));
        }
        else
        {
            var s3 = await SharedS3rver.GetAsync();
            schema = await PostgresTestServer.CreateSchemaAsync(label);
            var prefix = S3rverFixture.UniquePrefix(label);
            environment["COLDSTORE_STATE"] = schema.ConnectionString;
            environment["COLDSTORE_ARCHIVE"] = $"s3://{s3.Bucket}/{prefix}";
            environment["COLDSTORE_S3_ENDPOINT"] = s3.Endpoint.ToString();
            environment["COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE"] = s3.EndpointForClickHouse.ToString();
            environment["AWS_ACCESS_KEY_ID"] = s3.AccessKey;
            environment["AWS_SECRET_ACCESS_KEY"] = s3.SecretKey;
            environment["AWS_REGION"] = "us-east-1";
            archive = S3ArchiveStore.Create(new S3ArchiveOptions
            {
                Bucket = s3.Bucket,
                Prefix = prefix.TrimEnd('/'),
                ServiceUrl = s3.Endpoint,
                Credentials = new S3Credentials(s3.AccessKey, s3.SecretKey),
            });
        }

        var sandbox = new Sandbox(engines, template, root, environment, schema, archive, output) { ServerDatabase = serverDatabase };
        try
        {
            if (schema is not null)
            {
                // The ClickHouse tables and events come with the copied data directory; the new state store needs its
                // schema and the same workspaces (same ids, so the copied events are theirs). This is the state half of
                // `coldstore init` and `workspace create`, through the same adapter, in this process: Postgres is not
                // chDB, and it saves three CLI starts per test.
                var state = PostgresStateStore.Create(schema.ConnectionString);
                await using (state)
                {
                    await state.MigrateAsync();
                    await state.CreateWorkspaceAsync(new NewWorkspace("A", template.A, null));
                    await state.CreateWorkspaceAsync(new NewWorkspace("B", template.B, null));
                    foreach (var more in template.More)
                    {
                        await state.CreateWorkspaceAsync(new NewWorkspace(more.Name, more.Id, null));
                    }
                }
            }
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }

        return sandbox;
    }

    /// <summary>Runs <c>coldstore ARGS --json</c> to completion.</summary>
    public Task<CliResult> RunAsync(params string[] args) => RunAsync(args, failpoint: null);

    /// <summary>Runs <c>coldstore ARGS --json</c>, optionally with <c>COLDSTORE_FAILPOINT</c> set, to completion.</summary>
    /// <param name="args">The command and its arguments.</param>
    /// <param name="failpoint">The step to die after, or null.</param>
    /// <param name="timeout">How long the run may take.</param>
    /// <param name="throttled">False for a run that must not queue behind other tests' runs.</param>
    /// <param name="settings">Settings that replace the sandbox's for this run, e.g. a small COLDSTORE_CHUNK_ROWS.</param>
    public async Task<CliResult> RunAsync(IReadOnlyList<string> args, string? failpoint, TimeSpan? timeout = null, bool throttled = true, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = Environment(failpoint);
        foreach (var (name, value) in settings ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        var result = await ColdstoreCli.RunAsync(environment, Root, [.. args, "--json"], timeout, throttled);
        Log(result);
        return result;
    }

    /// <summary>Notes a finished run in the test's output (command, exit code, time), to read when a test fails.</summary>
    public void Log(CliResult result) =>
        _output?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {result.CommandLine} -> exit {result.ExitCode} in {result.Elapsed.TotalSeconds:F1} s");

    /// <summary>Starts <c>coldstore ARGS --json</c> and returns while it runs.</summary>
    /// <param name="args">The command and its arguments.</param>
    /// <param name="throttled">False for a run that must not queue behind other tests' runs.</param>
    /// <param name="settings">Settings that replace the sandbox's for this run, e.g. a longer COLDSTORE_SETTLE_SECONDS.</param>
    public Task<RunningCli> StartAsync(IReadOnlyList<string> args, bool throttled = true, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = Environment(null);
        foreach (var (name, value) in settings ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        return ColdstoreCli.StartAsync(environment, Root, [.. args, "--json"], throttled);
    }

    /// <summary>
    /// Waits until <paramref name="running"/> holds this sandbox's chDB directory. chDB takes an exclusive lock (flock)
    /// on the directory's <c>status</c> file while it has the directory open, and .NET opens files with a shared flock,
    /// so opening the file fails with a sharing violation exactly while a live process holds the directory (a killed
    /// one's lock dies with it, though its file stays). This sandbox's only live process is <paramref name="running"/>.
    /// Returns false when the child exited or the timeout passed first.
    /// </summary>
    public async Task<bool> WaitUntilItHoldsTheEngineAsync(RunningCli running, TimeSpan timeout)
    {
        if (Engines != EngineSet.SqliteAndLocalDirectory)
        {
            // Over HTTP the CLI holds no engine of its own: it is ready as soon as it runs. Callers then wait for what
            // they need (a lease, a storage state), which is what proves the kill lands mid-move.
            await Task.Delay(50);
            return !running.HasExited;
        }

        var statusFile = Path.Combine(ChdbDirectory, "status");
        while (!running.HasExited && running.Elapsed < timeout)
        {
            try
            {
                if (File.Exists(statusFile))
                {
                    await using var probe = new FileStream(statusFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                }
            }
            catch (IOException)
            {
                return !running.HasExited;
            }

            await Task.Delay(10);
        }

        return false;
    }

    /// <summary><c>coldstore checksum ID</c>, which must succeed.</summary>
    public async Task<WorkspaceChecksums> ChecksumAsync(Guid workspaceId) =>
        (await RunAsync("checksum", workspaceId.ToString())).ShouldSucceed().Json<WorkspaceChecksums>();

    /// <summary><c>coldstore status</c>, which must succeed, by workspace id.</summary>
    public async Task<IReadOnlyDictionary<Guid, WorkspaceStatus>> StatusAsync() =>
        (await RunAsync("status")).ShouldSucceed().Json<List<WorkspaceStatus>>().ToDictionary(s => s.Id);

    /// <summary>Every object in the sandbox's archive location (read through the archive store, never through chDB).</summary>
    public async Task<IReadOnlyList<string>> ArchiveObjectsAsync() =>
        [.. (await _archive.ListAsync(string.Empty)).Select(o => o.Key)];

    /// <summary>
    /// Lets the lease a killed process left behind lapse now instead of after the CLI's 60 s lease duration, by moving
    /// its expiry into the past on the state store's own clock, which is exactly what those 60 s would do. The
    /// next operation then takes the workspace over as it would after the wait. Returns how many leases lapsed.
    /// </summary>
    /// <remarks>
    /// Why: the CLI offers no way to shorten the lease, and waiting it out after each of dozens of kills would cost
    /// an hour. That a real lapse works, and that an unexpired lease is respected, is tested once per configuration
    /// in <see cref="LeaseOfAKilledProcessTests"/>. Only the state store is touched here, never chDB.
    /// </remarks>
    public async Task<int> LapseLeasesAsync()
    {
        if (_schema is not null)
        {
            await using var connection = await _schema.OpenConnectionAsync();
            await using var command = new NpgsqlCommand(
                """UPDATE "ColdstoreLease" SET "expiresAt" = now() - interval '1 second' WHERE "expiresAt" >= now() - interval '1 second'""", connection);
            return await command.ExecuteNonQueryAsync();
        }

        // No pooling: the file must not stay open in this process once the test deletes the sandbox.
        await using var sqlite = new SqliteConnection($"Data Source={Path.Combine(Root, "state.db")};Pooling=False");
        await sqlite.OpenAsync();
        await using var update = sqlite.CreateCommand();
        update.CommandText = """
            UPDATE "ColdstoreLease" SET "expiresAt" = strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 seconds')
            WHERE "expiresAt" >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 seconds')
            """;
        return await update.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// How many workspace leases are held now (unexpired), read from the state store: while the only live process is a
    /// worker, that is how many moves it has in progress. A released lease is deleted, so a process that stopped
    /// gracefully leaves none.
    /// </summary>
    public async Task<int> HeldLeasesAsync() => Convert.ToInt32(
        await StateScalarAsync(
            """SELECT count(*) FROM "ColdstoreLease" WHERE "expiresAt" > now()""",
            """SELECT count(*) FROM "ColdstoreLease" WHERE "expiresAt" > strftime('%Y-%m-%d %H:%M:%f', 'now')"""),
        System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Where the state store says a workspace's events are (<c>hot</c>, <c>archiving</c>, <c>cold</c>, <c>restoring</c>),
    /// read from the state store, so also while a process holds chDB.
    /// </summary>
    public async Task<string> StorageAsync(Guid workspaceId) => (string)(await StateScalarAsync(
        $"""SELECT "coldstoreStorage" FROM "Workspace" WHERE "id" = '{workspaceId:D}'""",
        $"""SELECT "coldstoreStorage" FROM "Workspace" WHERE "id" = '{workspaceId:D}'"""))!;

    /// <summary>How many workspaces' events are not where their status says (Active: hot; otherwise cold), per the state store.</summary>
    public async Task<int> WorkspacesOutOfPlaceAsync() => Convert.ToInt32(
        await StateScalarAsync(
            """SELECT count(*) FROM "Workspace" WHERE "coldstoreStorage" <> CASE WHEN "status" = 'Active' THEN 'hot' ELSE 'cold' END""",
            """SELECT count(*) FROM "Workspace" WHERE "coldstoreStorage" <> CASE WHEN "status" = 'Active' THEN 'hot' ELSE 'cold' END"""),
        System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Waits until <paramref name="running"/> (this sandbox's only live process) holds at least one workspace lease, i.e.
    /// has a move in progress. Returns false when it exited or the timeout passed first.
    /// </summary>
    public Task<bool> WaitUntilAMoveIsUnderwayAsync(RunningCli running, TimeSpan timeout) =>
        WaitWhileRunningAsync(running, async () => await HeldLeasesAsync() > 0, timeout);

    /// <summary>
    /// Polls <paramref name="condition"/> (a read of the state store) until it holds while <paramref name="running"/> still
    /// runs. Returns false when the child exited or the timeout passed first.
    /// </summary>
    public static async Task<bool> WaitWhileRunningAsync(RunningCli running, Func<Task<bool>> condition, TimeSpan timeout)
    {
        while (!running.HasExited && running.Elapsed < timeout)
        {
            if (await condition())
            {
                return !running.HasExited;
            }

            await Task.Delay(20);
        }

        return false;
    }

    private async Task<object?> StateScalarAsync(string postgresSql, string sqliteSql)
    {
        if (_schema is not null)
        {
            await using var connection = await _schema.OpenConnectionAsync();
            await using var command = new NpgsqlCommand(postgresSql, connection);
            return await command.ExecuteScalarAsync();
        }

        // No pooling: the file must not stay open in this process once the test deletes the sandbox.
        await using var sqlite = new SqliteConnection($"Data Source={Path.Combine(Root, "state.db")};Pooling=False");
        await sqlite.OpenAsync();
        await using var select = sqlite.CreateCommand();
        select.CommandText = sqliteSql;
        return await select.ExecuteScalarAsync();
    }

    /// <summary>After a run killed while it held the workspace: asserts it left its lease behind, and lets it lapse.</summary>
    public async Task LapseTheKilledProcessLeaseAsync() =>
        Assert.True(await LapseLeasesAsync() == 1, "A process killed during an operation should have left exactly one unexpired lease.");

    public async ValueTask DisposeAsync()
    {
        (_archive as IDisposable)?.Dispose();
        if (ServerDatabase is not null)
        {
            try
            {
                await using var client = OpenServer();
                await client.ExecuteAsync(new ClickHouseQuery($"DROP DATABASE IF EXISTS {ServerDatabase} SYNC").For("drop sandbox database"));
            }
            catch (Coldstore.Errors.ColdstoreException)
            {
                // A statement the test left running may hold it; the server's data directory goes with the run.
            }
        }

        if (_schema is not null)
        {
            await _schema.DisposeAsync();
        }

        TryDeleteDirectory(Root);
    }

    /// <summary>
    /// Copies a directory tree, keeping symbolic links as links with the same target: chDB's Atomic databases link
    /// <c>metadata/&lt;db&gt;</c> and <c>data/&lt;db&gt;/&lt;table&gt;</c> into <c>store/</c> with relative targets, so the copy's
    /// links point into the copy. Following them instead would give ClickHouse directories where it expects links.
    /// </summary>
    internal static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            var destination = Path.Combine(target, entry.Name);
            if (entry.LinkTarget is { } link)
            {
                if (Path.IsPathRooted(link))
                {
                    throw new InvalidOperationException($"{entry.FullName} links to the absolute path {link}; a copy would share it with the template.");
                }

                File.CreateSymbolicLink(destination, link);
            }
            else if (entry is DirectoryInfo directory)
            {
                CopyDirectory(directory.FullName, destination);
            }
            else
            {
                File.Copy(entry.FullName, destination);
            }
        }
    }

    internal static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A temporary directory left behind is harmless; a failing cleanup would hide the test's real result.
        }
    }

    private Dictionary<string, string> Environment(string? failpoint)
    {
        var environment = new Dictionary<string, string>(_environment, StringComparer.Ordinal);
        if (failpoint is not null)
        {
            environment[Failpoints.Variable] = failpoint;
        }

        return environment;
    }
}

/// <summary>Assertions on CLI results that print the whole run when they fail.</summary>
public static class CliAssert
{
    /// <summary>Asserts exit code 0 and returns the result.</summary>
    public static CliResult ShouldSucceed(this CliResult result)
    {
        Assert.True(result.ExitCode == 0, $"Expected exit code 0.\n{result}");
        return result;
    }

    /// <summary>Asserts the process was ended by SIGKILL (not a normal exit, neither 0 nor an error code).</summary>
    public static CliResult ShouldHaveDiedOfSigKill(this CliResult result)
    {
        Assert.True(result.DiedOfSigKill, $"Expected the process to be killed with SIGKILL (exit code {CliResult.SigKillExitCode}).\n{result}");
        return result;
    }

    /// <summary>The string property <paramref name="name"/> of the JSON result.</summary>
    public static string JsonString(this CliResult result, string name) =>
        result.Json().TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidOperationException($"The JSON result has no string '{name}'.\n{result}");
}
