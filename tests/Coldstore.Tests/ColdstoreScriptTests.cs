using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>Runs alone: the script may build the CLI (Release, into artifacts/cli), which two runs must not do at once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ColdstoreScriptGroup
{
    public const string Name = "coldstore script";
}

/// <summary>The <c>./coldstore</c> script at the repository root, run as a user would, in a child process.</summary>
[Collection(ColdstoreScriptGroup.Name)]
public sealed class ColdstoreScriptTests
{
    // The first run builds the CLI; on two cores a cold Release build takes a minute or two.
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task The_script_at_the_repository_root_prints_help_listing_every_command()
    {
        var root = Repository.Root;

        var (exitCode, output, stderr) = await RunScriptAsync(root, "--help");

        Assert.True(exitCode == 0, $"exit {exitCode}\n--- stdout ---\n{output}\n--- stderr ---\n{stderr}");
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        foreach (var command in new[]
        {
            "init", "workspace", "ingest", "status", "archive", "restore", "verify", "checksum",
            "pause", "resume", "tombstone", "activate", "worker", "demo", "--clickhouse", "--cold-storage", "--lease-seconds", "--json",
        })
        {
            Assert.Contains(command, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_readme_first_command_runs_the_demo_with_its_defaults_in_an_empty_directory_under_its_dot_coldstore_and_is_exact()
    {
        // The script finds the repository from its own path, but the settings default to ./.coldstore in the working
        // directory: an empty directory with no COLDSTORE_* variables is a fresh clone's first run. Exactly the
        // README's command, no options: the defaults themselves are what a new user runs.
        var directory = Directory.CreateTempSubdirectory("coldstore-script-demo-").FullName;
        try
        {
            var (exitCode, stdout, stderr) = await RunScriptAsync(directory, "demo");

            var all = $"exit {exitCode}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}";
            Assert.True(exitCode == 0, all);
            Assert.Contains("Round trip exact", stdout, StringComparison.Ordinal);
            Assert.Contains("pause demo-globex-", stderr, StringComparison.Ordinal);
            Assert.Contains("tombstone demo-initech-", stderr, StringComparison.Ordinal);
            var home = Path.Combine(directory, ".coldstore");
            Assert.True(Directory.Exists(home), all);
            Assert.True(File.Exists(Path.Combine(home, "state.db")), all);
            Assert.True(Directory.Exists(Path.Combine(home, "chdb")), all);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Runs <c>./coldstore</c> with <paramref name="args"/> in <paramref name="workingDirectory"/>, without any
    /// <c>COLDSTORE_*</c> variable of the test run, so it sees the defaults a user's shell would.
    /// </summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunScriptAsync(string workingDirectory, params string[] args)
    {
        var outcome = await CleanProcess.RunAsync(Repository.PathOf("coldstore"), workingDirectory, Timeout, null, args);
        return (outcome.ExitCode, outcome.Stdout, outcome.Stderr);
    }
}
