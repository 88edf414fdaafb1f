using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;

using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>
/// The CLI as a user gets it from a package: <c>dotnet pack</c> of src/Coldstore.Cli, <c>dotnet tool install</c> of
/// that package into a temporary tool path from a local source only (no network, no cache from an earlier run), then
/// the installed <c>coldstore</c> itself. In the script's collection: packing writes into the CLI's obj/, which the
/// script's build of the CLI must not do at the same time.
/// </summary>
[Collection(ColdstoreScriptGroup.Name)]
public sealed class ToolPackageTests
{
    private const string PackageId = "Coldstore.Cli";

    // Each step takes seconds (the pack reuses this run's build of the CLI); the bound is for a loaded machine.
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_packed_tool_installs_into_a_tool_path_from_the_local_package_and_prints_its_package_version()
    {
        var root = Repository.Root;
        var scratch = Directory.CreateTempSubdirectory("coldstore-tool-").FullName;
        try
        {
            var packages = Directory.CreateDirectory(Path.Combine(scratch, "packages")).FullName;
            var tools = Path.Combine(scratch, "tools");
            var elsewhere = Directory.CreateDirectory(Path.Combine(scratch, "elsewhere")).FullName;

            // --no-build: the package is made of exactly what this test run built and tested, in its configuration.
            var pack = await RunAsync(root, DotnetHost(),
                "pack", Path.Combine(root, "src", "Coldstore.Cli", "Coldstore.Cli.csproj"),
                "--no-build", "-c", Configuration(), "-o", packages, "-nologo");
            Assert.True(pack.ExitCode == 0, $"dotnet pack failed\n{pack}");

            var package = Assert.Single(Directory.GetFiles(packages, $"{PackageId}.*.nupkg"));
            var (id, version, packageType, entries) = ReadPackage(package);
            Assert.Equal(PackageId, id);
            Assert.Equal("DotnetTool", packageType);
            Assert.Equal($"{PackageId}.{version}.nupkg", Path.GetFileName(package));
            // libchdb.so (~560 MB, Linux x64 only) is not shipped: the tool finds it through COLDSTORE_LIBCHDB or a
            // checkout's tools/node_modules, and only when the embedded engine is used.
            Assert.DoesNotContain(entries, entry => entry.EndsWith("libchdb.so", StringComparison.Ordinal));

            // Only the local directory as a source, so a package of the same name elsewhere can never be installed
            // instead and the install works offline.
            var config = Path.Combine(scratch, "nuget.config");
            await File.WriteAllTextAsync(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="coldstore-local" value="{packages}" />
                  </packageSources>
                </configuration>
                """);
            var install = await RunAsync(scratch, DotnetHost(),
                "tool", "install", PackageId, "--tool-path", tools, "--configfile", config, "--version", version);
            Assert.True(install.ExitCode == 0, $"dotnet tool install failed\n{install}");
            var command = Path.Combine(tools, "coldstore");
            Assert.True(File.Exists(command), $"no {command} after the install\n{install}");

            // Outside the repository and with no COLDSTORE_* variable (COLDSTORE_LIBCHDB included): printing the
            // version needs no engine, no state and no libchdb.so.
            var run = await RunAsync(elsewhere, command, "--version");
            Assert.True(run.ExitCode == 0, $"coldstore --version failed\n{run}");
            Assert.Equal(version, run.Stdout.Trim());
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static (string Id, string Version, string? PackageType, IReadOnlyList<string> Entries) ReadPackage(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var nuspec = Assert.Single(zip.Entries, entry => entry.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !entry.FullName.Contains('/', StringComparison.Ordinal));
        using var stream = nuspec.Open();
        var metadata = XDocument.Load(stream).Root!.Elements().Single(element => element.Name.LocalName == "metadata");
        string Field(string name) => metadata.Elements().Single(element => element.Name.LocalName == name).Value;
        var packageType = metadata.Descendants().FirstOrDefault(element => element.Name.LocalName == "packageType")?.Attribute("name")?.Value;
        return (Field("id"), Field("version"), packageType, zip.Entries.Select(entry => entry.FullName).ToList());
    }

    /// <summary>Runs a program to its end with none of the test run's <c>COLDSTORE_*</c> variables.</summary>
    private static Task<CleanProcess.Outcome> RunAsync(string workingDirectory, string program, params string[] args)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        // The installed command is an app host: it finds the runtime through DOTNET_ROOT, set to the SDK running this.
        if (DotnetRoot() is { } dotnetRoot)
        {
            environment["DOTNET_ROOT"] = dotnetRoot;
        }

        return CleanProcess.RunAsync(program, workingDirectory, StepTimeout, environment, args);
    }

    /// <summary>The SDK names the dotnet host it runs under; a bare "dotnet" from PATH could be another installation.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";

    /// <summary>The directory of the dotnet host (symbolic links followed), or null when it cannot be told.</summary>
    private static string? DotnetRoot()
    {
        var host = DotnetHost();
        if (!Path.IsPathRooted(host))
        {
            host = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(directory => Path.Combine(directory, host))
                .FirstOrDefault(File.Exists);
            if (host is null)
            {
                return null;
            }
        }

        return Path.GetDirectoryName(new FileInfo(host).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? host);
    }

    /// <summary>The configuration this test assembly, and so the CLI it references, was built in.</summary>
    private static string Configuration() =>
        typeof(ToolPackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
}
