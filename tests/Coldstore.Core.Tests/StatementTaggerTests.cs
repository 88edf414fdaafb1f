using System.Collections.Concurrent;
using Coldstore.Ports;
using Coldstore.Services;

namespace Coldstore.Core.Tests;

/// <summary>Query ids that name the workspace, the run and the step, so a later holder can find an orphan by prefix.</summary>
public sealed class StatementTaggerTests
{
    private static readonly Guid Workspace = Guid.Parse("0b8e6a4c-1f2d-4c3b-9a7e-5d6f7a8b9c0d");
    private static readonly Sql.EventTables Tables = new("dittofeed");

    [Fact]
    public void The_prefix_names_the_table_and_the_workspace_and_ids_add_the_run_a_sequence_and_the_step()
    {
        var prefix = StatementTagger.PrefixFor(Tables, Workspace);
        Assert.Matches("^coldstore:[0-9a-f]{16}:0b8e6a4c1f2d4c3b9a7e5d6f7a8b9c0d:$", prefix);
        Assert.Equal(prefix, StatementTagger.PrefixFor(new Sql.EventTables("dittofeed"), Workspace));
        Assert.NotEqual(prefix, StatementTagger.PrefixFor(new Sql.EventTables("staging"), Workspace));
        Assert.NotEqual(prefix, StatementTagger.PrefixFor(new Sql.EventTables("dittofeed", events: "user_events_v3"), Workspace));
        Assert.Equal("p:run:3:copy-rows-to-the-archive", StatementTagger.NextId("p:run:", 3, "copy rows to the archive"));
        Assert.Equal("p:7:statement", StatementTagger.NextId("p:", 7, null));
        Assert.Equal("p:1:check-pending-deletes", StatementTagger.NextId("p:", 1, "  check pending-deletes!! "));
        Assert.Matches("^[A-Za-z0-9:._@-]+$", StatementTagger.NextId("p:", 1, "ünïcode / \"quotes\" */ and more"));
    }

    [Fact]
    public async Task Statements_inside_an_operation_carry_its_ids_and_statements_outside_carry_ids_no_operation_matches()
    {
        var seen = new ConcurrentQueue<ClickHouseQuery>();
        var tagger = new StatementTagger(new Recorder(seen));

        await tagger.ExecuteAsync(new ClickHouseQuery("SELECT 0"));
        string prefix;
        using (StatementTagger.Begin(StatementTagger.PrefixFor(Tables, Workspace)))
        {
            await tagger.ExecuteAsync(new ClickHouseQuery("SELECT 1").For("first"));
            await Task.Run(() => tagger.QueryAsync(new ClickHouseQuery("SELECT 2").For("second")));
            await tagger.ExecuteAsync(new ClickHouseQuery("SELECT 3").WithQueryId("chosen"));
            prefix = seen.ToArray()[1].QueryId![..^"1:first".Length];
        }

        await tagger.ExecuteAsync(new ClickHouseQuery("SELECT 4"));

        var ids = seen.Select(q => q.QueryId).ToArray();
        Assert.Matches("^coldstore:other:[0-9a-f]{32}:0:statement$", ids[0]);
        Assert.StartsWith(StatementTagger.PrefixFor(Tables, Workspace), prefix, StringComparison.Ordinal);
        Assert.Equal(prefix + "1:first", ids[1]);
        Assert.Equal(prefix + "2:second", ids[2]);
        Assert.Equal("chosen", ids[3]);
        Assert.Matches("^coldstore:other:[0-9a-f]{32}:0:statement$", ids[4]);
        Assert.NotEqual(ids[0], ids[4]);
        Assert.False(ids[4]!.StartsWith(StatementTagger.TablePrefixFor(Tables), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_operations_at_once_get_runs_of_their_own()
    {
        var seen = new ConcurrentQueue<ClickHouseQuery>();
        var tagger = new StatementTagger(new Recorder(seen));

        async Task Operation(Guid workspace)
        {
            using var scope = StatementTagger.Begin(StatementTagger.PrefixFor(Tables, workspace));
            await Task.Yield();
            await tagger.ExecuteAsync(new ClickHouseQuery("SELECT 1").For("step"));
        }

        var other = Guid.NewGuid();
        await Task.WhenAll(Operation(Workspace), Operation(other));

        var ids = seen.Select(q => q.QueryId!).ToArray();
        Assert.Single(ids, id => id.StartsWith(StatementTagger.PrefixFor(Tables, Workspace), StringComparison.Ordinal));
        Assert.Single(ids, id => id.StartsWith(StatementTagger.PrefixFor(Tables, other), StringComparison.Ordinal));
    }

    private sealed class Recorder(ConcurrentQueue<ClickHouseQuery> seen) : IClickHouseClient
    {
        public string Description => "recorder";

        public Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
        {
            seen.Enqueue(query);
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
        {
            seen.Enqueue(query);
            return Task.FromResult<IReadOnlyList<ClickHouseRow>>([]);
        }

        public Task<object?> ScalarAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
        {
            seen.Enqueue(query);
            return Task.FromResult<object?>(null);
        }

        public Task InsertAsync(ClickHouseQuery insert, string format, Stream data, CancellationToken cancellationToken = default)
        {
            seen.Enqueue(insert);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
