using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Coldstore.Testing;

namespace Coldstore.Tests;

/// <summary>
/// The fixture's opt-in for an external S3 (MinIO in CI). Here the "external" service is an S3 the usual fixture
/// started (s3rver on this machine, MinIO where the opt-in is already on), so the opt-in is tried against a real S3
/// without changing the process environment that other tests read meanwhile.
/// </summary>
public sealed class S3rverFixtureOptInTests(S3rverFixture s3) : IClassFixture<S3rverFixture>
{
    private Dictionary<string, string?> Environment(string bucket, string? endpointForClickHouse = null) => new(StringComparer.Ordinal)
    {
        [S3rverFixture.EndpointVariable] = s3.Endpoint.ToString(),
        [S3rverFixture.AccessKeyVariable] = s3.AccessKey,
        [S3rverFixture.SecretKeyVariable] = s3.SecretKey,
        [S3rverFixture.BucketVariable] = bucket,
        [S3rverFixture.EndpointForClickHouseVariable] = endpointForClickHouse,
    };

    private AmazonS3Client Client() => new(new BasicAWSCredentials(s3.AccessKey, s3.SecretKey), new AmazonS3Config
    {
        ServiceURL = s3.Endpoint.GetLeftPart(UriPartial.Authority),
        AuthenticationRegion = "us-east-1",
        ForcePathStyle = true,
    });

    private async Task<bool> BucketExistsAsync(string bucket)
    {
        using var client = Client();
        try
        {
            await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 });
            return true;
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            return false;
        }
    }

    [Fact]
    public async Task With_the_endpoint_set_the_fixture_starts_nothing_uses_that_S3_and_creates_the_bucket_when_missing()
    {
        var bucket = $"coldstore-optin-{Guid.NewGuid().ToString("N")[..12]}";
        Assert.False(await BucketExistsAsync(bucket));

        var external = S3rverFixture.FromEnvironment(Environment(bucket, endpointForClickHouse: "http://minio:9000"));
        await external.InitializeAsync();
        // Again, as a second test collection would: the bucket is there already, which is fine.
        var again = S3rverFixture.FromEnvironment(Environment(bucket));
        await again.InitializeAsync();

        Assert.True(await BucketExistsAsync(bucket), $"the fixture should have created bucket {bucket}");
        Assert.True(external.IsExternal);
        Assert.Equal(bucket, external.Bucket);
        Assert.Equal(s3.Endpoint, external.Endpoint);
        Assert.Equal(new Uri("http://minio:9000"), external.EndpointForClickHouse);
        Assert.Equal(s3.Endpoint, again.EndpointForClickHouse);
        Assert.Equal((s3.AccessKey, s3.SecretKey), (external.AccessKey, external.SecretKey));
        var noFiles = Assert.Throws<InvalidOperationException>(() => external.DataDirectory);
        Assert.Contains(S3rverFixture.EndpointVariable, noFiles.Message, StringComparison.Ordinal);
        await external.DisposeAsync();
        await again.DisposeAsync();
        // Disposing an external fixture leaves the service alone.
        Assert.True(await BucketExistsAsync(bucket));
    }

    [Fact]
    public void An_endpoint_without_credentials_and_bucket_fails_at_once_naming_what_is_missing()
    {
        var environment = Environment("unused");
        environment[S3rverFixture.SecretKeyVariable] = null;
        environment[S3rverFixture.BucketVariable] = "";

        var error = Assert.Throws<InvalidOperationException>(() => S3rverFixture.FromEnvironment(environment));

        // Exactly the two missing ones (the access key is set), an empty value counting as missing.
        Assert.Contains($"but {S3rverFixture.SecretKeyVariable}, {S3rverFixture.BucketVariable} are not.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_endpoint_it_is_s3rver_as_before()
    {
        var fixture = S3rverFixture.FromEnvironment(new Dictionary<string, string?> { [S3rverFixture.AccessKeyVariable] = "ignored" });

        Assert.False(fixture.IsExternal);
        Assert.Equal("coldstore-test", fixture.Bucket);
        Assert.Equal((S3rverFixture.AccessKeyId, S3rverFixture.SecretAccessKey), (fixture.AccessKey, fixture.SecretKey));
        Assert.Equal(fixture.Endpoint, fixture.EndpointForClickHouse);
    }
}
