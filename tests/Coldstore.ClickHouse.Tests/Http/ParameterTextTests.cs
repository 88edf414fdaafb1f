using Coldstore.ClickHouse.Http;

namespace Coldstore.ClickHouse.Tests.Http;

public sealed class ParameterTextTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("it's", "it\\'s")]
    [InlineData("a\tb\nc\\d", "a\\tb\\nc\\\\d")]
    public void Strings_are_escaped_so_they_cannot_end_a_literal(string value, string expected) =>
        Assert.Equal(expected, ParameterText.Format(value, "String"));

    [Fact]
    public void Numbers_bools_and_guids_use_invariant_text()
    {
        Assert.Equal("18446744073709551615", ParameterText.Format(ulong.MaxValue, "UInt64"));
        Assert.Equal("-5", ParameterText.Format(-5, "Int32"));
        Assert.Equal("true", ParameterText.Format(true, "Bool"));
        Assert.Equal("0f8fad5b-d9cb-469f-a165-70867728950e", ParameterText.Format(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), "UUID"));
        Assert.Equal("\\N", ParameterText.Format(null, "Nullable(String)"));
    }

    [Fact]
    public void Date_times_are_written_in_the_placeholder_zone_with_the_placeholder_precision()
    {
        var instant = new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);

        // Without a zone in the type, Unix seconds: the instant whatever the server's or session's zone.
        Assert.Equal("1704164645", ParameterText.Format(instant, "DateTime"));
        Assert.Equal("1704164645.6780000", ParameterText.Format(instant, "DateTime64(3)"));
        Assert.Equal("2024-01-02 03:04:05.6780000", ParameterText.Format(instant, "DateTime64(3, 'UTC')"));
        Assert.Equal("2024-01-02 12:04:05.6780000", ParameterText.Format(instant, "DateTime64(3, 'Asia/Tokyo')"));
        Assert.Equal("2024-01-02", ParameterText.Format(instant, "Date"));
    }

    [Fact]
    public void Arrays_quote_their_elements()
    {
        Assert.Equal("['a','b\\'c']", ParameterText.Format(new[] { "a", "b'c" }, "Array(String)"));
        Assert.Equal("[1,2]", ParameterText.Format(new[] { 1L, 2L }, "Array(Int64)"));
        Assert.Equal("['00000000-0000-0000-0000-000000000000']", ParameterText.Format(new[] { Guid.Empty }, "Array(UUID)"));
    }

    [Fact]
    public void An_unsupported_value_is_refused_without_printing_it()
    {
        var error = Assert.Throws<ArgumentException>(() => ParameterText.Format(new Uri("http://secret"), "String"));

        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }
}
