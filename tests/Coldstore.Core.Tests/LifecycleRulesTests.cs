using Coldstore.Configuration;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Services;

namespace Coldstore.Core.Tests;

/// <summary>Dittofeed's lifecycle rules, the worker's idea of "needs work", its backoff, and the settings that steer them.</summary>
public sealed class LifecycleRulesTests
{
    private static Workspace Workspace(WorkspaceStatus status, string name = "acme", string? externalId = "ext-1", StorageState storage = StorageState.Hot) =>
        new(Guid.Parse("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d"), name, status, storage, externalId, null, DateTime.UnixEpoch, DateTime.UnixEpoch);

    [Theory]
    [InlineData(WorkspaceStatus.Active, WorkspaceTransition.Pause, WorkspaceStatus.Paused)]
    [InlineData(WorkspaceStatus.Paused, WorkspaceTransition.Resume, WorkspaceStatus.Active)]
    [InlineData(WorkspaceStatus.Active, WorkspaceTransition.Tombstone, WorkspaceStatus.Tombstoned)]
    [InlineData(WorkspaceStatus.Paused, WorkspaceTransition.Tombstone, WorkspaceStatus.Tombstoned)]
    [InlineData(WorkspaceStatus.Tombstoned, WorkspaceTransition.Activate, WorkspaceStatus.Active)]
    public void Each_transition_from_a_status_it_applies_to_gives_the_new_status(WorkspaceStatus from, WorkspaceTransition transition, WorkspaceStatus to)
    {
        var current = Workspace(from, name: from == WorkspaceStatus.Tombstoned ? "DfTombstoned-acme" : "acme");

        Assert.Equal(to, WorkspaceLifecycle.Apply(current, transition)!.Status);
    }

    [Theory]
    [InlineData(WorkspaceStatus.Paused, WorkspaceTransition.Pause)]
    [InlineData(WorkspaceStatus.Active, WorkspaceTransition.Resume)]
    [InlineData(WorkspaceStatus.Tombstoned, WorkspaceTransition.Tombstone)]
    [InlineData(WorkspaceStatus.Active, WorkspaceTransition.Activate)]
    public void A_transition_to_the_status_the_workspace_already_has_is_a_no_op(WorkspaceStatus from, WorkspaceTransition transition) =>
        Assert.Null(WorkspaceLifecycle.Apply(Workspace(from), transition));

