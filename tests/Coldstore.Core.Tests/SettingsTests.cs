using Coldstore.Configuration;
using Coldstore.Errors;

namespace Coldstore.Core.Tests;

public sealed class SettingsTests
{
    private const string WorkingDirectory = "/srv/app";

    private static ColdstoreSettings Read(params (string Name, string? Value)[] environment) =>
        ColdstoreSettings.Read(environment.ToDictionary(e => e.Name, e => e.Value), new Dictionary<string, string?>(), WorkingDirectory);

    [Fact]
    public void With_nothing_set_everything_is_embedded_under_dot_coldstore()
    {
        var settings = Read();

        Assert.Equal(new ClickHouseTarget.Embedded("/srv/app/.coldstore/chdb"), settings.ClickHouse);
        Assert.Equal(new StateTarget.Sqlite("/srv/app/.coldstore/state.db"), settings.State);
        Assert.Equal(new ArchiveTarget.LocalDirectory("/srv/app/.coldstore/archive"), settings.Archive);
        Assert.Equal("default", settings.Tables.Database);
        Assert.Null(settings.S3Endpoint);
    }

    [Fact]
    public void Relative_embedded_paths_resolve_against_the_working_directory()
    {
        var settings = Read(("COLDSTORE_CLICKHOUSE", "embedded:data/ch"), ("COLDSTORE_STATE", "sqlite:/var/lib/cs.db"), ("COLDSTORE_ARCHIVE", "file:cold"));

        Assert.Equal(new ClickHouseTarget.Embedded("/srv/app/data/ch"), settings.ClickHouse);
        Assert.Equal(new StateTarget.Sqlite("/var/lib/cs.db"), settings.State);
        Assert.Equal(new ArchiveTarget.LocalDirectory("/srv/app/cold"), settings.Archive);
    }

    [Fact]
    public void A_cli_override_wins_over_the_environment()
    {
        var settings = ColdstoreSettings.Read(
            new Dictionary<string, string?> { ["COLDSTORE_ARCHIVE"] = "file:/a" },
            new Dictionary<string, string?> { ["COLDSTORE_ARCHIVE"] = "s3://bucket/x" },
            WorkingDirectory);

        Assert.Equal(new ArchiveTarget.S3("bucket", "x/"), settings.Archive);
    }

    [Theory]
    [InlineData("s3://my-bucket", "my-bucket", "")]
    [InlineData("s3://my-bucket/", "my-bucket", "")]
    [InlineData("s3://my-bucket/cold/events", "my-bucket", "cold/events/")]
    [InlineData("s3://my.bucket-1/a/", "my.bucket-1", "a/")]
    public void S3_archives_split_into_bucket_and_prefix(string value, string bucket, string prefix)
    {
        Assert.Equal(new ArchiveTarget.S3(bucket, prefix), Read(("COLDSTORE_ARCHIVE", value)).Archive);
    }

    [Theory]
    [InlineData("s3://B/x")]
    [InlineData("s3://ab")]
    [InlineData("s3://bucket/a//b")]
    [InlineData("s3://bucket/a/../b")]
    [InlineData("gs://bucket")]
    [InlineData("file:")]
    public void A_bad_archive_names_the_setting_and_quotes_the_value(string value)
    {
        var error = Assert.Throws<ConfigurationException>(() => Read(("COLDSTORE_ARCHIVE", value)));

        Assert.Equal("COLDSTORE_ARCHIVE", error.Setting);
        Assert.Contains($"'{value}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("s3://bucket", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_url_is_kept_and_its_password_never_printed()
    {
        var settings = Read(("COLDSTORE_CLICKHOUSE", "https://admin:s3cret@ch.example:8443/dittofeed"));

        Assert.Equal(new ClickHouseTarget.Server("https://admin:s3cret@ch.example:8443/dittofeed"), settings.ClickHouse);
        Assert.DoesNotContain("s3cret", settings.ClickHouse.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("clickhouse://admin:hunter2@host:9000")]
    [InlineData("embedded:")]
    [InlineData("localhost:8123")]
    public void A_bad_clickhouse_setting_is_refused_with_the_password_masked(string value)
    {
        var error = Assert.Throws<ConfigurationException>(() => Read(("COLDSTORE_CLICKHOUSE", value)));

        Assert.Equal("COLDSTORE_CLICKHOUSE", error.Setting);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.Contains("embedded:<directory>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_postgres_url_becomes_an_npgsql_connection_string()
    {
        var state = Assert.IsType<StateTarget.Postgres>(Read(("COLDSTORE_STATE", "postgresql://df:p%40ss;w@db.internal:5433/dittofeed?sslmode=require")).State);

        Assert.Equal("Host=db.internal;Port=5433;Database=dittofeed;Username=df;Password=\"p@ss;w\";SSL Mode=require", state.ConnectionString);
        Assert.DoesNotContain("p@ss", state.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_npgsql_connection_string_is_accepted_as_is()
    {
        var state = Assert.IsType<StateTarget.Postgres>(Read(("COLDSTORE_STATE", "Host=localhost;Database=df;Username=u;Password=pw")).State);

        Assert.Equal("Host=localhost;Database=df;Username=u;Password=pw", state.ConnectionString);
    }

    [Fact]
    public void An_unknown_state_form_is_refused_with_the_password_masked()
    {
        var error = Assert.Throws<ConfigurationException>(() => Read(("COLDSTORE_STATE", "mysql://root:topsecret@db/x")));

        Assert.Equal("COLDSTORE_STATE", error.Setting);
        Assert.DoesNotContain("topsecret", error.Message, StringComparison.Ordinal);
        Assert.Contains("sqlite:<file>", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("COLDSTORE_S3_ENDPOINT", "localhost:9000")]
    [InlineData("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "ftp://minio:9000")]
    [InlineData("COLDSTORE_CLICKHOUSE_DATABASE", "drop table")]
    [InlineData("COLDSTORE_S3_NAMED_COLLECTION", "a-b")]
    public void Other_malformed_settings_are_refused_by_name(string name, string value)
    {
        var error = Assert.Throws<ConfigurationException>(() => Read((name, value)));

        Assert.Equal(name, error.Setting);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoints_for_coldstore_and_for_clickhouse_are_separate()
    {
        var settings = Read(("COLDSTORE_S3_ENDPOINT", "http://localhost:9010"), ("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "http://minio:9000"));

        Assert.Equal(new Uri("http://localhost:9010"), settings.S3Endpoint);
        Assert.Equal(new Uri("http://minio:9000"), settings.S3EndpointForClickHouse);
    }
}
