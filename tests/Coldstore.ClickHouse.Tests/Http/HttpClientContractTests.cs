using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// The port's contract through ClickHouse.Driver over HTTP: against the repository's HTTP interface over the
/// embedded engine, or a real server when COLDSTORE_TEST_CLICKHOUSE_URL names one.
/// </summary>
public sealed class HttpClientContractTests(HttpDatabaseFixture http) : ClickHouseClientContract, IClassFixture<HttpDatabaseFixture>
{
    protected override IClickHouseClient CreateClient() => http.OpenClient();

    protected override string Database => http.Database;
}
