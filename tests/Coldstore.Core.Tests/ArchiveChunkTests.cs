using System.Text;
using Coldstore.Domain;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Core.Tests;

public sealed class ArchiveChunkTests
{
    private static readonly EventTables Tables = new("dittofeed");
    private static readonly Guid Workspace = Guid.Parse("11111111-2222-4333-8444-555555555555");
    private static readonly DateTime Cutoff = new(2024, 6, 4, 5, 6, 7, 890, DateTimeKind.Utc);

    private static DateTime Month(int year, int month) => new(year, month, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void Small_consecutive_months_share_a_chunk_and_a_large_month_is_split_into_hash_buckets()
    {
        var chunks = ArchiveChunk.Plan([(202311, 400), (202312, 500), (202401, 300), (202402, 2_500), (202404, 10)], chunkRows: 1_000);

        Assert.Equal(
        [
            new ArchiveChunk(Month(2023, 11), Month(2024, 1), 0, 1),
            new ArchiveChunk(Month(2024, 1), Month(2024, 2), 0, 1),
            new ArchiveChunk(Month(2024, 2), Month(2024, 3), 0, 3),
            new ArchiveChunk(Month(2024, 2), Month(2024, 3), 1, 3),
            new ArchiveChunk(Month(2024, 2), Month(2024, 3), 2, 3),
            new ArchiveChunk(Month(2024, 4), Month(2024, 5), 0, 1),
        ], chunks);
    }

    [Theory]
    [InlineData(1_000, 1)]
    [InlineData(1_001, 2)]
    [InlineData(10_000_000, 10_000)]
    public void A_month_gets_as_many_buckets_as_chunks_it_needs(long rows, int buckets)
    {
        var chunks = ArchiveChunk.Plan([(202402, rows)], chunkRows: 1_000);

        Assert.Equal(buckets, chunks.Count);
        Assert.All(chunks, c => Assert.Equal(buckets, c.Buckets));
        Assert.Equal(Enumerable.Range(0, buckets), chunks.Select(c => c.Bucket));
    }

    [Fact]
    public void Every_month_is_in_exactly_one_chunk_range()
    {
        var random = new Random(7);
        var months = Enumerable.Range(0, 40).Select(i => (Month: ((2020 + (i / 12)) * 100) + (i % 12) + 1, Rows: (long)random.Next(1, 3_000))).ToList();

        var chunks = ArchiveChunk.Plan(months, chunkRows: 1_000);

        foreach (var (month, rows) in months)
        {
            var start = Month(month / 100, month % 100);
            var holding = chunks.Where(c => c.From <= start && start < c.Until).ToList();
            Assert.NotEmpty(holding);
            Assert.Single(holding.Select(c => (c.From, c.Until)).Distinct());
            Assert.Equal(Enumerable.Range(0, holding[0].Buckets), holding.Select(c => c.Bucket));
            Assert.True(holding[0].Buckets == 1 || rows > 1_000, $"only a month over the chunk size is split ({month}: {rows})");
        }

        Assert.All(chunks.Where(c => c.Buckets == 1), c => Assert.True(
            months.Where(m => Month(m.Month / 100, m.Month % 100) >= c.From && Month(m.Month / 100, m.Month % 100) < c.Until).Sum(m => m.Rows) <= 1_000
            || c.Until == c.From.AddMonths(1)));
    }

    [Fact]
    public void Months_out_of_order_or_not_months_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ArchiveChunk.Plan([(202402, 1), (202401, 1)], 10));
        Assert.Throws<ArgumentException>(() => ArchiveChunk.Plan([(202413, 1)], 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => ArchiveChunk.Plan([(202401, 1)], 0));
        Assert.Empty(ArchiveChunk.Plan([], 10));
    }

    [Fact]
    public void The_persisted_text_round_trips_and_bad_text_is_refused()
    {
        var chunk = new ArchiveChunk(Month(2024, 2), Month(2024, 3), 4, 9);

        Assert.Equal(chunk, ArchiveChunk.Parse(chunk.ToText()));
        Assert.Equal("2024-02 bucket 5/9", chunk.ToString());
        Assert.Equal("2023-11..2024-01", new ArchiveChunk(Month(2023, 11), Month(2024, 2), 0, 1).ToString());
        Assert.Throws<FormatException>(() => ArchiveChunk.Parse("v1 10 5 0 1"));
        Assert.Throws<FormatException>(() => ArchiveChunk.Parse("v1 5 10 3 3"));
        Assert.Throws<FormatException>(() => ArchiveChunk.Parse("v2 5 10 0 1"));
        Assert.Throws<FormatException>(() => ArchiveChunk.Parse("v1 5 10 0"));
    }

