using Coldstore.Configuration;
using Coldstore.Archive.S3;
using Coldstore.Errors;

namespace Coldstore.Archive.Tests;

/// <summary>S3 options and the <c>s3://</c> parser: pure, no service needed.</summary>
public sealed class S3ArchiveOptionsTests
{
    [Theory]
    [InlineData("s3://archive", "archive", "")]
    [InlineData("s3://archive/", "archive", "")]
    [InlineData("s3://archive/coldstore/prod", "archive", "coldstore/prod")]
    [InlineData("s3://archive/coldstore/prod/", "archive", "coldstore/prod")]
    [InlineData("S3://my.bucket-1/x", "my.bucket-1", "x")]
    public void The_archive_uri_parses_into_bucket_and_prefix(string value, string bucket, string prefix)
    {
        Assert.Equal((bucket, prefix), S3ArchiveOptions.ParseArchiveUri(value));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("archive/prefix", "does not start with 's3://'")]
    [InlineData("file:/data", "does not start with 's3://'")]
    [InlineData("s3://", "bucket name is missing")]
    [InlineData("s3:///prefix", "bucket name is missing")]
    [InlineData("s3://Archive", "lowercase")]
    [InlineData("s3://ab", "3 to 63")]
    [InlineData("s3://under_score/x", "lowercase")]
    [InlineData("s3://archive/a/../b", "'..' segment")]
    [InlineData("s3://archive/a//b", "empty segment")]
    [InlineData("s3://archive/a\\b", "backslash")]
    [InlineData("s3://archive/ws*", "glob")]
    [InlineData("s3://archive/x?versionId=1", "'?' or '#'")]
    public void A_malformed_archive_uri_names_the_setting_the_value_and_the_accepted_forms(string value, string reason)
    {
        var e = Assert.Throws<ConfigurationException>(() => S3ArchiveOptions.ParseArchiveUri(value));

        Assert.Equal("COLDSTORE_ARCHIVE", e.Setting);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Contains("s3://bucket/prefix", e.Message, StringComparison.Ordinal);
        Assert.Contains("file:/absolute/dir", e.Message, StringComparison.Ordinal);
        if (value.Length > 0)
        {
            Assert.Contains($"'{value}'", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Settings_build_options_with_defaults()
    {
        var options = S3ArchiveOptions.FromSettings(Settings(("COLDSTORE_ARCHIVE", "s3://archive/prod")));

        Assert.Equal("archive", options.Bucket);
        Assert.Equal("prod", options.Prefix);
        Assert.Null(options.ServiceUrl);
        Assert.Null(options.ClickHouseEndpoint);
        Assert.Equal("us-east-1", options.Region);
        Assert.Null(options.NamedCollection);
        Assert.Null(options.Credentials);
        Assert.False(options.Anonymous);
    }

    [Fact]
    public void Settings_read_both_endpoints_the_region_and_the_named_collection()
    {
        var options = S3ArchiveOptions.FromSettings(Settings(
            ("COLDSTORE_ARCHIVE", "s3://archive"),
            ("COLDSTORE_S3_ENDPOINT", "http://localhost:9010"),
            ("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "http://minio:9000"),
            ("AWS_REGION", "eu-west-3"),
            ("COLDSTORE_S3_NAMED_COLLECTION", "coldstore_s3")));

        Assert.Equal(new Uri("http://localhost:9010"), options.ServiceUrl);
        Assert.Equal(new Uri("http://minio:9000"), options.ClickHouseEndpoint);
        Assert.Equal("eu-west-3", options.Region);
        Assert.Equal("coldstore_s3", options.NamedCollection);
    }

    [Theory]
    [InlineData("COLDSTORE_S3_ENDPOINT", "localhost:9000")]
    [InlineData("COLDSTORE_S3_ENDPOINT", "ftp://localhost:9000")]
    [InlineData("COLDSTORE_S3_ENDPOINT", "http://localhost:9000/bucket")]
    [InlineData("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "http://minio:9000/?x=1")]
    [InlineData("AWS_REGION", "US East 1")]
    [InlineData("COLDSTORE_S3_NAMED_COLLECTION", "bad-name")]
    public void A_bad_setting_is_named_and_quoted(string setting, string value)
    {
        var settings = new Dictionary<string, string>
        {
            ["COLDSTORE_ARCHIVE"] = "s3://archive",
            ["COLDSTORE_S3_ENDPOINT"] = "http://localhost:9000",
            [setting] = value,
        };

        var e = Assert.Throws<ConfigurationException>(() => S3ArchiveOptions.FromSettings(Settings([.. settings.Select(s => (s.Key, s.Value))])));

        Assert.Equal(setting, e.Setting);
        Assert.Contains(setting, e.Message, StringComparison.Ordinal);
        if (setting != "COLDSTORE_S3_ENDPOINT" || value.Contains("://", StringComparison.Ordinal))
        {
            Assert.Contains(value.TrimEnd('/'), e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_endpoint_with_a_password_is_refused_without_quoting_it()
    {
        var e = Assert.Throws<ConfigurationException>(() => S3ArchiveOptions.FromSettings(Settings(
            ("COLDSTORE_ARCHIVE", "s3://archive"),
            ("COLDSTORE_S3_ENDPOINT", "http://user:TOPSECRET@localhost:9000"))));

        Assert.Equal("COLDSTORE_S3_ENDPOINT", e.Setting);
        Assert.DoesNotContain("TOPSECRET", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_endpoint_for_clickhouse_without_one_for_coldstore_is_refused()
    {
        var options = new S3ArchiveOptions { Bucket = "archive", ClickHouseEndpoint = new Uri("http://minio:9000") };

        var e = Assert.Throws<ConfigurationException>(options.Validate);

        Assert.Equal("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", e.Setting);
    }

    [Fact]
    public void Incomplete_or_contradictory_credentials_are_refused_without_quoting_them()
    {
        var half = new S3ArchiveOptions { Bucket = "archive", Credentials = new S3Credentials("AKIDVISIBLE", "") };
        var both = new S3ArchiveOptions { Bucket = "archive", Credentials = new S3Credentials("AKIDVISIBLE", "TOPSECRET"), Anonymous = true };

        var e1 = Assert.Throws<ConfigurationException>(half.Validate);
        var e2 = Assert.Throws<ConfigurationException>(both.Validate);

        Assert.DoesNotContain("AKIDVISIBLE", e1.Message + e2.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("TOPSECRET", e2.Message, StringComparison.Ordinal);
        Assert.Equal("S3Credentials(***)", both.Credentials!.ToString());
    }

    [Fact]
    public void With_a_named_collection_no_credential_reaches_the_query()
    {
        using var store = S3ArchiveStore.Create(new S3ArchiveOptions
        {
            Bucket = "archive",
            Prefix = "prod",
            ServiceUrl = new Uri("http://localhost:9010"),
            ClickHouseEndpoint = new Uri("http://minio:9000"),
            NamedCollection = "coldstore_s3",
            Credentials = new S3Credentials("AKIDVISIBLE", "TOPSECRET"),
        });

        var expression = store.TableFunction("ws1/{_partition_id}.parquet", "Parquet", "out");

        Assert.Equal("s3(coldstore_s3, url = {out_url:String}, format = 'Parquet')", expression.Sql);
        var url = Assert.Single(expression.Parameters);
        // The URL uses the endpoint as ClickHouse sees it, path style.
        Assert.Equal("http://minio:9000/archive/prod/ws1/{_partition_id}.parquet", url.Value);
        Assert.False(url.IsSecret);
        Assert.Equal("s3://archive/prod/ at http://localhost:9010 (ClickHouse uses http://minio:9000)", store.Description);
    }

    [Fact]
    public void Anonymous_access_uses_nosign()
    {
        using var store = S3ArchiveStore.Create(new S3ArchiveOptions { Bucket = "public-data", Anonymous = true });

        var expression = store.TableFunction("a.parquet", "Parquet");

        Assert.Equal("s3({store_url:String}, NOSIGN, 'Parquet')", expression.Sql);
        Assert.Equal("https://public-data.s3.us-east-1.amazonaws.com/a.parquet", Assert.Single(expression.Parameters).Value);
        Assert.Equal("s3://public-data/ at AWS S3 (us-east-1)", store.Description);
    }

    [Theory]
    [InlineData("archive", "ws 1/ü%.parquet", "https://archive.s3.eu-west-1.amazonaws.com/ws%201/%C3%BC%25.parquet")]
    [InlineData("archive", "ws=1/{a,b}/*.parquet", "https://archive.s3.eu-west-1.amazonaws.com/ws=1/{a,b}/*.parquet")]
    [InlineData("my.archive", "x/y+z.parquet", "https://s3.eu-west-1.amazonaws.com/my.archive/x/y+z.parquet")]
    public void On_aws_the_url_is_virtual_hosted_and_percent_encoded_except_for_globs(string bucket, string pattern, string expected)
    {
        using var store = S3ArchiveStore.Create(new S3ArchiveOptions { Bucket = bucket, Region = "eu-west-1", Anonymous = true });

        Assert.Equal(expected, store.ClickHouseUrl(pattern));
    }

    private static SettingSource Settings(params (string Name, string Value)[] settings) =>
        SettingSource.FromEnvironment(settings.ToDictionary(s => s.Name, s => (string?)s.Value, StringComparer.Ordinal), null, "/");
}
