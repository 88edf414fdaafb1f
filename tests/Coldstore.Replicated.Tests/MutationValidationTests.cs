using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Replicated.Tests;

/// <summary>
/// Every mutation Coldstore can submit passes ClickHouse's validation on a replicated <c>user_events_v2</c> and
/// <c>internal_events</c>: it fails only because the table cannot activate here, never with code 36 (what a cluster,
/// or ClickHouse Cloud's SharedMergeTree, answers to a subquery or a non-deterministic function in a mutation). The
/// forms Coldstore used before, and a clock in the bound, fail with 36, so the check tells the two apart.
/// </summary>
public abstract class MutationValidationTests
{
    private const int NondeterministicMutation = 36;

    /// <summary>ABORTED: "Cannot assign mutation because shutdown called", from a replica that never activated.</summary>
    private const int ValidatedButNotAssigned = 236;

    private static readonly Guid Workspace = Guid.Parse("11111111-2222-4333-8444-555555555555");
    private static readonly DateTime Cutoff = new(2024, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);

    /// <summary>A client on an engine started with the test keeper's configuration.</summary>
    protected abstract IClickHouseClient Open();

    /// <summary>Every form of every mutation the archiver and restore submit, on both tables.</summary>
    public static TheoryData<string> MutationForms => [.. Forms(new EventTables()).Keys];

    [Theory]
    [MemberData(nameof(MutationForms))]
    public async Task A_mutation_coldstore_submits_passes_replicated_validation(string form)
    {
        await using var client = Open();
        var tables = await ReplicatedEngines.CreateReplicatedSchemaAsync(client);
        await AssertReplicatedTableAsync(client, tables);

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ExecuteAsync(Forms(tables)[form]));

        Assert.NotEqual(NondeterministicMutation, error.Code);
        // Validation passed: the mutation got as far as being assigned to the replica, which never started here.
        Assert.Equal(ValidatedButNotAssigned, error.Code);
        Assert.StartsWith("Cannot assign mutation", error.EngineMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("nondeterministic", error.EngineMessage, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("non-deterministic", error.EngineMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("a subquery", "cityHash64(message_id) IN (SELECT number FROM system.numbers LIMIT 3)")]
    [InlineData("a clock", "processing_time <= now64(3)")]
    public async Task A_mutation_a_cluster_refuses_fails_validation_with_code_36(string what, string condition)
    {
        await using var client = Open();
        var tables = await ReplicatedEngines.CreateReplicatedSchemaAsync(client);

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => client.ExecuteAsync(
            new ClickHouseQuery($"DELETE FROM {tables.QualifiedEvents} WHERE workspace_id = 'w' AND {condition}").For("delete with " + what)));

        Assert.Equal(NondeterministicMutation, error.Code);
    }

    private static async Task AssertReplicatedTableAsync(IClickHouseClient client, EventTables tables)
    {
        var engines = await client.QueryAsync(new ClickHouseQuery("SELECT name, engine FROM system.tables WHERE database = {database:String} AND name IN ({events:String}, {internal:String}) ORDER BY name")
            .With("database", "String", tables.Database).With("events", "String", tables.Events).With("internal", "String", tables.InternalEvents));
        Assert.Equal(2, engines.Count);
        Assert.All(engines, row => Assert.Equal("ReplicatedMergeTree", row.GetString("engine")));
    }

    private static Dictionary<string, ClickHouseQuery> Forms(EventTables tables)
    {
        var forms = new Dictionary<string, ClickHouseQuery>(StringComparer.Ordinal);
        foreach (var table in Enum.GetValues<HotTable>())
        {
            forms[$"{table}: bounded delete by parts, in the background"] =
                BoundedDeleteSql.DeleteInParts(tables, table, Workspace, Cutoff, ["all_0_0_0", "all_1_3_1"], synchronous: false);
            forms[$"{table}: delete of whole parts left by a merge or a restore, synchronous"] =
                BoundedDeleteSql.DeleteInParts(tables, table, Workspace, Cutoff, ["all_4_4_0"], synchronous: true);
            forms[$"{table}: delete of listed hashes in one part"] =
                BoundedDeleteSql.DeleteInPartByHash(tables, table, Workspace, Cutoff, "all_1_5_2", [1UL, 18_446_744_073_709_551_615UL], keep: false);
            forms[$"{table}: delete of all but listed hashes in one part"] =
                BoundedDeleteSql.DeleteInPartByHash(tables, table, Workspace, Cutoff, "all_1_5_2", [42UL], keep: true);
            forms[$"{table}: a chunk's delete by parts (a month's hash bucket)"] =
                BoundedDeleteSql.DeleteInParts(tables, table, Workspace, Cutoff, ["all_0_0_0"], synchronous: false,
                    new ArchiveChunk(new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 4, 1, 0, 0, 0, DateTimeKind.Utc), 2, 7));
            forms[$"{table}: a chunk's delete of listed hashes in one part (months together)"] =
                BoundedDeleteSql.DeleteInPartByHash(tables, table, Workspace, Cutoff, "all_1_5_2", [7UL], keep: false,
                    new ArchiveChunk(new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc), 0, 1));
            forms[$"{table}: an erasure's delete of users by the salted hash of their ids"] =
                EraseSql.DeleteHotRows(tables, table, Workspace, ErasureIdentities.Create(["user-1", "user-2"], ["anon-1"]));
            forms[$"{table}: an erasure's delete of anonymous ids only"] =
                EraseSql.DeleteHotRows(tables, table, Workspace, ErasureIdentities.Create([], ["anon-1"]));
            forms[$"{table}: a batch's delete of several workspaces in the union of their parts"] =
                BatchSql.DeleteInParts(tables, table, [Workspace, Guid.Parse("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d")], Cutoff, ["all_0_0_0", "all_2_2_0", "all_0_0_0"]);
        }

        return forms;
    }
}

/// <summary>On the embedded engine.</summary>
public sealed class MutationValidationOnChdb : MutationValidationTests
{
    protected override IClickHouseClient Open() => ReplicatedEngines.OpenEmbedded();
}

/// <summary>Through ClickHouse.Driver on the HTTP interface.</summary>
public sealed class MutationValidationOnHttp : MutationValidationTests
{
    protected override IClickHouseClient Open() => ReplicatedEngines.OpenHttp();
}
