using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// Runs the s3rver S3 emulator (tools/node_modules/s3rver, pinned in tools/package.json) on a free loopback port
/// with a temporary data directory and one bucket, for the lifetime of a test collection. A missing node or
/// package fails the tests with the command that fixes it; they are never skipped.
/// </summary>
/// <remarks>
/// <para>
/// s3rver accepts the access key <see cref="AccessKeyId"/> / <see cref="SecretAccessKey"/>, but it does not verify
/// SigV4 signatures: a wrong secret with the right key id is accepted, while an unknown key id is refused
/// (InvalidAccessKeyId, HTTP 403).
/// </para>
/// <para>
/// Opt-in: when <c>COLDSTORE_TEST_S3_ENDPOINT</c> is set, the fixture starts nothing and uses that S3 (MinIO in CI)
/// with <c>COLDSTORE_TEST_S3_ACCESS_KEY</c>, <c>COLDSTORE_TEST_S3_SECRET_KEY</c> and <c>COLDSTORE_TEST_S3_BUCKET</c>
/// (all required then), creating the bucket if it is missing; <c>COLDSTORE_TEST_S3_ENDPOINT_FOR_CLICKHOUSE</c> is the
/// same service as a ClickHouse server reaches it (default: the endpoint). Use <see cref="AccessKey"/> and
/// <see cref="SecretKey"/> rather than the constants so a test works on both; <see cref="DataDirectory"/> exists only
/// for s3rver.
/// </para>
/// </remarks>
public sealed partial class S3rverFixture : IAsyncLifetime
{
    /// <summary>The access key id s3rver knows.</summary>
    public const string AccessKeyId = "S3RVER";

    /// <summary>The secret access key s3rver knows.</summary>
    public const string SecretAccessKey = "S3RVER";

    /// <summary>The variable naming an external S3 endpoint (as Coldstore and the tests reach it); unset: s3rver.</summary>
    public const string EndpointVariable = "COLDSTORE_TEST_S3_ENDPOINT";

    /// <summary>The external S3's access key id.</summary>
    public const string AccessKeyVariable = "COLDSTORE_TEST_S3_ACCESS_KEY";

    /// <summary>The external S3's secret access key.</summary>
    public const string SecretKeyVariable = "COLDSTORE_TEST_S3_SECRET_KEY";

    /// <summary>The bucket to use on the external S3 (created if missing).</summary>
    public const string BucketVariable = "COLDSTORE_TEST_S3_BUCKET";

    /// <summary>The external S3's endpoint as a ClickHouse server reaches it (e.g. <c>http://minio:9000</c>).</summary>
    public const string EndpointForClickHouseVariable = "COLDSTORE_TEST_S3_ENDPOINT_FOR_CLICKHOUSE";

    private const string S3rverBucket = "coldstore-test";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly ExternalS3? _external;
    private Process? _process;
    private string? _dataDirectory;
    private Uri? _endpoint;

    /// <summary>Reads the opt-in variables from the process environment (s3rver when they are unset).</summary>
    public S3rverFixture()
        : this(Environment.GetEnvironmentVariable)
    {
    }

    private S3rverFixture(Func<string, string?> environment) => _external = ExternalS3.From(environment);

    /// <summary>
    /// A fixture configured from <paramref name="environment"/> instead of the process environment, so a test can try
    /// the opt-in without changing variables that other tests, running meanwhile, read.
    /// </summary>
    public static S3rverFixture FromEnvironment(IReadOnlyDictionary<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return new S3rverFixture(name => environment.TryGetValue(name, out var value) ? value : null);
    }

    /// <summary>True when the fixture uses the S3 named by <see cref="EndpointVariable"/> rather than s3rver.</summary>
    public bool IsExternal => _external is not null;

    /// <summary>The bucket the tests use: created at start (s3rver), or the external one (created if missing).</summary>
    public string Bucket => _external?.Bucket ?? S3rverBucket;

