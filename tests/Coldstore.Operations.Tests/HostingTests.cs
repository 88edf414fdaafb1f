using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Operations.Tests.Support;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coldstore.Operations.Tests;

/// <summary>
/// A .NET host built only from configuration (<c>AddColdstore(configuration.GetSection("Coldstore"))</c> and
/// <c>AddColdstoreWorker()</c>, the keys in an in-memory provider) runs the worker end to end: it archives a workspace the
/// application paused and restores it exactly when it is active again. A bad value stops the host's start with one line
/// naming the key and quoting the value, before any adapter is opened. The host's health check reports what is missing
/// until <c>init</c>.
/// </summary>
public abstract class HostingTests(ClickHouseDatabaseFixture clickHouse, IEngines engines) : OperationsTest(clickHouse, engines)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_host_built_only_from_configuration_runs_the_worker_end_to_end()
    {
        var h = await OpenAsync();
        var id = await h.NewWorkspaceAsync();
        await h.IngestAsync(id, 120, seed: 61);
        var before = await h.ChecksumsAsync(id);
        await Engines.SetStatusAsAnApplicationAsync(id, "Paused");

        using var host = Build(Settings());
        await host.StartAsync();
        try
        {
            // The hosted worker notices the pause (its first pass, or a notification) and archives the workspace.
            var deadline = DateTime.UtcNow + Patience;
            while (await h.StorageAsync(id) != StorageState.Cold)
            {
                Assert.True(DateTime.UtcNow < deadline, $"The hosted worker did not archive the paused workspace within {Patience}.");
                await Task.Delay(100);
            }
        }
        finally
        {
            await host.StopAsync();
        }

        Assert.Equal(0, await h.HotRowsAsync(id));
        Assert.Single(await h.LedgerAsync(id));

        // The host's own worker, one pass: the application resumed the workspace, and every event comes back exactly.
        await Engines.SetStatusAsAnApplicationAsync(id, "Active");
        var pass = await host.Services.GetRequiredService<ColdstoreWorker>().RunOnceAsync();
        Assert.True(pass.Converged, string.Join("; ", pass.Attempts.Select(a => $"{a.WorkspaceId}: {a.Outcome} {a.Error}")));
        Assert.Contains(pass.Attempts, a => a.WorkspaceId == id && a.Action == "restore" && a.Outcome == WorkerOutcome.Done);
        Assert.Equal(before, await h.ChecksumsAsync(id));
        // Options and scheduling came from the same section.
        Assert.Equal(TimeSpan.FromSeconds(20), host.Services.GetRequiredService<ColdstoreService>().Options.LeaseDuration);
    }

    [Fact]
    public async Task A_bad_value_stops_the_start_naming_its_key_and_quoting_it_before_anything_is_opened()
    {
        var unopened = Path.Combine(Path.GetTempPath(), $"coldstore-never-opened-{Guid.NewGuid():N}");
        var settings = new Dictionary<string, string?>(Settings(), StringComparer.Ordinal)
        {
            // A second chDB directory would fail to open in this process: reaching it would show as another error.
            ["ClickHouse"] = $"embedded:{unopened}",
            ["Worker:Concurrency"] = "lots",
        };

        using var host = Build(settings);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Coldstore:Worker:Concurrency='lots' is not valid: use a whole number from 1 to 64.", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(unopened), "An adapter was opened although the settings were refused.");
        // A service resolved without starting the host throws the refusal itself.
        var direct = Assert.Throws<ConfigurationException>(() => host.Services.GetRequiredService<ColdstoreService>());
        Assert.Equal("Coldstore:Worker:Concurrency", direct.Setting);
        Assert.False(Directory.Exists(unopened), "An adapter was opened although the settings were refused.");
    }

    [Fact]
    public async Task The_health_check_is_unhealthy_naming_what_is_missing_until_init_and_healthy_after()
    {
        // A database of its own that nothing initialized yet.
        var database = ChdbTestEngine.UniqueDatabaseName("coldstore_health");
        using var host = Build(new Dictionary<string, string?>(Settings(), StringComparer.Ordinal) { ["Database"] = database }, health: true);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        try
        {
            var before = (await health.CheckHealthAsync()).Entries["coldstore"];
            Assert.Equal(HealthStatus.Unhealthy, before.Status);
            Assert.Contains($"clickhouse: no table {database}.user_events_v2; run `coldstore init`", before.Description, StringComparison.Ordinal);
            Assert.Equal("ok", before.Data["archive"]);

            await host.Services.GetRequiredService<ColdstoreService>().InitializeAsync();

            var after = (await health.CheckHealthAsync()).Entries["coldstore"];
            Assert.Equal(HealthStatus.Healthy, after.Status);
            Assert.Equal(["archive", "clickhouse", "state"], after.Data.Keys.Order(StringComparer.Ordinal));
            Assert.All(after.Data.Values, value => Assert.Equal("ok", value));
        }
        finally
        {
            await ClickHouse.Client.ExecuteAsync(new ClickHouseQuery($"DROP DATABASE IF EXISTS {database} SYNC").For("drop the health test's database"));
        }
    }

    /// <summary>The test's engines and database as the keys of a <c>Coldstore</c> section.</summary>
    private Dictionary<string, string?> Settings() => new(Engines.Settings, StringComparer.Ordinal)
    {
        ["ClickHouse"] = ClickHouse.Setting,
        ["Database"] = Tables.Database,
        ["LeaseSeconds"] = "20",
        ["Worker:PollSeconds"] = "0.2",
        ["Worker:Concurrency"] = "2",
    };

    private static IHost Build(IReadOnlyDictionary<string, string?> settings, bool health = false)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create($"Coldstore:{s.Key}", s.Value)));
        builder.Services.AddColdstore(builder.Configuration.GetSection("Coldstore"));
        builder.Services.AddColdstoreWorker();
        if (health)
        {
            builder.Services.AddHealthChecks().AddColdstore();
        }

        return builder.Build();
    }
}

public sealed class HostingOnChdbSqliteAndFiles(ChdbDatabaseFixture chdb)
    : HostingTests(chdb, new EmbeddedEngines()), IClassFixture<ChdbDatabaseFixture>;

public sealed class HostingOnHttpPostgresAndS3(HttpDatabaseFixture clickHouse, PostgresFixture postgres, S3rverFixture s3)
    : HostingTests(clickHouse, new ServerEngines(postgres, s3)), IClassFixture<HttpDatabaseFixture>, IClassFixture<PostgresFixture>, IClassFixture<S3rverFixture>;
