namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// A fact that needs a real ClickHouse server. The one suite allowed to skip: no server can run on the build
/// machines, so it runs only where COLDSTORE_TEST_CLICKHOUSE_URL points at one.
/// </summary>
public sealed class ClickHouseServerFactAttribute : FactAttribute
{
    public const string Variable = "COLDSTORE_TEST_CLICKHOUSE_URL";

    public ClickHouseServerFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Url))
        {
            Skip = $"Set {Variable} to a ClickHouse server, e.g. {Variable}=http://default:@127.0.0.1:8123/default " +
                "(docker run -p 8123:8123 clickhouse/clickhouse-server), to run the ClickHouse server suite.";
        }
    }

    public static string? Url => Environment.GetEnvironmentVariable(Variable);
}