    /// <summary>The access key id the S3 accepts.</summary>
    public string AccessKey => _external?.AccessKey ?? AccessKeyId;

    /// <summary>The secret access key the S3 accepts.</summary>
    public string SecretKey => _external?.SecretKey ?? SecretAccessKey;

    /// <summary>The S3 endpoint as Coldstore and the tests reach it, e.g. <c>http://127.0.0.1:41234</c>; valid after initialization.</summary>
    public Uri Endpoint => _endpoint ?? new Uri("http://127.0.0.1:1");

    /// <summary>
    /// The same S3 as a ClickHouse server reaches it (another container, another network name); the
    /// <see cref="Endpoint"/> unless <see cref="EndpointForClickHouseVariable"/> says otherwise. Embedded chDB runs in
    /// the test process and always reaches it at <see cref="Endpoint"/>.
    /// </summary>
    public Uri EndpointForClickHouse => _external?.EndpointForClickHouse ?? Endpoint;

    /// <summary>The directory where s3rver keeps objects (each as <c>key._S3rver_object</c>); s3rver only.</summary>
    public string DataDirectory => _dataDirectory ?? throw new InvalidOperationException(
        IsExternal ? $"The tests use the external S3 at {Endpoint} ({EndpointVariable}), whose objects are not files here." : "s3rver has not started.");

    /// <summary>A key prefix no other test uses, e.g. <c>MyTests-3f2a9c1b/</c>: give each test class its own.</summary>
    public static string UniquePrefix(string owner)
    {
        var safe = UnsafeCharacters().Replace(owner, "-");
        return $"{safe[..Math.Min(safe.Length, 40)]}-{Guid.NewGuid().ToString("N")[..8]}/";
    }

    /// <summary>Starts s3rver and waits until it answers for the bucket; or, opted in, makes sure the external bucket exists.</summary>
    public async Task InitializeAsync()
    {
        if (_external is { } external)
        {
            _endpoint = external.Endpoint;
            await external.EnsureBucketAsync();
            return;
        }

        var root = Repository.Root;
        var emulator = Path.Combine(root, "tools", "node_modules", "s3rver", "bin", "s3rver.js");
        // The guard runs s3rver and exits with this process, however this process ends (see the script).
        var script = Path.Combine(root, "tools", "s3rver-guarded.js");
        if (!File.Exists(emulator) || !File.Exists(script))
        {
            throw new InvalidOperationException(
                $"The S3 emulator is not installed ({emulator} or {script} is missing). Install the pinned test tools with: npm ci --prefix tools");
        }

        _dataDirectory = Directory.CreateTempSubdirectory("coldstore-s3rver-").FullName;
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        start.Environment["COLDSTORE_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var argument in new[]
                 {
                     // s3rver 3.7.1 makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) only
                     // offers from its legacy provider; without it every truncated listing answers 500 InternalError.
                     "--openssl-legacy-provider",
                     script, "--directory", _dataDirectory, "--address", "127.0.0.1",
                     // Port 0: the OS picks a free port and s3rver prints it, so parallel runs never collide.
                     "--port", "0", "--silent", "--configure-bucket", S3rverBucket,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "node was not found on PATH; the S3 tests need Node.js 20 or later (e.g. apt-get install nodejs), then: npm ci --prefix tools", e);
        }

        // A test run must not leave node behind even when xunit never gets to DisposeAsync.
        AppDomain.CurrentDomain.ProcessExit += KillOnExit;
        var errors = new System.Text.StringBuilder();
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            _endpoint = await ReadEndpointAsync(_process, timeout.Token);
            await WaitUntilAnsweringAsync(timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or HttpRequestException)
        {
            string stderr;
            lock (errors)
            {
                stderr = errors.ToString();
            }

            await DisposeAsync();
            throw new InvalidOperationException(
                $"s3rver did not start within {StartTimeout.TotalSeconds:0} s ({e.Message}). Its error output: {stderr.Trim()} "
                + "If the package is broken, reinstall it with: npm ci --prefix tools", e);
        }
    }

