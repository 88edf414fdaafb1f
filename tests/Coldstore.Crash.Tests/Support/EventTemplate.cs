using System.Collections.Concurrent;
using Coldstore.Testing;

namespace Coldstore.Crash.Tests.Support;

/// <summary>One workspace of an <see cref="EventTemplate"/>: its name and id, how many events it has, and their checksums.</summary>
public sealed record TemplateWorkspace(string Name, Guid Id, long Rows, WorkspaceChecksums Checksums);

/// <summary>
/// A chDB data directory and a SQLite state file holding two workspaces with generated events, made once per test
/// run by the CLI (init, workspace create ×2, ingest ×2) and copied into every <see cref="Sandbox"/>. Copying a data
/// directory no process has open gives each test the same events, byte for byte, for the cost of a file copy instead
/// of five CLI runs; <see cref="AChecksums"/> and <see cref="BChecksums"/> are what <c>coldstore checksum</c> reads from
/// the template, so they are each sandbox's "before" too.
/// </summary>
public sealed record EventTemplate(
    string Directory, Guid A, long ARows, WorkspaceChecksums AChecksums, Guid B, long BRows, WorkspaceChecksums BChecksums)
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<EventTemplate>>> OnServer = new(StringComparer.Ordinal);

    private static readonly Lazy<Task<EventTemplate>> SmallTemplate = new(() => BuildAsync("small", aRows: 3_000, bRows: 500));
    private static readonly Lazy<Task<EventTemplate>> BatchTemplate = new(() => BuildAsync("batch", aRows: 2_000, bRows: 500,
    [
        ("C", Guid.Parse("c0000000-0000-4000-8000-00000000000c"), 1_500),
        ("D", Guid.Parse("d0000000-0000-4000-8000-00000000000d"), 1_000),
    ]));

    private static readonly Lazy<Task<EventTemplate>> LargeTemplate = new(() => BuildAsync("large", aRows: 100_000, bRows: 500));
    private static readonly Lazy<Task<EventTemplate>> WorkerTemplate = new(() => BuildAsync("worker", aRows: 40_000, bRows: 30_000,
    [
        ("C", Guid.Parse("c0000000-0000-4000-8000-00000000000c"), 20_000),
        ("D", Guid.Parse("d0000000-0000-4000-8000-00000000000d"), 10_000),
    ]));

    /// <summary>Four small workspaces (A 2,000 events, B 500, C 1,500, D 1,000): for the batch failpoint tests, all in one batch.</summary>
    public static Task<EventTemplate> Batch => BatchTemplate.Value;

    /// <summary>Workspace A with 3,000 events and B with 500: for the failpoint tests.</summary>
    public static Task<EventTemplate> Small => SmallTemplate.Value;

    /// <summary>
    /// Workspace A with 100,000 events and B with 500: archive and restore each take seconds, so a kill at a random
    /// instant lands inside them, and a second process can start while the first still runs.
    /// </summary>
    public static Task<EventTemplate> Large => LargeTemplate.Value;

    /// <summary>
    /// Four workspaces, A with 40,000 events, B 30,000, C 20,000 and D 10,000: for the worker tests, whose one pass over
    /// several workspaces then takes seconds, so a kill at a random instant lands inside its moves.
    /// </summary>
    public static Task<EventTemplate> Worker => WorkerTemplate.Value;

    /// <summary>The template's name (small, large, worker).</summary>
    public string Name { get; init; } = string.Empty;

    /// <summary>
    /// For a template on the HTTP engine set: the database on <see cref="ClickHouseHttpTestServer"/> that holds its
    /// events (sandboxes copy them from there); null for the embedded template, whose events are in <see cref="ChdbDirectory"/>.
    /// </summary>
    public string? ServerDatabase { get; init; }

    /// <summary>
    /// The same workspaces and generated events, made once per test run by the CLI against the ClickHouse server of
    /// the HTTP engine set. Its checksums are its own: the server stamps <c>processing_time</c> at ingestion.
    /// </summary>
    public Task<EventTemplate> OnServerAsync() =>
        ServerDatabase is not null
            ? Task.FromResult(this)
            : OnServer.GetOrAdd(Name, _ => new Lazy<Task<EventTemplate>>(() =>
                BuildAsync(Name, ARows, BRows, [.. More.Select(m => (m.Name, m.Id, m.Rows))], onServer: true))).Value;

    /// <summary>The workspaces beyond A and B (<see cref="Worker"/> and <see cref="Batch"/> have some), with their events' checksums.</summary>
    public IReadOnlyList<TemplateWorkspace> More { get; init; } = [];

    /// <summary>Every workspace of the template: A, B, then <see cref="More"/>.</summary>
    public IReadOnlyList<TemplateWorkspace> Workspaces => [new("A", A, ARows, AChecksums), new("B", B, BRows, BChecksums), .. More];

    /// <summary>The template's chDB data directory (no process has it open).</summary>
    public string ChdbDirectory => Path.Combine(Directory, "chdb");

    /// <summary>The template's SQLite state file.</summary>
    public string StateFile => Path.Combine(Directory, "state.db");

    private static async Task<EventTemplate> BuildAsync(
        string name, long aRows, long bRows, IReadOnlyList<(string Name, Guid Id, long Rows)>? more = null, bool onServer = false)
    {
        RemoveStaleDirectories();
        var directory = Path.Combine(Path.GetTempPath(), $"coldstore-crash-template-{name}-{Guid.NewGuid():N}"[..48]);
        System.IO.Directory.CreateDirectory(directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Sandbox.TryDeleteDirectory(directory);
        var serverDatabase = onServer ? ChdbTestEngine.UniqueDatabaseName("crash_template_" + name) : null;
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["COLDSTORE_CLICKHOUSE"] = onServer ? ClickHouseHttpTestServer.Url : $"embedded:{Path.Combine(directory, "chdb")}",
            ["COLDSTORE_STATE"] = $"sqlite:{Path.Combine(directory, "state.db")}",
            ["COLDSTORE_ARCHIVE"] = $"file:{Path.Combine(directory, "archive")}",
        };
        if (serverDatabase is not null)
        {
            environment["COLDSTORE_CLICKHOUSE_DATABASE"] = serverDatabase;
        }

        // Fixed ids make a failure reproducible by hand with the same commands.
        var a = Guid.Parse("a0000000-0000-4000-8000-00000000000a");
        var b = Guid.Parse("b0000000-0000-4000-8000-00000000000b");
        async Task<CliResult> Run(params string[] args)
        {
            var result = await ColdstoreCli.RunAsync(environment, directory, [.. args, "--json"]);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"Building the {name} event template failed.\n{result}");
            }

            return result;
        }

        await Run("init");
        await Run("workspace", "create", "--name", "A", "--id", a.ToString());
        await Run("workspace", "create", "--name", "B", "--id", b.ToString());
        await Run("ingest", "--workspace", a.ToString(), "--generate", aRows.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", "1");
        await Run("ingest", "--workspace", b.ToString(), "--generate", bRows.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", "2");
        var seed = 3;
        foreach (var workspace in more ?? [])
        {
            await Run("workspace", "create", "--name", workspace.Name, "--id", workspace.Id.ToString());
            await Run("ingest", "--workspace", workspace.Id.ToString(), "--generate", workspace.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--seed", (seed++).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var aSums = (await Run("checksum", a.ToString())).Json<WorkspaceChecksums>();
        var bSums = (await Run("checksum", b.ToString())).Json<WorkspaceChecksums>();
        if (aSums.EventRows != aRows || bSums.EventRows != bRows)
        {
            throw new InvalidOperationException($"The {name} template holds {aSums.EventRows} and {bSums.EventRows} events, not {aRows} and {bRows}.");
        }

        var others = new List<TemplateWorkspace>();
        foreach (var workspace in more ?? [])
        {
            var sums = (await Run("checksum", workspace.Id.ToString())).Json<WorkspaceChecksums>();
            if (sums.EventRows != workspace.Rows)
            {
                throw new InvalidOperationException($"The {name} template holds {sums.EventRows} events in {workspace.Name}, not {workspace.Rows}.");
            }

            others.Add(new TemplateWorkspace(workspace.Name, workspace.Id, workspace.Rows, sums));
        }

        return new EventTemplate(directory, a, aRows, aSums, b, bRows, bSums) { More = others, Name = name, ServerDatabase = serverDatabase };
    }

    /// <summary>
    /// Deletes templates and sandboxes earlier runs left behind: the test host may be ended before its exit handler or a
    /// test's disposal has deleted them. Either is used only while its test run lasts (minutes), so one untouched for an
    /// hour belongs to no live run.
    /// </summary>
    private static void RemoveStaleDirectories()
    {
        foreach (var stale in new DirectoryInfo(Path.GetTempPath()).EnumerateDirectories("coldstore-crash-*"))
        {
            if (stale.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1))
            {
                Sandbox.TryDeleteDirectory(stale.FullName);
            }
        }
    }
}
