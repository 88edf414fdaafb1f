using System.Diagnostics;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// The HTTP adapter against a server that keeps running statements without their client: a statement runs under the
/// query id its caller chose, and one its caller cancels is killed on the server, not left running unseen.
/// </summary>
public sealed class StatementLifetimeTests(HttpDatabaseFixture http) : IClassFixture<HttpDatabaseFixture>
{
    [Fact]
    public async Task A_statement_cancelled_by_its_caller_is_killed_on_the_server()
    {
        await using var client = http.OpenClient();
        var queryId = "coldstore-test:" + Guid.NewGuid().ToString("N");
        using var cancel = new CancellationTokenSource();

        // About 30 s of work if nothing stopped it.
        var running = client.ExecuteAsync(new ClickHouseQuery("SELECT sum(sleepEachRow(0.01)) FROM numbers(3000)")
            .WithSetting("max_block_size", "10").WithQueryId(queryId), cancel.Token);
        Assert.True(await WaitAsync(async () => await CountAsync(queryId) == 1), "The statement never ran under its query id.");

        var clock = Stopwatch.StartNew();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);

        Assert.True(await WaitAsync(async () => await CountAsync(queryId) == 0), "The cancelled statement was still running on the server 10 s later.");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"It took {clock.Elapsed.TotalSeconds:F1} s to end.");
    }

    private async Task<long> CountAsync(string queryId) =>
        Convert.ToInt64(await http.Client.ScalarAsync(new ClickHouseQuery("SELECT count() FROM system.processes WHERE query_id = {id:String}")
            .With("id", "String", queryId)), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<bool> WaitAsync(Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }
}
