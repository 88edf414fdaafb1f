using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>A server older than 24.8: every command stops at once, in one line, with exit code 2, and changes nothing.</summary>
public sealed class UnsupportedServerCliTests : IDisposable
{
    private readonly ClickHouseHttpTestServer.InterfaceProcess _server =
        ClickHouseHttpTestServer.StartInterface(PretendedReleases.ArgumentsFor("24.3.2.23"));

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"coldstore-cli-old-server-{Guid.NewGuid():N}");

    public void Dispose()
    {
        _server.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("init")]
    [InlineData("status")]
    public async Task A_server_before_24_8_gives_one_line_naming_the_release_the_minimum_and_the_fix_and_exit_2(string command)
    {
        Directory.CreateDirectory(_directory);
        var tablesBefore = await ServerTablesAsync();

        var result = await Cli.RunAsync([
            "--clickhouse", _server.Url, "--database", "coldstore_old_server",
            "--state", $"sqlite:{Path.Combine(_directory, "state.db")}", "--archive", $"file:{Path.Combine(_directory, "archive")}",
            command]);

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("coldstore: error: ", line, StringComparison.Ordinal);
        Assert.Contains("ClickHouse 24.3.2.23", line, StringComparison.Ordinal);
        Assert.Contains("older than 24.8", line, StringComparison.Ordinal);
        Assert.Contains("upgrade it to 24.8 or later", line, StringComparison.Ordinal);
        Assert.Contains("COLDSTORE_CLICKHOUSE", line, StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
        // Nothing reached the server but the probe: not a database, not a table.
        Assert.Equal(tablesBefore, await ServerTablesAsync());
    }

    /// <summary>Every database and table on the server, read straight over HTTP.</summary>
    private async Task<string> ServerTablesAsync()
    {
        using var http = new HttpClient();
        using var body = new StringContent("SELECT database, name FROM system.tables WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') ORDER BY database, name FORMAT TSV");
        using var response = await http.PostAsync(new Uri(_server.Url + "/"), body);
        response.EnsureSuccessStatusCode();
        var tables = await response.Content.ReadAsStringAsync();
        using var databases = new StringContent("SELECT name FROM system.databases ORDER BY name FORMAT TSV");
        using var answer = await http.PostAsync(new Uri(_server.Url + "/"), databases);
        answer.EnsureSuccessStatusCode();
        return tables + "\n--\n" + await answer.Content.ReadAsStringAsync();
    }
}
