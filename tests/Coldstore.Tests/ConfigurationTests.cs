using Coldstore.Archive.FileSystem;
using Coldstore.Archive.S3;
using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Http;
using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coldstore.Tests;

/// <summary>
/// Reading the configuration: the adapter each value picks (each adapter reading its own value), the embedded defaults,
/// flags over variables, a configuration section with the same keys, and refusals that name the setting as it was given
/// and quote the value with any password masked.
/// </summary>
public sealed class ConfigurationTests
{
    private const string WorkingDirectory = "/srv/app";

    private static ColdstoreConfiguration Read(params (string Name, string? Value)[] environment) =>
        ColdstoreConfiguration.Read(environment.ToDictionary(e => e.Name, e => e.Value), null, WorkingDirectory);

    private static ColdstoreConfiguration FromSection(params (string Key, string? Value)[] pairs) =>
        ColdstoreConfiguration.FromConfiguration(
            new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => KeyValuePair.Create($"Coldstore:{p.Key}", p.Value))).Build().GetSection("Coldstore"),
            WorkingDirectory);

    [Fact]
    public void With_nothing_set_everything_is_embedded_under_dot_coldstore()
    {
        var configuration = Read();

        Assert.Equal(new ChdbConnector("/srv/app/.coldstore/chdb"), configuration.ClickHouse);
        Assert.Equal(new SqliteStateConnector("/srv/app/.coldstore/state.db"), configuration.State);
        Assert.Equal(new FileSystemArchiveConnector("/srv/app/.coldstore/archive"), configuration.Archive);
        Assert.Equal("default", configuration.Settings.Tables.Database);
    }

    [Fact]
    public void Relative_embedded_paths_resolve_against_the_working_directory()
    {
        var configuration = Read(("COLDSTORE_CLICKHOUSE", "embedded:data/ch"), ("COLDSTORE_STATE", "sqlite:/var/lib/cs.db"), ("COLDSTORE_ARCHIVE", "file:cold"));

        Assert.Equal(new ChdbConnector("/srv/app/data/ch"), configuration.ClickHouse);
        Assert.Equal(new SqliteStateConnector("/var/lib/cs.db"), configuration.State);
        Assert.Equal(new FileSystemArchiveConnector("/srv/app/cold"), configuration.Archive);
    }

    [Fact]
    public void A_flag_wins_over_the_environment_and_is_named_in_a_refusal()
    {
        var configuration = ColdstoreConfiguration.Read(
            new Dictionary<string, string?> { ["COLDSTORE_ARCHIVE"] = "file:/a", ["COLDSTORE_LEASE_SECONDS"] = "30" },
            new Dictionary<string, string?> { ["Archive"] = "s3://bucket/x" },
            WorkingDirectory);
        Assert.Equal(("bucket", "x"), (Assert.IsType<S3ArchiveOptions>(configuration.Archive).Bucket, ((S3ArchiveOptions)configuration.Archive).Prefix));
        Assert.Equal(TimeSpan.FromSeconds(30), configuration.Settings.LeaseDuration);

        var error = Assert.Throws<ConfigurationException>(() => ColdstoreConfiguration.Read(
            new Dictionary<string, string?> { ["COLDSTORE_LEASE_SECONDS"] = "30" },
            new Dictionary<string, string?> { ["LeaseSeconds"] = "2" },
            WorkingDirectory));
        Assert.Equal("--lease-seconds", error.Setting);
        Assert.StartsWith("--lease-seconds='2' is not valid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_configuration_section_fills_the_same_settings_and_refusals_name_its_keys()
    {
        var configuration = FromSection(
            ("ClickHouse", "https://admin:s3cret@ch.example:8443/dittofeed"),
            ("State", "postgres://df:pw@db.internal/dittofeed"),
            ("Archive", "s3://cold-events/prod"),
            ("S3:Endpoint", "http://minio:9000"),
            ("S3:Region", "eu-west-3"),
            ("S3:AccessKeyId", "AKIDCONFIG"),
            ("S3:SecretAccessKey", "SECRETCONFIG"),
            ("Database", "dittofeed"),
            ("LeaseSeconds", "20"),
            ("Worker:Concurrency", "6"),
            ("Worker:PollSeconds", "2.5"));

        Assert.IsType<ClickHouseHttpConnector>(configuration.ClickHouse);
        Assert.Equal("Postgres db.internal:5432/dittofeed", configuration.State.Description);
        var s3 = Assert.IsType<S3ArchiveOptions>(configuration.Archive);
        Assert.Equal(("cold-events", "prod", new Uri("http://minio:9000"), "eu-west-3"), (s3.Bucket, s3.Prefix, s3.ServiceUrl, s3.Region));
        Assert.Equal("AKIDCONFIG", s3.Credentials?.AccessKeyId);
        Assert.Equal(("dittofeed", TimeSpan.FromSeconds(20), 6, TimeSpan.FromSeconds(2.5)),
            (configuration.Settings.Tables.Database, configuration.Settings.LeaseDuration, configuration.Settings.WorkerConcurrency, configuration.Settings.WorkerPollInterval));
        Assert.DoesNotContain("s3cret", configuration.ClickHouse.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETCONFIG", s3.ToString(), StringComparison.Ordinal);

        var error = Assert.Throws<ConfigurationException>(() => FromSection(("Worker:Concurrency", "65")));
        Assert.Equal("Coldstore:Worker:Concurrency", error.Setting);
        Assert.Contains("Coldstore:Worker:Concurrency='65'", error.Message, StringComparison.Ordinal);
        var region = Assert.Throws<ConfigurationException>(() => FromSection(("Archive", "s3://cold-events"), ("S3:Region", "US East 1")));
        Assert.Equal("Coldstore:S3:Region", region.Setting);
        Assert.Contains("Coldstore:S3:Region 'US East 1' is not a region name", region.Message, StringComparison.Ordinal);
        var forClickHouse = Assert.Throws<ConfigurationException>(() => FromSection(("Archive", "s3://cold-events"), ("S3:EndpointForClickHouse", "http://minio:9000")));
        Assert.Equal("Coldstore:S3:EndpointForClickHouse", forClickHouse.Setting);
        var half = Assert.Throws<ConfigurationException>(() => FromSection(("Archive", "s3://cold-events"), ("S3:AccessKeyId", "AKIDCONFIG")));
        Assert.Equal("Coldstore:S3:AccessKeyId", half.Setting);
        Assert.DoesNotContain("AKIDCONFIG", half.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_host_resolves_relative_paths_against_its_content_root_and_opens_nothing_to_read_its_settings()
    {
        var root = Path.Combine(Path.GetTempPath(), $"coldstore-content-root-{Guid.NewGuid():N}");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = root });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coldstore:ClickHouse"] = "embedded:data/chdb",
            ["Coldstore:State"] = "sqlite:state/coldstore.db",
            ["Coldstore:Archive"] = "file:cold",
        });
        builder.Services.AddColdstore(builder.Configuration.GetSection("Coldstore"));
        using var host = builder.Build();

        var configuration = host.Services.GetRequiredService<ColdstoreConfiguration>();

        Assert.Equal(new ChdbConnector(Path.Combine(root, "data", "chdb")), configuration.ClickHouse);
        Assert.Equal(new SqliteStateConnector(Path.Combine(root, "state", "coldstore.db")), configuration.State);
        Assert.Equal(new FileSystemArchiveConnector(Path.Combine(root, "cold")), configuration.Archive);
        Assert.False(Directory.Exists(root), "reading the settings created something");
    }

    [Fact]
    public void Every_setting_has_one_key_one_variable_and_one_flag_and_the_section_knows_them_all()
    {
        var definitions = ColdstoreConfiguration.Definitions;

        Assert.Equal(definitions.Count, definitions.Select(d => d.Key).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Equal(definitions.Count(d => d.Variable is not null), definitions.Select(d => d.Variable).OfType<string>().Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(definitions.Count(d => d.Flag is not null), definitions.Select(d => d.Flag).OfType<string>().Distinct(StringComparer.Ordinal).Count());
        Assert.All(definitions, d => Assert.False(string.IsNullOrWhiteSpace(d.Description), d.Key));
        // The three adapter choices list the forms their adapters accept.
        Assert.Contains(ChdbConnector.AcceptedForm, definitions.Single(d => d.Key == "ClickHouse").Description, StringComparison.Ordinal);
        Assert.Contains(PostgresStateConnector.AcceptedForm, definitions.Single(d => d.Key == "State").Description, StringComparison.Ordinal);
        Assert.Contains(S3ArchiveOptions.AcceptedForm, definitions.Single(d => d.Key == "Archive").Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3://my-bucket", "my-bucket", "")]
    [InlineData("s3://my-bucket/", "my-bucket", "")]
    [InlineData("s3://my-bucket/cold/events", "my-bucket", "cold/events")]
    [InlineData("s3://my.bucket-1/a/", "my.bucket-1", "a")]
    public void S3_archives_split_into_bucket_and_prefix(string value, string bucket, string prefix)
    {
        var s3 = Assert.IsType<S3ArchiveOptions>(Read(("COLDSTORE_ARCHIVE", value)).Archive);

        Assert.Equal((bucket, prefix), (s3.Bucket, s3.Prefix));
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
        var clickHouse = Assert.IsType<ClickHouseHttpConnector>(Read(("COLDSTORE_CLICKHOUSE", "https://admin:s3cret@ch.example:8443/dittofeed")).ClickHouse);

        Assert.Equal("https://admin:s3cret@ch.example:8443/dittofeed", clickHouse.Url);
        Assert.DoesNotContain("s3cret", clickHouse.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", clickHouse.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("clickhouse://admin:hunter2@host:9000")]
    [InlineData("embedded:")]
    [InlineData("localhost:8123")]
    [InlineData("http://admin:hunter2@host:8123/a/b")]
    public void A_bad_clickhouse_setting_is_refused_with_the_password_masked(string value)
    {
        var error = Assert.Throws<ConfigurationException>(() => Read(("COLDSTORE_CLICKHOUSE", value)));

        Assert.Equal("COLDSTORE_CLICKHOUSE", error.Setting);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.Contains(value.StartsWith("http", StringComparison.Ordinal) ? "http://host:8123" : "embedded:<directory>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_postgres_url_becomes_an_npgsql_connection_string()
    {
        var state = Assert.IsType<PostgresStateConnector>(Read(("COLDSTORE_STATE", "postgresql://df:p%40ss;w@db.internal:5433/dittofeed?sslmode=require")).State);

        var parsed = new Npgsql.NpgsqlConnectionStringBuilder(state.ConnectionString);
        Assert.Equal(("db.internal", 5433, "dittofeed", "df", "p@ss;w", Npgsql.SslMode.Require),
            (parsed.Host, parsed.Port, parsed.Database, parsed.Username, parsed.Password, parsed.SslMode));
        Assert.DoesNotContain("p@ss", state.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_npgsql_connection_string_is_accepted_and_a_malformed_one_refused_without_its_password()
    {
        var state = Assert.IsType<PostgresStateConnector>(Read(("COLDSTORE_STATE", "Host=localhost;Database=df;Username=u;Password=pw")).State);
        Assert.Equal(("localhost", "df", "u", "pw"), Parsed(state.ConnectionString));

        var error = Assert.Throws<ConfigurationException>(() => Read(("COLDSTORE_STATE", "Host=localhost;Password=topsecret;Bogus Keyword=1")));
        Assert.Equal("COLDSTORE_STATE", error.Setting);
        Assert.DoesNotContain("topsecret", error.Message, StringComparison.Ordinal);

        static (string?, string?, string?, string?) Parsed(string connectionString)
        {
            var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return (builder.Host, builder.Database, builder.Username, builder.Password);
        }
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
    [InlineData("COLDSTORE_S3_ENDPOINT", "ftp://localhost:9000")]
    [InlineData("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "ftp://minio:9000")]
    [InlineData("COLDSTORE_CLICKHOUSE_DATABASE", "drop table")]
    [InlineData("COLDSTORE_S3_NAMED_COLLECTION", "a-b")]
    [InlineData("COLDSTORE_S3_OUTAGE_SECONDS", "1")]
    public void Other_malformed_settings_are_refused_by_name(string name, string value)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["COLDSTORE_ARCHIVE"] = "s3://bucket",
            ["COLDSTORE_S3_ENDPOINT"] = "http://localhost:9010",
            [name] = value,
        };

        var error = Assert.Throws<ConfigurationException>(() => ColdstoreConfiguration.Read(environment, null, WorkingDirectory));

        Assert.Equal(name, error.Setting);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoints_for_coldstore_and_for_clickhouse_are_separate()
    {
        var s3 = Assert.IsType<S3ArchiveOptions>(Read(
            ("COLDSTORE_ARCHIVE", "s3://bucket"), ("COLDSTORE_S3_ENDPOINT", "http://localhost:9010"), ("COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE", "http://minio:9000")).Archive);

        Assert.Equal(new Uri("http://localhost:9010"), s3.ServiceUrl);
        Assert.Equal(new Uri("http://minio:9000"), s3.ClickHouseEndpoint);
    }

    [Fact]
    public void The_region_falls_back_to_aws_default_region()
    {
        var s3 = Assert.IsType<S3ArchiveOptions>(Read(("COLDSTORE_ARCHIVE", "s3://bucket"), ("AWS_DEFAULT_REGION", "ap-south-1")).Archive);

        Assert.Equal("ap-south-1", s3.Region);
    }
}
