using System.Text.Json;
using Coldstore.ClickHouse.Chdb;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.ClickHouse.Tests.Chdb;

/// <summary>The pure pieces of the chDB adapter: parameter text, result values, error text.</summary>
public sealed class ChdbParameterFormatterTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData(@"back\slash", @"back\\slash")]
    [InlineData("tab\tnew\nline\rcr", @"tab\tnew\nline\rcr")]
    [InlineData("nul\0byte", @"nul\0byte")]
    [InlineData("it's", "it's")]
    [InlineData("\b\f", @"\b\f")]
    [InlineData("☃", "☃")]
    public void A_top_level_string_is_escaped_text(string value, string expected) =>
        Assert.Equal(expected, ChdbParameterFormatter.Format(value, "String"));

    [Fact]
    public void Array_elements_are_quoted_with_their_own_escapes() =>
        Assert.Equal(@"['a','it\'s','back\\slash','t\tb','']",
            ChdbParameterFormatter.Format(new[] { "a", "it's", @"back\slash", "t\tb", "" }, "Array(String)"));

    [Fact]
    public void Nested_and_numeric_arrays_are_bare() =>
        Assert.Equal("[[1,2],[]]", ChdbParameterFormatter.Format(new[] { new[] { 1L, 2L }, Array.Empty<long>() }, "Array(Array(Int64))"));

    [Theory]
    [InlineData(sbyte.MinValue, "Int8", "-128")]
    [InlineData(ulong.MaxValue, "UInt64", "18446744073709551615")]
    [InlineData(long.MinValue, "Int64", "-9223372036854775808")]
    [InlineData(uint.MaxValue, "UInt32", "4294967295")]
    public void Integers_use_invariant_text(object value, string type, string expected) =>
        Assert.Equal(expected, ChdbParameterFormatter.Format(value, type));

    [Fact]
    public void Bools_are_words_for_bool_and_digits_for_integers()
    {
        Assert.Equal("true", ChdbParameterFormatter.Format(true, "Bool"));
        Assert.Equal("0", ChdbParameterFormatter.Format(false, "UInt8"));
        Assert.Equal("[true,false]", ChdbParameterFormatter.Format(new[] { true, false }, "Array(Bool)"));
    }

    [Fact]
    public void A_guid_is_its_canonical_text() =>
        Assert.Equal("6f1c9a36-1111-2222-3333-444455556666",
            ChdbParameterFormatter.Format(Guid.Parse("6f1c9a36-1111-2222-3333-444455556666"), "UUID"));

    [Fact]
    public void A_utc_date_time_is_written_with_the_types_precision()
    {
        var at = new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);

        Assert.Equal("2024-01-02 03:04:05.678", ChdbParameterFormatter.Format(at, "DateTime64(3, 'UTC')"));
        Assert.Equal("2024-01-02 03:04:05.678", ChdbParameterFormatter.Format(at, "DateTime64(3)"));
        Assert.Equal("2024-01-02 03:04:05", ChdbParameterFormatter.Format(at.AddMilliseconds(-678), "DateTime"));
        Assert.Equal("['2024-01-02 03:04:05.678']", ChdbParameterFormatter.Format(new[] { at }, "Array(DateTime64(3, 'UTC'))"));
    }

    [Fact]
    public void A_date_time_is_written_as_wall_clock_time_in_the_zone_it_will_be_read_in()
    {
        var at = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

        Assert.Equal("2024-01-02 12:04:05.000", ChdbParameterFormatter.Format(at, "DateTime64(3, 'Asia/Tokyo')"));
        Assert.Equal("2024-01-01 22:04:05", ChdbParameterFormatter.Format(at, "DateTime", "America/New_York"));
    }

    [Fact]
    public void Precision_the_type_cannot_hold_is_refused_not_rounded() =>
        Assert.Throws<ArgumentException>(() =>
            ChdbParameterFormatter.Format(new DateTime(2024, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), "DateTime"));

    [Fact]
    public void Null_needs_a_nullable_type()
    {
        Assert.Equal(@"\N", ChdbParameterFormatter.Format(null, "Nullable(String)"));
        Assert.Throws<ArgumentException>(() => ChdbParameterFormatter.Format(null, "String"));
    }

    [Fact]
    public void Unsupported_values_are_refused_with_the_type() =>
        Assert.Contains("Double", Assert.Throws<ArgumentException>(() => ChdbParameterFormatter.Format(1.5, "Float64")).Message, StringComparison.Ordinal);

    [Fact]
    public void Types_are_parsed_through_wrappers()
    {
        var type = ClickHouseType.Parse("LowCardinality(Nullable(DateTime64(6, 'Europe/Berlin')))");

        Assert.Equal("DateTime64", type.Name);
        Assert.True(type.IsNullable);
        Assert.Equal(6, type.DateTimePrecision);
        Assert.Equal("Europe/Berlin", type.TimeZone);
        Assert.Equal("String", ClickHouseType.Parse("Array(Nullable(String))").ElementType!.Name);
    }

    [Fact]
    public void Result_date_times_are_read_in_their_zone_and_returned_as_utc()
    {
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), ChdbResultReader.ParseDateTime("2024-01-02 12:04:05", "Asia/Tokyo"));
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234567),
            ChdbResultReader.ParseDateTime("2024-01-02 03:04:05.123456789", "UTC"));
    }

    [Fact]
    public void Result_numbers_keep_their_kind()
    {
        using var document = JsonDocument.Parse("[18446744073709551615, \"18446744073709551615\", -1, \"nan\"]");
        var cells = document.RootElement.EnumerateArray().ToArray();

        Assert.Equal(ulong.MaxValue, ChdbResultReader.Normalize(cells[0], ClickHouseType.Parse("UInt64"), "UTC"));
        Assert.Equal(ulong.MaxValue, ChdbResultReader.Normalize(cells[1], ClickHouseType.Parse("UInt64"), "UTC"));
        Assert.Equal(-1L, ChdbResultReader.Normalize(cells[2], ClickHouseType.Parse("Int32"), "UTC"));
        Assert.True(double.IsNaN((double)ChdbResultReader.Normalize(cells[3], ClickHouseType.Parse("Float64"), "UTC")!));
    }

    [Fact]
    public void Engine_errors_are_parsed_into_code_name_and_message()
    {
        var error = ChdbErrors.FromEngineText(
            "Code: 60. DB::Exception: Table db.t does not exist. (UNKNOWN_TABLE) (version 26.7.3.1)\n",
            new ClickHouseQuery("SELECT 1").For("count rows"), []);

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.CodeName);
        Assert.Equal("Table db.t does not exist.", error.EngineMessage);
        Assert.Equal("ClickHouse (count rows) failed with code 60 UNKNOWN_TABLE: Table db.t does not exist.", error.Message);
    }

    [Fact]
    public void Wrapped_errors_are_unwrapped_and_memory_limits_are_transient()
    {
        var error = ChdbErrors.FromEngineText(
            "Code: 241. DB::Exception: Code: 241. DB::Exception: Query memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)",
            new ClickHouseQuery("SELECT 1"), []);

        Assert.Equal("Query memory limit exceeded.", error.EngineMessage);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public void Secrets_are_removed_before_anything_else_sees_the_text()
    {
        var error = ChdbErrors.FromEngineText(
            "Code: 457. DB::Exception: Value s3cr\\et cannot be parsed. (BAD_QUERY_PARAMETER)",
            new ClickHouseQuery("SELECT 1"), ["s3cr\\et", @"s3cr\\et"]);

        Assert.DoesNotContain("s3cr", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", error.EngineMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_that_is_not_an_engine_error_keeps_code_zero()
    {
        var error = ChdbErrors.FromEngineText("something odd", new ClickHouseQuery("SELECT 1"), []);

        Assert.Equal(0, error.Code);
        Assert.IsType<ClickHouseException>(error);
    }
}
