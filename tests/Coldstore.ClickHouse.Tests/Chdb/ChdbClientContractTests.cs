using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Chdb;

/// <summary>The port's contract, run against embedded chDB.</summary>
public sealed class ChdbClientContractTests(ChdbDatabaseFixture chdb) : ClickHouseClientContract, IClassFixture<ChdbDatabaseFixture>
{
    protected override IClickHouseClient CreateClient() => chdb.OpenClient();

    protected override string Database => chdb.Database;
}
