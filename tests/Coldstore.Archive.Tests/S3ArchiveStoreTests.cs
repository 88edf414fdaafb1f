using System.Net;
using System.Net.Sockets;
using Coldstore.Archive.S3;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Testing;

namespace Coldstore.Archive.Tests;

/// <summary>The archive-store contract on S3 (s3rver), plus S3's own errors and credential handling.</summary>
[Collection(S3rverGroup.Name)]
public sealed class S3ArchiveStoreTests(S3rverFixture s3) : ArchiveStoreContract
{
    // One prefix for this class; each test adds its own below it.
    private static readonly string ClassPrefix = S3rverFixture.UniquePrefix(nameof(S3ArchiveStoreTests));

    private readonly string _prefix = ClassPrefix + Guid.NewGuid().ToString("N")[..8];

    protected override IArchiveStore CreateStore() => S3ArchiveStore.Create(Options());

    private S3ArchiveOptions Options(Uri? endpoint = null, S3Credentials? credentials = null, string? bucket = null) => new()
    {
        Bucket = bucket ?? s3.Bucket,
        Prefix = _prefix,
        ServiceUrl = endpoint ?? s3.Endpoint,
        Credentials = credentials ?? new S3Credentials(S3rverFixture.AccessKeyId, S3rverFixture.SecretAccessKey),
    };

    [Fact]
    public async Task Objects_live_under_the_configured_prefix_in_the_bucket()
    {
        await Store.WriteAsync("ws1/manifest.json", "{}"u8.ToArray());

        var onDisk = Path.Combine(s3.DataDirectory, s3.Bucket, _prefix, "ws1", "manifest.json._S3rver_object");
        Assert.True(File.Exists(onDisk), $"expected {onDisk}");
        // The body is stored as sent: no aws-chunked signatures inside.
        Assert.Equal("{}", await File.ReadAllTextAsync(onDisk));
    }

    [Fact]
    public async Task Listing_pages_through_small_pages_too()
    {
        var store = (S3ArchiveStore)Store;
        store.ListPageSize = 3;
        foreach (var i in Enumerable.Range(0, 10))
        {
            await Store.WriteAsync($"p/{i:D2}", new byte[i]);
        }

        var listed = await Store.ListAsync("p/");

        Assert.Equal(Enumerable.Range(0, 10).Select(i => new ArchiveObject($"p/{i:D2}", i)), listed);
    }

