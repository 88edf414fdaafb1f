using System.Diagnostics;

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
        var root = RepositoryRoot();
        var start = new ProcessStartInfo(Path.Combine(root, "coldstore"))
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--help");

        using var process = Process.Start(start) ?? throw new InvalidOperationException("./coldstore did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(Timeout))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"./coldstore --help did not finish within {Timeout.TotalMinutes} minutes. stderr: {await stderr}");
            }
        }

        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n--- stdout ---\n{output}\n--- stderr ---\n{await stderr}");
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        foreach (var command in new[] { "init", "workspace", "ingest", "status", "--clickhouse", "--json" })
        {
            Assert.Contains(command, output, StringComparison.Ordinal);
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Coldstore.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Coldstore.slnx above {AppContext.BaseDirectory}; run the tests from the repository.");
    }
}
