namespace Coldstore.Crash.Tests.Support;

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
    private static readonly Lazy<Task<EventTemplate>> SmallTemplate = new(() => BuildAsync("small", aRows: 3_000, bRows: 500));
    private static readonly Lazy<Task<EventTemplate>> LargeTemplate = new(() => BuildAsync("large", aRows: 100_000, bRows: 500));

    /// <summary>Workspace A with 3,000 events and B with 500: for the failpoint tests.</summary>
    public static Task<EventTemplate> Small => SmallTemplate.Value;

    /// <summary>
    /// Workspace A with 100,000 events and B with 500: archive and restore each take seconds, so a kill at a random
    /// instant lands inside them, and a second process can start while the first still runs.
    /// </summary>
    public static Task<EventTemplate> Large => LargeTemplate.Value;

    /// <summary>The template's chDB data directory (no process has it open).</summary>
    public string ChdbDirectory => Path.Combine(Directory, "chdb");

    /// <summary>The template's SQLite state file.</summary>
    public string StateFile => Path.Combine(Directory, "state.db");

    private static async Task<EventTemplate> BuildAsync(string name, long aRows, long bRows)
    {
        RemoveStaleDirectories();
        var directory = Path.Combine(Path.GetTempPath(), $"coldstore-crash-template-{name}-{Guid.NewGuid():N}"[..48]);
        System.IO.Directory.CreateDirectory(directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Sandbox.TryDeleteDirectory(directory);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["COLDSTORE_CLICKHOUSE"] = $"embedded:{Path.Combine(directory, "chdb")}",
            ["COLDSTORE_STATE"] = $"sqlite:{Path.Combine(directory, "state.db")}",
            ["COLDSTORE_ARCHIVE"] = $"file:{Path.Combine(directory, "archive")}",
        };

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
        var aSums = (await Run("checksum", a.ToString())).Json<WorkspaceChecksums>();
        var bSums = (await Run("checksum", b.ToString())).Json<WorkspaceChecksums>();
        if (aSums.EventRows != aRows || bSums.EventRows != bRows)
        {
            throw new InvalidOperationException($"The {name} template holds {aSums.EventRows} and {bSums.EventRows} events, not {aRows} and {bRows}.");
        }

        return new EventTemplate(directory, a, aRows, aSums, b, bRows, bSums);
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