    [Fact]
    public void A_chunk_narrows_every_statement_by_its_range_and_bucket_through_parameters()
    {
        var chunk = new ArchiveChunk(Month(2024, 2), Month(2024, 3), 4, 9);
        ClickHouseQuery[] statements =
        [
            ArchiveSql.CopyToArchive(Tables, Workspace, Cutoff, TableFunction(), TimeSpan.FromMinutes(1), chunk),
            ArchiveSql.RestoreInsert(Tables, Workspace, Cutoff, TableFunction(), TimeSpan.FromMinutes(1), chunk),
            ArchiveSql.HotSummary(Tables, Workspace, Cutoff, chunk),
            ArchiveSql.InternalSummary(Tables, Workspace, Cutoff, chunk),
            ArchiveSql.CountRows(Tables, Workspace, Cutoff, chunk),
            .. Enum.GetValues<HotTable>().SelectMany(table => new[]
            {
                BoundedDeleteSql.PartSummaries(Tables, table, Workspace, Cutoff, chunk),
                BoundedDeleteSql.DeleteInParts(Tables, table, Workspace, Cutoff, ["all_1_1_0"], synchronous: false, chunk),
                BoundedDeleteSql.DeleteInPartByHash(Tables, table, Workspace, Cutoff, "all_1_1_0", [1UL], keep: false, chunk),
                BoundedDeleteSql.ArchivedRowsByPart(Tables, table, Workspace, Cutoff, TableFunction(), TimeSpan.FromMinutes(1), chunk),
                BoundedDeleteSql.HashesInPart(Tables, table, Workspace, Cutoff, "all_1_1_0", TableFunction(), archived: true, 10, TimeSpan.FromMinutes(1), chunk),
                BoundedDeleteSql.ArchivedRowsHot(Tables, table, Workspace, Cutoff, TableFunction(), TimeSpan.FromMinutes(1), chunk),
            }),
        ];

        foreach (var statement in statements)
        {
            Assert.Contains("processing_time >= {chunk_from:DateTime64(3, 'UTC')} AND processing_time < {chunk_until:DateTime64(3, 'UTC')}", statement.Sql, StringComparison.Ordinal);
            Assert.Contains($"{ArchiveSql.DerivedRowHash} % {{chunk_buckets:UInt32}} = {{chunk_bucket:UInt32}}", statement.Sql, StringComparison.Ordinal);
            Assert.Equal(Month(2024, 2), statement.Parameters.Single(p => p.Name == "chunk_from").Value);
            Assert.Equal(Month(2024, 3), statement.Parameters.Single(p => p.Name == "chunk_until").Value);
            Assert.Equal(4u, statement.Parameters.Single(p => p.Name == "chunk_bucket").Value);
            Assert.Equal(9u, statement.Parameters.Single(p => p.Name == "chunk_buckets").Value);
            Assert.DoesNotContain("2024-02", statement.Sql, StringComparison.Ordinal);
        }

        // A chunk of whole months has no bucket; an archive of every row neither range nor bucket.
        var months = ArchiveSql.HotSummary(Tables, Workspace, Cutoff, chunk with { Bucket = 0, Buckets = 1 });
        Assert.Contains("chunk_from", months.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain("chunk_bucket", months.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain(months.Parameters, p => p.Name.StartsWith("chunk_bucket", StringComparison.Ordinal));
        Assert.DoesNotContain("chunk_", ArchiveSql.HotSummary(Tables, Workspace, Cutoff).Sql, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_of_a_chunk_is_version_2_and_carries_the_chunk()
    {
        var chunk = new ArchiveChunk(Month(2024, 2), Month(2024, 3), 4, 9);
        var manifest = Manifest(chunk);

        var parsed = ArchiveManifest.Parse(manifest.ToJson());

        Assert.Equal(2, parsed.FormatVersion);
        Assert.Equal(chunk, parsed.Chunk);
        var plain = ArchiveManifest.Parse(Manifest(null).ToJson());
        Assert.Equal(1, plain.FormatVersion);
        Assert.Null(plain.Chunk);
        Assert.DoesNotContain("chunk", Encoding.UTF8.GetString(Manifest(null).ToJson()), StringComparison.Ordinal);
        var forged = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(manifest.ToJson()).Replace("\"formatVersion\": 2", "\"formatVersion\": 1", StringComparison.Ordinal));
        Assert.Throws<FormatException>(() => ArchiveManifest.Parse(forged));
    }

    private static ArchiveManifest Manifest(ArchiveChunk? chunk) => new()
    {
        FormatVersion = ArchiveManifest.FormatVersionFor(chunk),
        WorkspaceId = Workspace,
        ArchiveId = Guid.NewGuid(),
        Cutoff = Cutoff,
        SourceTable = "dittofeed.user_events_v2",
        Columns = SchemaSql.StoredColumns,
        Format = "Parquet",
        Objects = [new ManifestObject("month=202402.parquet", 10)],
        RowCount = 3,
        Checksum = "42",
        ChecksumExpression = $"sum({ArchiveSql.RowHash})",
        InternalEventRows = 1,
        CreatedAt = Cutoff,
        Chunk = chunk,
    };

    private static TableFunctionExpression TableFunction() => new("file({archive_path:String}, 'Parquet')", [new("archive_path", "String", "/x/*.parquet")], new Dictionary<string, string>());
}