    [Fact]
    public void The_description_names_bucket_prefix_and_endpoint_but_no_credential()
    {
        using var store = S3ArchiveStore.Create(Options(credentials: new S3Credentials("AKIDVISIBLE", "TOPSECRET")));

        Assert.Equal($"s3://{s3.Bucket}/{_prefix}/ at {s3.Endpoint.GetLeftPart(UriPartial.Authority)}", store.Description);
        Assert.DoesNotContain("AKIDVISIBLE", store.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("TOPSECRET", store.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void The_table_function_passes_the_credentials_only_as_secret_parameters()
    {
        using var store = S3ArchiveStore.Create(Options(credentials: new S3Credentials("AKIDVISIBLE", "TOPSECRET", "SESSIONTOKEN")));

        var expression = store.TableFunction("ws1/*.parquet", "Parquet", "a");

        Assert.Equal("s3({a_url:String}, {a_access_key_id:String}, {a_secret_access_key:String}, {a_session_token:String}, 'Parquet')", expression.Sql);
        Assert.Equal(
            [
                new ClickHouseParameter("a_url", "String", $"{s3.Endpoint.GetLeftPart(UriPartial.Authority)}/{s3.Bucket}/{_prefix}/ws1/*.parquet"),
                new ClickHouseParameter("a_access_key_id", "String", "AKIDVISIBLE", IsSecret: true),
                new ClickHouseParameter("a_secret_access_key", "String", "TOPSECRET", IsSecret: true),
                new ClickHouseParameter("a_session_token", "String", "SESSIONTOKEN", IsSecret: true),
            ],
            expression.Parameters);
        Assert.Equal(new Dictionary<string, string> { ["s3_truncate_on_insert"] = "1" }, expression.WriteSettings);
        var logged = new ClickHouseQuery($"SELECT count() FROM {expression.Sql}").With(expression.Parameters).ToString();
        Assert.DoesNotContain("TOPSECRET", logged, StringComparison.Ordinal);
        Assert.DoesNotContain("SESSIONTOKEN", logged, StringComparison.Ordinal);
    }

    [Fact]
    public void The_table_function_takes_the_default_credential_chain_when_none_are_explicit()
    {
        var saved = (Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID"), Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY"));
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "AKIDFROMENV");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "SECRETFROMENV");
        try
        {
            using var store = S3ArchiveStore.Create(new S3ArchiveOptions { Bucket = s3.Bucket, Prefix = _prefix, ServiceUrl = s3.Endpoint });

            var expression = store.TableFunction("x.parquet", "Parquet");

            Assert.Equal(["AKIDFROMENV", "SECRETFROMENV"], expression.Parameters.Where(p => p.IsSecret).Select(p => (string)p.Value));
            Assert.DoesNotContain("SECRETFROMENV", expression.Sql, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", saved.Item1);
            Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", saved.Item2);
        }
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_transient_error_naming_the_endpoint_and_bucket()
    {
        var closed = new Uri($"http://127.0.0.1:{FreePort()}");
        using var store = S3ArchiveStore.Create(Options(endpoint: closed, credentials: new S3Credentials("AKID", "TOPSECRET")));

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => store.ListAsync("ws1/"));

        Assert.True(e.IsTransient);
        Assert.Equal("COLDSTORE_S3_ENDPOINT", e.Setting);
        Assert.Contains(closed.GetLeftPart(UriPartial.Authority), e.Message, StringComparison.Ordinal);
        Assert.Contains(s3.Bucket, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("TOPSECRET", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_bucket_is_a_configuration_error_naming_the_bucket()
    {
        using var store = S3ArchiveStore.Create(Options(bucket: "no-such-bucket-here"));

        var list = await Assert.ThrowsAsync<ConfigurationException>(() => store.ListAsync(""));
        var read = await Assert.ThrowsAsync<ConfigurationException>(() => store.ReadAsync("manifest.json"));
        var write = await Assert.ThrowsAsync<ConfigurationException>(() => store.WriteAsync("manifest.json", "x"u8.ToArray()));

        foreach (var e in new[] { list, read, write })
        {
            Assert.Equal("COLDSTORE_ARCHIVE", e.Setting);
            Assert.False(e.IsTransient);
            Assert.Contains("'no-such-bucket-here' does not exist", e.Message, StringComparison.Ordinal);
            Assert.Contains(s3.Endpoint.GetLeftPart(UriPartial.Authority), e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Refused_credentials_are_a_configuration_error_that_never_shows_the_secret()
    {
        // s3rver checks the key id, not the SigV4 signature: an unknown key id is what it refuses.
        using var store = S3ArchiveStore.Create(Options(credentials: new S3Credentials("UNKNOWNKEY", "TOPSECRET")));

        var e = await Assert.ThrowsAsync<ConfigurationException>(() => store.ReadAsync("manifest.json"));

        Assert.Equal("AWS_ACCESS_KEY_ID", e.Setting);
        Assert.Contains("InvalidAccessKeyId", e.Message, StringComparison.Ordinal);
        Assert.Contains(s3.Bucket, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("TOPSECRET", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_is_not_turned_into_an_engine_error()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.ListAsync("", cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.ReadAsync("x", cancelled.Token));
    }

    [Fact]
    public async Task ClickHouse_refusing_the_credentials_never_shows_the_secret()
    {
        // s3rver refuses an unknown key id (it does not check SigV4 signatures, so a wrong secret alone passes).
        const string secret = "TOPSECRET-3b1f9e";
        using var store = S3ArchiveStore.Create(Options(credentials: new S3Credentials("UNKNOWNKEY", secret)));
        var source = store.TableFunction("ws1/*.parquet", "Parquet");
        Assert.DoesNotContain(secret, source.Sql, StringComparison.Ordinal);
        await using var clickHouse = ChdbTestEngine.OpenClient();

        var e = await Assert.ThrowsAsync<ClickHouseException>(() => clickHouse.QueryAsync(
            new ClickHouseQuery($"SELECT count() FROM {source.Sql}").With(source.Parameters).For("read with refused credentials")));

        Assert.Equal(499, e.Code); // S3_ERROR
        Assert.Contains("InvalidAccessKeyId", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClickHouse_reaches_the_store_through_a_named_collection_without_any_secret_in_the_query()
    {
        var collection = $"coldstore_archive_test_{Guid.NewGuid():N}";
        await using var clickHouse = ChdbTestEngine.OpenClient();
        // Creating the collection is an administrator's one-off step; s3rver's well-known key is no secret.
        await clickHouse.ExecuteAsync(new ClickHouseQuery(
            $"CREATE NAMED COLLECTION {collection} AS access_key_id = '{S3rverFixture.AccessKeyId}', secret_access_key = '{S3rverFixture.SecretAccessKey}'"));
        try
        {
            using var store = S3ArchiveStore.Create(new S3ArchiveOptions
            {
                Bucket = s3.Bucket,
                Prefix = _prefix,
                ServiceUrl = s3.Endpoint,
                Credentials = new S3Credentials(S3rverFixture.AccessKeyId, S3rverFixture.SecretAccessKey),
                NamedCollection = collection,
            });
            var target = store.TableFunction("ws1/part-1.parquet", "Parquet");
            Assert.All(target.Parameters, p => Assert.False(p.IsSecret));

            await clickHouse.ExecuteAsync(Export(target, from: 0, count: 100));
            await clickHouse.ExecuteAsync(Export(target, from: 0, count: 100));

            var source = store.TableFunction("ws1/*.parquet", "Parquet");
            var count = await clickHouse.ScalarAsync(new ClickHouseQuery($"SELECT count() FROM {source.Sql}").With(source.Parameters));
            Assert.Equal(100UL, Convert.ToUInt64(count, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Single(await store.ListAsync("ws1/"));
        }
        finally
        {
            await clickHouse.ExecuteAsync(new ClickHouseQuery($"DROP NAMED COLLECTION IF EXISTS {collection}"));
        }
    }

    [Fact]
    public async Task Anonymous_access_works_for_coldstore_and_clickhouse_alike()
    {
        // s3rver treats an unsigned request as anonymous and lets it through, like a public bucket would for reads.
        using var store = S3ArchiveStore.Create(new S3ArchiveOptions { Bucket = s3.Bucket, Prefix = _prefix, ServiceUrl = s3.Endpoint, Anonymous = true });
        await using var clickHouse = ChdbTestEngine.OpenClient();

        await store.WriteAsync("ws1/manifest.json", "{}"u8.ToArray());
        await clickHouse.ExecuteAsync(Export(store.TableFunction("ws1/part-1.parquet", "Parquet"), from: 0, count: 10));

        Assert.Equal(["ws1/manifest.json", "ws1/part-1.parquet"], (await store.ListAsync("ws1/")).Select(o => o.Key));
    }

    [Fact]
    public async Task ClickHouse_uses_its_own_endpoint_when_it_sees_the_service_under_another_name()
    {
        // Coldstore reaches s3rver as 127.0.0.1, ClickHouse as localhost: the URL must carry ClickHouse's name.
        var forClickHouse = new Uri($"http://localhost:{s3.Endpoint.Port}");
        using var store = S3ArchiveStore.Create(new S3ArchiveOptions
        {
            Bucket = s3.Bucket,
            Prefix = _prefix,
            ServiceUrl = s3.Endpoint,
            ClickHouseEndpoint = forClickHouse,
            Credentials = new S3Credentials(S3rverFixture.AccessKeyId, S3rverFixture.SecretAccessKey),
        });
        var target = store.TableFunction("ws1/part-1.parquet", "Parquet");
        Assert.StartsWith($"http://localhost:{s3.Endpoint.Port}/{s3.Bucket}/", (string)target.Parameters[0].Value, StringComparison.Ordinal);
        await using var clickHouse = ChdbTestEngine.OpenClient();

        await clickHouse.ExecuteAsync(Export(target, from: 0, count: 10));

        Assert.Single(await store.ListAsync("ws1/"));
    }

    [Fact]
    public async Task Keys_with_spaces_and_non_ascii_letters_reach_the_same_object_from_both_sides()
    {
        await using var clickHouse = ChdbTestEngine.OpenClient();

        await clickHouse.ExecuteAsync(Export(Store.TableFunction("ws 1/März+%.parquet", "Parquet"), from: 0, count: 10));

        Assert.Equal("ws 1/März+%.parquet", Assert.Single(await Store.ListAsync("ws 1/")).Key);
        Assert.Equal((10UL, 45UL), await CountAndSumAsync(clickHouse, "ws 1/*.parquet"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