    [Theory]
    [InlineData(WorkspaceStatus.Tombstoned, WorkspaceTransition.Pause, "activate it first")]
    [InlineData(WorkspaceStatus.Tombstoned, WorkspaceTransition.Resume, "activate it instead")]
    [InlineData(WorkspaceStatus.Paused, WorkspaceTransition.Activate, "resume it instead")]
    public void A_transition_that_does_not_apply_is_a_conflict_that_says_what_to_do(WorkspaceStatus from, WorkspaceTransition transition, string advice)
    {
        var error = Assert.Throws<WorkspaceOperationException>(() => WorkspaceLifecycle.Apply(Workspace(from), transition));

        Assert.Equal(WorkspaceErrorKind.Conflict, error.Kind);
        Assert.Equal(transition.StepName(), error.Step);
        Assert.Contains(advice, error.Message, StringComparison.Ordinal);
        Assert.Contains("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tombstoning_prefixes_name_and_external_id_and_activating_strips_exactly_that_prefix()
    {
        var tombstoned = WorkspaceLifecycle.Apply(Workspace(WorkspaceStatus.Active), WorkspaceTransition.Tombstone)!;
        Assert.Equal(("DfTombstoned-acme", "DfTombstoned-ext-1"), (tombstoned.Name, tombstoned.ExternalId));

        var activated = WorkspaceLifecycle.Apply(Workspace(WorkspaceStatus.Tombstoned, tombstoned.Name, tombstoned.ExternalId), WorkspaceTransition.Activate)!;
        Assert.Equal(("acme", "ext-1"), (activated.Name, activated.ExternalId));

        // A name that never had the prefix (tombstoned by hand) is kept; a missing external id stays missing.
        var unprefixed = WorkspaceLifecycle.Apply(Workspace(WorkspaceStatus.Tombstoned, "plain", null), WorkspaceTransition.Activate)!;
        Assert.Equal(("plain", (string?)null), (unprefixed.Name, unprefixed.ExternalId));
    }

    [Theory]
    [InlineData(WorkspaceStatus.Active, StorageState.Hot, false)]
    [InlineData(WorkspaceStatus.Active, StorageState.Cold, true)]
    [InlineData(WorkspaceStatus.Active, StorageState.Archiving, true)]
    [InlineData(WorkspaceStatus.Paused, StorageState.Hot, true)]
    [InlineData(WorkspaceStatus.Paused, StorageState.Cold, false)]
    [InlineData(WorkspaceStatus.Paused, StorageState.Restoring, true)]
    [InlineData(WorkspaceStatus.Tombstoned, StorageState.Cold, false)]
    [InlineData(WorkspaceStatus.Tombstoned, StorageState.Archiving, true)]
    public void The_worker_works_on_a_workspace_exactly_when_its_storage_is_not_what_its_status_wants(WorkspaceStatus status, StorageState storage, bool needsWork) =>
        Assert.Equal(needsWork, ColdstoreWorker.NeedsWork(Workspace(status, storage: storage)));

    [Fact]
    public void Retry_delays_double_from_the_base_stay_within_equal_jitter_and_never_exceed_the_maximum()
    {
        var options = new WorkerOptions { RetryBaseDelay = TimeSpan.FromSeconds(5), RetryMaxDelay = TimeSpan.FromMinutes(5) };
        for (var failures = 1; failures <= 12; failures++)
        {
            var ceiling = Math.Min(5 * Math.Pow(2, failures - 1), 300);
            for (var sample = 0; sample < 50; sample++)
            {
                var delay = ColdstoreWorker.RetryDelay(options, failures).TotalSeconds;
                Assert.InRange(delay, ceiling / 2, ceiling);
            }
        }
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("on", true)]
    [InlineData("OFF", false)]
    [InlineData("false", false)]
    [InlineData("1", true)]
    public void The_cold_storage_switch_reads_on_and_off(string? value, bool enabled)
    {
        var environment = new Dictionary<string, string?> { [ColdstoreSettings.ColdStorageVariable] = value };
        Assert.Equal(enabled, ColdstoreSettings.Read(SettingSource.FromEnvironment(environment, null, "/srv")).ColdStorageEnabled);
    }

    [Theory]
    [InlineData(ColdstoreSettings.ColdStorageVariable, "maybe")]
    [InlineData(ColdstoreSettings.LeaseSecondsVariable, "2")]
    [InlineData(ColdstoreSettings.LeaseSecondsVariable, "forever")]
    [InlineData(ColdstoreSettings.WorkerConcurrencyVariable, "0")]
    [InlineData(ColdstoreSettings.WorkerConcurrencyVariable, "65")]
    [InlineData(ColdstoreSettings.WorkerConcurrencyVariable, "2.5")]
    [InlineData(ColdstoreSettings.WorkerPollSecondsVariable, "0")]
    [InlineData(ColdstoreSettings.InsertWaitVariable, "-1")]
    [InlineData(ColdstoreSettings.MutationBudgetVariable, "0")]
    [InlineData(ColdstoreSettings.MutationBudgetVariable, "901")]
    [InlineData(ColdstoreSettings.BatchSizeVariable, "0")]
    [InlineData(ColdstoreSettings.BatchSizeVariable, "1001")]
    [InlineData(ColdstoreSettings.ChunkRowsVariable, "99")]
    [InlineData(ColdstoreSettings.ChunkRowsVariable, "1000000001")]
    [InlineData(ColdstoreSettings.ChunkRowsVariable, "1e6")]
    public void A_bad_lifecycle_or_worker_setting_is_a_configuration_error_naming_it_and_quoting_the_value(string variable, string value)
    {
        var environment = new Dictionary<string, string?> { [variable] = value };

        var error = Assert.Throws<ConfigurationException>(() => ColdstoreSettings.Read(SettingSource.FromEnvironment(environment, null, "/srv")));

        Assert.Equal(variable, error.Setting);
        Assert.Contains($"'{value}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lease_and_worker_settings_are_read_with_their_defaults()
    {
        var defaults = ColdstoreSettings.Read(SettingSource.FromEnvironment(new Dictionary<string, string?>(), null, "/srv"));
        Assert.Equal((TimeSpan.FromSeconds(60), 2, TimeSpan.FromSeconds(30)), (defaults.LeaseDuration, defaults.WorkerConcurrency, defaults.WorkerPollInterval));

        var set = ColdstoreSettings.Read(SettingSource.FromEnvironment(new Dictionary<string, string?>
        {
            [ColdstoreSettings.LeaseSecondsVariable] = "15",
            [ColdstoreSettings.WorkerConcurrencyVariable] = "8",
            [ColdstoreSettings.WorkerPollSecondsVariable] = "0.5",
        }, null, "/srv"));
        Assert.Equal((TimeSpan.FromSeconds(15), 8, TimeSpan.FromSeconds(0.5)), (set.LeaseDuration, set.WorkerConcurrency, set.WorkerPollInterval));
    }

    [Fact]
    public void Settling_the_mutation_budget_the_batch_size_and_the_chunk_size_are_read_with_their_defaults()
    {
        var defaults = ColdstoreSettings.Read(SettingSource.FromEnvironment(new Dictionary<string, string?>(), null, "/srv"));
        Assert.Equal((TimeSpan.Zero, TimeSpan.FromSeconds(30), 100, 100, 1_000_000L), (defaults.SettleWindow, defaults.InFlightInsertWait, defaults.MutationBudget, defaults.BatchSize, defaults.ChunkRows));

        var set = ColdstoreSettings.Read(SettingSource.FromEnvironment(new Dictionary<string, string?>
        {
            [ColdstoreSettings.SettleWindowVariable] = "1.5",
            [ColdstoreSettings.InsertWaitVariable] = "5",
            [ColdstoreSettings.MutationBudgetVariable] = "20",
            [ColdstoreSettings.BatchSizeVariable] = "7",
            [ColdstoreSettings.ChunkRowsVariable] = "250000",
        }, null, "/srv"));
        Assert.Equal((TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(5), 20, 7, 250_000L), (set.SettleWindow, set.InFlightInsertWait, set.MutationBudget, set.BatchSize, set.ChunkRows));
    }
}
