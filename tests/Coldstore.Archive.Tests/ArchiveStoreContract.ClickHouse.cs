using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Archive.Tests;

/// <summary>The half of the contract ClickHouse (embedded chDB) exercises through the table-function expressions.</summary>
public abstract partial class ArchiveStoreContract
{
    [Fact]
    public async Task ClickHouse_writes_parquet_through_the_table_function_and_reads_it_back()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        var target = Store.TableFunction("ws1/part-1.parquet", "Parquet", "out");

        await clickHouse.ExecuteAsync(Export(target, from: 0, count: 1_000));

        var written = Assert.Single(await Store.ListAsync("ws1/"));
        Assert.Equal("ws1/part-1.parquet", written.Key);
        Assert.True(written.Size > 0, "the Parquet object is empty");
        Assert.Equal((1_000UL, 499_500UL), await CountAndSumAsync(clickHouse, "ws1/part-1.parquet"));
    }

    [Fact]
    public async Task Rerunning_an_export_with_the_write_settings_replaces_the_object_instead_of_adding_one()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        var target = Store.TableFunction("ws1/part-1.parquet", "Parquet", "out");
        await clickHouse.ExecuteAsync(Export(target, from: 0, count: 1_000));

        await clickHouse.ExecuteAsync(Export(target, from: 0, count: 1_000));

        Assert.Equal("ws1/part-1.parquet", Assert.Single(await Store.ListAsync("ws1/")).Key);
        Assert.Equal((1_000UL, 499_500UL), await CountAndSumAsync(clickHouse, "ws1/part-1.parquet"));
    }

    [Fact]
    public async Task A_glob_reads_several_objects_of_one_folder_and_not_its_look_alike_sibling()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws1/part-1.parquet", "Parquet"), from: 0, count: 10));
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws1/part-2.parquet", "Parquet"), from: 10, count: 10));
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws10/part-1.parquet", "Parquet"), from: 100, count: 5));

        Assert.Equal((20UL, 190UL), await CountAndSumAsync(clickHouse, "ws1/*.parquet"));
        Assert.Equal((25UL, 700UL), await CountAndSumAsync(clickHouse, "ws1*/*.parquet"));
    }

    [Fact]
    public async Task A_partitioned_export_writes_one_object_per_partition_and_a_rerun_replaces_them()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        var target = Store.TableFunction("ws1/{_partition_id}/data.parquet", "Parquet", "out");
        var export = new ClickHouseQuery(
                $"INSERT INTO FUNCTION {target.Sql} PARTITION BY concat('month=', toString(202401 + number % 3)) SELECT number FROM numbers(300)")
            .With(target.Parameters)
            .WithSettings(target.WriteSettings)
            .For("partitioned test export");

        await clickHouse.ExecuteAsync(export);
        await clickHouse.ExecuteAsync(export);

        Assert.Equal(
            ["ws1/month=202401/data.parquet", "ws1/month=202402/data.parquet", "ws1/month=202403/data.parquet"],
            (await Store.ListAsync("ws1/")).Select(o => o.Key));
        Assert.Equal((300UL, 44_850UL), await CountAndSumAsync(clickHouse, "ws1/*/data.parquet"));
    }

    [Fact]
    public async Task Objects_clickhouse_wrote_are_deleted_by_prefix()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws1/a.parquet", "Parquet"), from: 0, count: 10));
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws1/b.parquet", "Parquet"), from: 0, count: 10));

        Assert.Equal(2, await Store.DeletePrefixAsync("ws1/"));
        Assert.Empty(await Store.ListAsync(""));
    }

    [Fact]
    public async Task A_read_with_a_structure_reads_those_columns_as_those_types_and_no_rows_sum_to_zero()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();
        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws1/part-1.parquet", "Parquet", "out"), from: 0, count: 10));
        var source = Store.TableFunction("ws1/part-1.parquet", "Parquet", "src", "number UInt64");

        var row = Assert.Single(await clickHouse.QueryAsync(new ClickHouseQuery(
                $"SELECT toTypeName(number) AS type, sum(number) AS s, (SELECT sum(number) FROM {source.Sql} WHERE number > 100) AS none FROM {source.Sql}")
            .With(source.Parameters).For("archive test typed read")));

        // Named, the type is the structure's, whatever the server would infer (24.12 infers Nullable(UInt64)).
        Assert.Equal("UInt64", row.GetString("type"));
        Assert.Equal(45UL, row.GetUInt64("s"));
        Assert.Equal(0UL, row.GetUInt64("none"));
    }

    [Theory]
    [InlineData("a String', 'x")]
    [InlineData("a String) --")]
    [InlineData("a\\' String")]
    public void A_structure_that_could_end_its_literal_is_refused(string structure) =>
        Assert.Throws<ArgumentException>(() => Store.TableFunction("ws1/part-1.parquet", "Parquet", "src", structure));

    protected static ClickHouseQuery Export(TableFunctionExpression target, int from, int count) =>
        new ClickHouseQuery($"INSERT INTO FUNCTION {target.Sql} SELECT number FROM numbers({from}, {count})")
            .With(target.Parameters)
            .WithSettings(target.WriteSettings)
            .For("archive test export");

    protected async Task<(ulong Count, ulong Sum)> CountAndSumAsync(IClickHouseClient clickHouse, string keyPattern)
    {
        var source = Store.TableFunction(keyPattern, "Parquet", "src");
        var rows = await clickHouse.QueryAsync(
            new ClickHouseQuery($"SELECT count() AS n, sum(number) AS s FROM {source.Sql}").With(source.Parameters).For("archive test read-back"));
        var row = Assert.Single(rows);
        return (row.GetUInt64("n"), row.GetUInt64("s"));
    }
}