    /// <summary>Stops s3rver (its whole process tree) and deletes its data. An external S3 is left as it is.</summary>
    public async Task DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        if (_process is { } process)
        {
            _process = null;
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await process.WaitForExitAsync(wait.Token);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            finally
            {
                process.Dispose();
            }
        }

        if (_dataDirectory is { } directory && Directory.Exists(directory))
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A temp directory left behind is harmless; a failing dispose would hide the real test result.
            }
        }
    }

    private static async Task<Uri> ReadEndpointAsync(Process process, CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(cancellationToken)
                ?? throw new InvalidOperationException($"s3rver exited with code {(process.WaitForExit(1000) ? process.ExitCode : -1)} before listening.");
            var match = ListeningLine().Match(line);
            if (match.Success)
            {
                // Keep draining stdout so s3rver never blocks on a full pipe.
                _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return new Uri($"http://{match.Groups["address"].Value}:{match.Groups["port"].Value}");
            }
        }
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (true)
        {
            try
            {
                // An unsigned request is anonymous to s3rver; 200 means the bucket exists.
                using var response = await http.GetAsync(new Uri(Endpoint, $"/{Bucket}?list-type=2&max-keys=1"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    // The repository's root: the nearest directory above the test binaries that holds Coldstore.slnx.

    /// <summary>The S3 the opt-in variables name.</summary>
    private sealed record ExternalS3(Uri Endpoint, Uri EndpointForClickHouse, string AccessKey, string SecretKey, string Bucket)
    {
        public static ExternalS3? From(Func<string, string?> environment)
        {
            string? Read(string name) => environment(name) is { Length: > 0 } value ? value : null;
            if (Read(EndpointVariable) is not { } endpoint)
            {
                return null;
            }

            // Half a configuration would silently test against s3rver's defaults or fail deep inside a test; say it now.
            var missing = new[] { AccessKeyVariable, SecretKeyVariable, BucketVariable }.Where(name => Read(name) is null).ToArray();
            if (missing.Length > 0)
            {
                throw new InvalidOperationException(
                    $"{EndpointVariable} is set, so the tests use that S3, but {string.Join(", ", missing)} {(missing.Length == 1 ? "is" : "are")} not. "
                    + $"Set {AccessKeyVariable}, {SecretKeyVariable} and {BucketVariable} too, or unset {EndpointVariable} to use s3rver.");
            }

            return new ExternalS3(
                ParseEndpoint(EndpointVariable, endpoint),
                ParseEndpoint(EndpointForClickHouseVariable, Read(EndpointForClickHouseVariable) ?? endpoint),
                Read(AccessKeyVariable)!,
                Read(SecretKeyVariable)!,
                Read(BucketVariable)!);
        }

        public async Task EnsureBucketAsync()
        {
            using var client = new AmazonS3Client(new BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config
            {
                ServiceURL = Endpoint.GetLeftPart(UriPartial.Authority),
                // MinIO and other S3-compatible services accept any region and rarely resolve bucket.host names.
                AuthenticationRegion = "us-east-1",
                ForcePathStyle = true,
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
            try
            {
                await client.PutBucketAsync(new PutBucketRequest { BucketName = Bucket });
            }
            catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
            {
                // Another test collection (or an earlier run against the same service) created it: that is the goal.
            }
            catch (Exception e) when (e is AmazonServiceException or HttpRequestException)
            {
                throw new InvalidOperationException(
                    $"The external S3 at {Endpoint} ({EndpointVariable}) did not let the tests create or reach bucket {Bucket}: {e.Message}", e);
            }
        }

        private static Uri ParseEndpoint(string variable, string value) =>
            Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                ? uri
                : throw new InvalidOperationException($"{variable} must be an http(s) URL such as http://localhost:9000, not '{value}'.");
    }

    [GeneratedRegex(@"listening on (?<address>[0-9.]+):(?<port>\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex UnsafeCharacters();
}
