using Coldstore.Sql;

namespace Coldstore.Core.Tests;

public sealed class TableEnginesTests
{
    [Theory]
    [InlineData("MergeTree")]
    [InlineData("ReplicatedMergeTree")]
    [InlineData("SharedMergeTree")]
    public void The_mergetree_family_that_keeps_every_row_is_supported(string engine) =>
        Assert.Null(TableEngines.Problem("d.user_events_v2", engine, engine + "('/t', 'r') ORDER BY x"));

    [Fact]
    public void A_distributed_table_is_refused_naming_its_local_table_and_cluster()
    {
        var problem = TableEngines.Problem("d.user_events_v2", "Distributed", "Distributed('events_cluster', 'dittofeed', 'user_events_v2_local', rand())");

        Assert.NotNull(problem);
        Assert.Contains("d.user_events_v2 is a Distributed table", problem, StringComparison.Ordinal);
        Assert.Contains("local table dittofeed.user_events_v2_local", problem, StringComparison.Ordinal);
        Assert.Contains("cluster 'events_cluster'", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ReplacingMergeTree")]
    [InlineData("CollapsingMergeTree")]
    [InlineData("Memory")]
    [InlineData("Log")]
    public void Engines_that_merge_rows_away_or_cannot_delete_are_refused_by_name(string engine)
    {
        var problem = TableEngines.Problem("d.user_events_v2", engine, engine);

        Assert.NotNull(problem);
        Assert.Contains($"uses the {engine} engine", problem, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', problem);
    }
}
