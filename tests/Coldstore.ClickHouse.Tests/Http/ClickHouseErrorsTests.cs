using System.Net;
using Coldstore.ClickHouse.Http;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Tests.Http;

public sealed class ClickHouseErrorsTests
{
    private static readonly ClickHouseQuery Query = new ClickHouseQuery("SELECT count() FROM x").For("count hot rows");

    [Fact]
    public void A_server_error_text_splits_into_code_name_and_message()
    {
        var (code, name, message) = ClickHouseErrors.Parse(
            "Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE) (version 26.7.1.1)\n");

        Assert.Equal(60, code);
        Assert.Equal("UNKNOWN_TABLE", name);
        Assert.Equal("Table default.x does not exist.", message);
    }

    [Fact]
    public void A_multi_line_message_with_a_stack_trace_keeps_the_message_and_the_name()
    {
        var (code, name, message) = ClickHouseErrors.Parse(
            "Code: 62. DB::Exception: Syntax error: failed at position 8 ('FRM'): FRM x. Expected one of: FROM. (SYNTAX_ERROR) (version 24.3.2.23 (official build))");

        Assert.Equal(62, code);
        Assert.Equal("SYNTAX_ERROR", name);
        Assert.StartsWith("Syntax error: failed at position 8", message, StringComparison.Ordinal);
        Assert.EndsWith("Expected one of: FROM.", message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stack_trace_is_dropped()
    {
        var (code, _, message) = ClickHouseErrors.Parse(
            "Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB. Stack trace:\n\n0. DB::Exception::Exception(...)\n1. ...");

        Assert.Equal(241, code);
        Assert.Equal("Memory limit (total) exceeded: would use 9.31 GiB.", message);
    }

    [Fact]
    public void Text_without_a_code_is_kept_whole()
    {
        var (code, name, message) = ClickHouseErrors.Parse("<html><body>502 Bad Gateway</body></html>");

        Assert.Null(code);
        Assert.Null(name);
        Assert.Equal("<html><body>502 Bad Gateway</body></html>", message);
    }

    [Fact]
    public void The_exception_carries_code_name_message_and_purpose()
    {
        var error = ClickHouseErrors.FromServer(
            "Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE) (version 26.7.1.1)", "60", HttpStatusCode.NotFound, Query, null);

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.CodeName);
        Assert.Equal("Table default.x does not exist.", error.EngineMessage);
        Assert.Equal("count hot rows", error.Purpose);
        Assert.False(error.IsTransient);
        Assert.Equal("ClickHouse (count hot rows) failed with code 60 UNKNOWN_TABLE: Table default.x does not exist.", error.Message);
    }

    [Theory]
    [InlineData(202, "TOO_MANY_SIMULTANEOUS_QUERIES")]
    [InlineData(209, "SOCKET_TIMEOUT")]
    [InlineData(210, "NETWORK_ERROR")]
    [InlineData(241, "MEMORY_LIMIT_EXCEEDED")]
    [InlineData(252, "TOO_MANY_PARTS")]
    [InlineData(999, "KEEPER_EXCEPTION")]
    public void Overload_and_network_codes_are_transient(int code, string name)
    {
        var error = ClickHouseErrors.FromServer($"Code: {code}. DB::Exception: busy. ({name}) (version 26.7.1.1)", null, HttpStatusCode.InternalServerError, Query, null);

        Assert.True(error.IsTransient);
        Assert.Equal(name, error.CodeName);
    }

    [Theory]
    [InlineData(62, "SYNTAX_ERROR")]
    [InlineData(516, "AUTHENTICATION_FAILED")]
    [InlineData(497, "ACCESS_DENIED")]
    [InlineData(394, "QUERY_WAS_CANCELLED")]
    public void Mistakes_and_refusals_are_not_transient(int code, string name)
    {
        var error = ClickHouseErrors.FromServer($"Code: {code}. DB::Exception: no. ({name}) (version 26.7.1.1)", null, HttpStatusCode.BadRequest, Query, null);

        Assert.False(error.IsTransient);
    }

    [Fact]
    public void The_header_code_is_used_when_the_body_has_none()
    {
        var error = ClickHouseErrors.FromServer("Table is being dropped", "218", HttpStatusCode.InternalServerError, Query, null);

        Assert.Equal(218, error.Code);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, true)]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.Forbidden, false)]
    public void A_proxy_answer_without_a_code_is_transient_only_for_gateway_statuses(HttpStatusCode status, bool transient)
    {
        var error = ClickHouseErrors.FromServer("<html>upstream unavailable</html>", null, status, Query, null);

        Assert.Equal(0, error.Code);
        Assert.Equal(transient, error.IsTransient);
        Assert.Contains($"HTTP {(int)status} without a ClickHouse error code", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_values_are_redacted_raw_and_escaped_and_the_driver_exception_is_dropped()
    {
        var query = new ClickHouseQuery("SELECT toUInt64({k:String})").WithSecret("k", "String", "AKIA'secret").For("probe");
        var driver = new InvalidOperationException("raw text AKIA'secret");

        var error = ClickHouseErrors.FromServer(
            "Code: 6. DB::Exception: Cannot parse string 'AKIA\\'secret' as UInt64: syntax error at begin of string. AKIA'secret. (CANNOT_PARSE_TEXT) (version 26.7.1.1)",
            "6", HttpStatusCode.BadRequest, query, driver);

        Assert.DoesNotContain("secret", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", error.EngineMessage, StringComparison.Ordinal);
        Assert.Null(error.InnerException);
    }

    [Fact]
    public void Without_secrets_the_driver_exception_is_kept_as_the_cause()
    {
        var driver = new InvalidOperationException("driver");

        var error = ClickHouseErrors.FromServer("Code: 60. DB::Exception: x. (UNKNOWN_TABLE)", "60", HttpStatusCode.NotFound, Query, driver);

        Assert.Same(driver, error.InnerException);
    }
}
