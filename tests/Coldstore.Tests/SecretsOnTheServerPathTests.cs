using System.Collections.Concurrent;
using Coldstore.ClickHouse.Http;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>
/// Through the server path (ClickHouse over HTTP, Postgres, S3), no secret reaches what a ClickHouse operator or a log
/// reader sees: not the S3 secret key, not the Postgres password, in <c>system.processes</c> while archive and
/// restore run, in <c>system.mutations</c> after them, in the CLI's verbose log, or in an error.
/// </summary>
public sealed class SecretsOnTheServerPathTests(PostgresAndS3Target target) : IClassFixture<PostgresAndS3Target>
{
    private const string PostgresPassword = "pg-secret-pw-7c41e";

    [Fact]
    public async Task No_secret_appears_in_system_processes_system_mutations_logs_or_errors()
    {
        var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        Assert.False(string.IsNullOrEmpty(secret), "the target puts the S3 secret key in AWS_SECRET_ACCESS_KEY");
        var database = ChdbTestEngine.UniqueDatabaseName("secrets");
        var state = new Npgsql.NpgsqlConnectionStringBuilder(await target.NewStateAsync()) { Password = PostgresPassword }.ConnectionString;
        var url = ClickHouseHttpTestServer.Url;
        IReadOnlyList<string> Args(params string[] command) => target.Args(command, database, state, clickHouse: url);

        var seen = new ConcurrentBag<string>();
        await using var observer = HttpClickHouseClient.Create(url);
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var row in await observer.QueryAsync(new ClickHouseQuery("SELECT query FROM system.processes").For("test: watch statements")))
                {
                    seen.Add(row.GetString("query"));
                }

                await Task.Delay(5);
            }
        });

        var outputs = new List<CliResult>();
        async Task<CliResult> Run(params string[] command)
        {
            var result = await Cli.RunAsync(Args([.. command, "--verbose"]));
            outputs.Add(result);
            return result;
        }

        try
        {
            Assert.True((await Run("init")).ExitCode == 0, string.Join('\n', outputs));
            var created = await Run("workspace", "create", "--name", "secrets-" + Guid.NewGuid().ToString("N")[..8]);
            var workspace = created.Stdout.Trim();
            Assert.True((await Run("ingest", "--workspace", workspace, "--generate", "20000")).ExitCode == 0, string.Join('\n', outputs));
            Assert.True((await Run("archive", workspace)).ExitCode == 0, string.Join('\n', outputs));
            Assert.True((await Run("restore", workspace)).ExitCode == 0, string.Join('\n', outputs));
            // An error on the way: an S3 that does not answer (the statement that reads it carries the credentials).
            var failed = await Cli.RunAsync(target.Args(["archive", workspace, "--s3-endpoint", "http://127.0.0.1:9", "--s3-outage-seconds", "5", "--verbose"], database, state, clickHouse: url));
            outputs.Add(failed);
        }
        finally
        {
            await stop.CancelAsync();
            await watching;
        }

        var mutations = (await observer.QueryAsync(new ClickHouseQuery("SELECT command FROM system.mutations WHERE database = {database:String}")
            .With("database", "String", database).For("test: mutations"))).Select(r => r.GetString("command")).ToList();
        Assert.NotEmpty(mutations);
        Assert.Contains(seen, text => text.Contains("INSERT INTO FUNCTION", StringComparison.Ordinal));
        foreach (var (where, texts) in new[] { ("system.processes", seen.ToList()), ("system.mutations", mutations), ("the CLI's output", outputs.Select(o => o.Stdout + o.Stderr).ToList()) })
        {
            foreach (var text in texts)
            {
                Assert.False(text.Contains(secret!, StringComparison.Ordinal), $"the S3 secret key appears in {where}: {text}");
                Assert.False(text.Contains(PostgresPassword, StringComparison.Ordinal), $"the Postgres password appears in {where}: {text}");
            }
        }

        await observer.ExecuteAsync(new ClickHouseQuery($"DROP DATABASE IF EXISTS `{database}` SYNC").For("test: drop database"));
    }
}
