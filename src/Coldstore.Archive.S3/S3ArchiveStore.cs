using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.S3;
using Amazon.S3.Model;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coldstore.Archive.S3;

/// <summary>
/// An archive store in an S3 bucket (AWS or an S3-compatible service). Coldstore lists, reads small objects,
/// writes manifests and deletes through the AWS SDK; ClickHouse moves the data itself through <c>s3()</c>.
/// </summary>
/// <remarks>
/// Why no Polly pipeline on top: the SDK already retries throttling, 5xx and broken connections with jittered
/// backoff (standard mode), and s3rver's occasional 500 on DeleteObjects is absorbed by it. A second retry layer
/// would multiply attempts against an endpoint that is down, delaying the one clear error. The SDK's attempts,
/// their timeouts and a hard limit on each call come from <see cref="S3Deadlines"/>, so an outage fails a call within
/// <see cref="S3ArchiveOptions.OutageBound"/> (by default the SDK would wait 100 s per attempt). The one failure the
/// SDK cannot retry, per-key errors inside a successful DeleteObjects answer, is retried here by key.
/// Errors that survive become <see cref="EngineUnavailableException"/> (transient) or
/// <see cref="ConfigurationException"/> (bucket, region or credentials to fix), so the caller's step-level retry
/// decides on a rerun.
/// </remarks>
public sealed class S3ArchiveStore : IArchiveStore, IDisposable
{
    // DeleteObjects takes at most 1000 keys per request.
    private const int DeleteBatchSize = 1000;
    private const int DeleteAttempts = 3;

    private readonly S3ArchiveOptions _options;
    private readonly IAmazonS3 _client;
    private readonly AWSCredentials _credentials;
    private readonly ILogger _logger;
    private readonly string _prefix;
    private readonly string _where;
    private readonly S3Deadlines _deadlines;

    private S3ArchiveStore(S3ArchiveOptions options, IAmazonS3 client, AWSCredentials credentials, ILogger logger)
    {
        _options = options;
        _deadlines = new S3Deadlines(options.OutageBound);
        _client = client;
        _credentials = credentials;
        _logger = logger;
        _prefix = options.NormalizedPrefix;
        _where = options.ServiceUrl is null ? $"AWS S3 ({options.Region})" : options.ServiceUrl.GetLeftPart(UriPartial.Authority);
        var clickHouse = options.EffectiveClickHouseEndpoint?.GetLeftPart(UriPartial.Authority);
        Description = $"s3://{options.Bucket}/{_prefix} at {_where}"
            + (clickHouse is not null && clickHouse != _where ? $" (ClickHouse uses {clickHouse})" : "");
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>The number of keys asked for per ListObjectsV2 page (S3's maximum is 1000). Tests lower it.</summary>
    internal int ListPageSize { get; set; } = 1000;

    /// <summary>Validates <paramref name="options"/>, resolves the credentials and creates the store. Reaches no service.</summary>
    /// <exception cref="ConfigurationException">An option is invalid, or no credentials can be found.</exception>
    public static S3ArchiveStore Create(S3ArchiveOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var deadlines = new S3Deadlines(options.OutageBound);
        var config = new AmazonS3Config
        {
            // Emulators and several S3-compatible services reject the SDK v4 default checksum trailers.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            // Bounded attempts (the SDK default waits 100 s per attempt): see S3Deadlines.
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = deadlines.RetryAttempts,
            ConnectTimeout = deadlines.ConnectTimeout,
            Timeout = deadlines.ConnectTimeout + deadlines.RequestTimeout,
        };
        if (options.ServiceUrl is { } serviceUrl)
        {
            config.ServiceURL = serviceUrl.GetLeftPart(UriPartial.Authority);
            config.AuthenticationRegion = options.Region;
            // Other S3 services rarely resolve bucket.host names; path style works everywhere.
            config.ForcePathStyle = true;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        var credentials = ResolveCredentials(options, config);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<S3ArchiveStore>();
        var store = new S3ArchiveStore(options, new AmazonS3Client(credentials, config), credentials, logger);
        S3Log.Opened(logger, store.Description, store.ClickHouseUrl(""), store.CredentialMode);
        return store;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ArchiveObject>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidatePrefix(prefix);
        var result = new List<ArchiveObject>();
        await foreach (var entry in ListRawAsync(prefix, "list", cancellationToken).ConfigureAwait(false))
        {
            result.Add(new ArchiveObject(entry.Key[_prefix.Length..], entry.Size ?? 0));
        }

        // S3 already answers in key order; sorting again keeps the promise for services that do not, and makes
        // the order the same as the local store's (ordinal).
        result.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidateKey(key);
        using var limit = CallLimit(cancellationToken);
        try
        {
            using var response = await _client.GetObjectAsync(_options.Bucket, _prefix + key, limit.Token).ConfigureAwait(false);
            using var buffer = new MemoryStream(response.ContentLength > 0 ? (int)Math.Min(response.ContentLength, int.MaxValue) : 0);
            await response.ResponseStream.CopyToAsync(buffer, limit.Token).ConfigureAwait(false);
            return buffer.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            return null;
        }
        catch (Exception e) when (IsServiceFailure(e, cancellationToken))
        {
            throw Translate(e, "read", key);
        }
    }

    /// <inheritdoc />
    /// <remarks>One PUT of the whole body: S3 makes it visible atomically.</remarks>
    public async Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidateKey(key);
        var request = new PutObjectRequest
        {
            BucketName = _options.Bucket,
            Key = _prefix + key,
            InputStream = new MemoryStream(content.ToArray(), writable: false),
            AutoCloseStream = true,
            ContentType = "application/octet-stream",
            // The SDK's default aws-chunked body is stored verbatim by s3rver (chunk signatures inside the object);
            // a plain body is correct everywhere and costs nothing for manifest-sized objects.
            UseChunkEncoding = false,
        };
        using var limit = CallLimit(cancellationToken);
        try
        {
            await _client.PutObjectAsync(request, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsServiceFailure(e, cancellationToken))
        {
            throw Translate(e, "write", key);
        }
    }

    /// <inheritdoc />
    public async Task<int> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidatePrefix(prefix);
        var deleted = 0;
        var batch = new List<string>(DeleteBatchSize);
        await foreach (var entry in ListRawAsync(prefix, "delete", cancellationToken).ConfigureAwait(false))
        {
            batch.Add(entry.Key);
            if (batch.Count == DeleteBatchSize)
            {
                deleted += await DeleteBatchAsync(prefix, batch, cancellationToken).ConfigureAwait(false);
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            deleted += await DeleteBatchAsync(prefix, batch, cancellationToken).ConfigureAwait(false);
        }

        S3Log.DeletedPrefix(_logger, deleted, _options.Bucket, _prefix + prefix);
        return deleted;
    }

    /// <inheritdoc />
    /// <remarks>
    /// Produces <c>s3({p_url:String}, {p_access_key_id:String}, {p_secret_access_key:String}, 'Parquet')</c> with the
    /// credentials as secret parameters (plus <c>{p_session_token:String}</c> for temporary ones),
    /// <c>s3(collection, url = {p_url:String}, format = 'Parquet')</c> with a named collection, or
    /// <c>s3({p_url:String}, NOSIGN, 'Parquet')</c> when anonymous. <c>s3_truncate_on_insert = 1</c> makes a rerun
    /// replace its objects: without it ClickHouse fails "already exists", and <c>s3_create_new_file_on_insert</c>
    /// would add duplicates. Beware: ClickHouse substitutes parameters before storing a mutation, so a DELETE that
    /// reads the archive through this expression keeps the secret in <c>system.mutations</c>; use a named collection
    /// for such statements.
    /// </remarks>
    public TableFunctionExpression TableFunction(string keyPattern, string format, string parameterPrefix = "store", string? columns = null)
    {
        ArchiveKeys.ValidatePattern(keyPattern);
        ArchiveKeys.ValidateFormat(format);
        ArchiveKeys.ValidateParameterPrefix(parameterPrefix);
        ArchiveKeys.ValidateColumns(columns);
        // The column list is the argument after the format, or the collection's `structure` key.
        var structure = columns is null ? string.Empty : $", '{columns}'";
        var namedStructure = columns is null ? string.Empty : $", structure = '{columns}'";
        var url = new ClickHouseParameter(parameterPrefix + "_url", "String", ClickHouseUrl(keyPattern));
        var settings = new Dictionary<string, string> { ["s3_truncate_on_insert"] = "1" };
        var access = _deadlines.ClickHouseSettings;
        if (_options.NamedCollection is { } collection)
        {
            return new TableFunctionExpression(
                $"s3({collection}, url = {Placeholder(url)}, format = '{format}'{namedStructure})", [url], settings) { AccessSettings = access };
        }

        if (_options.Anonymous)
        {
            return new TableFunctionExpression($"s3({Placeholder(url)}, NOSIGN, '{format}'{structure})", [url], settings) { AccessSettings = access };
        }

        var credentials = CurrentCredentials();
        var parameters = new List<ClickHouseParameter>
        {
            url,
            new(parameterPrefix + "_access_key_id", "String", credentials.AccessKey, IsSecret: true),
            new(parameterPrefix + "_secret_access_key", "String", credentials.SecretKey, IsSecret: true),
        };
        if (credentials.UseToken)
        {
            parameters.Add(new(parameterPrefix + "_session_token", "String", credentials.Token, IsSecret: true));
        }

        var placeholders = string.Join(", ", parameters.Select(Placeholder));
        return new TableFunctionExpression($"s3({placeholders}, '{format}'{structure})", parameters, settings) { AccessSettings = access };
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    /// <inheritdoc />
    public override string ToString() => Description;

    /// <summary>
    /// The URL ClickHouse uses for <paramref name="keyPattern"/>: path style on the endpoint ClickHouse sees, or the
    /// bucket's virtual host on AWS. Bytes outside the safe set are percent-encoded because ClickHouse decodes the
    /// path (a raw space is "Bad URI syntax"); glob characters stay as they are.
    /// </summary>
    internal string ClickHouseUrl(string keyPattern)
    {
        var path = EncodePath(_prefix + keyPattern);
        if (_options.EffectiveClickHouseEndpoint is { } endpoint)
        {
            return $"{endpoint.GetLeftPart(UriPartial.Authority)}/{_options.Bucket}/{path}";
        }

        // Dotted bucket names break TLS on virtual hosts, so those go path style.
        return _options.Bucket.Contains('.', StringComparison.Ordinal)
            ? $"https://s3.{_options.Region}.amazonaws.com/{_options.Bucket}/{path}"
            : $"https://{_options.Bucket}.s3.{_options.Region}.amazonaws.com/{path}";
    }

    private string CredentialMode =>
        _options.NamedCollection is { } collection ? $"named collection {collection}"
        : _options.Anonymous ? "no signature"
        : "secret parameters";

    private static string Placeholder(ClickHouseParameter parameter) => $"{{{parameter.Name}:{parameter.Type}}}";

    private static string EncodePath(string path)
    {
        const string keep = "-._~/*?{},=+";
        var builder = new StringBuilder(path.Length);
        foreach (var b in Encoding.UTF8.GetBytes(path))
        {
            var c = (char)b;
            if (b < 0x80 && (char.IsAsciiLetterOrDigit(c) || keep.Contains(c, StringComparison.Ordinal)))
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    private static AWSCredentials ResolveCredentials(S3ArchiveOptions options, AmazonS3Config config)
    {
        if (options.Anonymous)
        {
            return new AnonymousAWSCredentials();
        }

        if (options.Credentials is { } explicitCredentials)
        {
            return explicitCredentials.SessionToken is { } token
                ? new SessionAWSCredentials(explicitCredentials.AccessKeyId, explicitCredentials.SecretAccessKey, token)
                : new BasicAWSCredentials(explicitCredentials.AccessKeyId, explicitCredentials.SecretAccessKey);
        }

        try
        {
            return DefaultAWSCredentialsIdentityResolver.GetCredentials(config);
        }
        catch (AmazonClientException e)
        {
            throw NoCredentials(e);
        }
    }

    private static ConfigurationException NoCredentials(Exception inner) =>
        new(S3ArchiveOptions.CredentialsSetting,
            "No AWS credentials were found for the S3 archive: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            + "(and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE, or run with an instance or container role.",
            inner);

    private ImmutableCredentials CurrentCredentials()
    {
        try
        {
            // Re-read on every call: role and SSO credentials rotate, and the SDK caches them until they near expiry.
            return _credentials.GetCredentials();
        }
        catch (AmazonClientException e)
        {
            throw NoCredentials(e);
        }
    }

    private async IAsyncEnumerable<S3Object> ListRawAsync(
        string prefix, string operation, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = _prefix + prefix, MaxKeys = ListPageSize };
        while (true)
        {
            ListObjectsV2Response response;
            using var limit = CallLimit(cancellationToken);
            try
            {
                response = await _client.ListObjectsV2Async(request, limit.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsServiceFailure(e, cancellationToken))
            {
                throw Translate(e, operation, prefix);
            }

            // SDK v4 leaves collections null when a page is empty.
            foreach (var entry in response.S3Objects ?? [])
            {
                yield return entry;
            }

            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
            {
                yield break;
            }

            request.ContinuationToken = response.NextContinuationToken;
        }
    }

    private async Task<int> DeleteBatchAsync(string prefix, List<string> keys, CancellationToken cancellationToken)
    {
        var pending = keys;
        for (var attempt = 1; ; attempt++)
        {
            // SDK v4 collections start null: assign a new list rather than a collection initializer.
            var request = new DeleteObjectsRequest
            {
                BucketName = _options.Bucket,
                Objects = pending.Select(static key => new KeyVersion { Key = key }).ToList(),
                Quiet = true,
            };
            DeleteObjectsResponse response;
            using var limit = CallLimit(cancellationToken);
            try
            {
                response = await _client.DeleteObjectsAsync(request, limit.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsServiceFailure(e, cancellationToken))
            {
                throw Translate(e, "delete", prefix);
            }

            var errors = response.DeleteErrors ?? [];
            if (errors.Count == 0)
            {
                return keys.Count;
            }

            var first = errors[0];
            if (attempt == DeleteAttempts)
            {
                var message = $"S3 at {_where} did not delete {errors.Count} of {keys.Count} objects under s3://{_options.Bucket}/{_prefix}{prefix} "
                    + $"after {DeleteAttempts} attempts (first: '{first.Key}', {first.Code}: {first.Message}). Rerun the delete; it is idempotent.";
                throw first.Code is "AccessDenied"
                    ? new ConfigurationException(S3ArchiveOptions.CredentialsSetting, message + " Check that the credentials may delete in this bucket.")
                    : new EngineUnavailableException(ServiceSetting, message);
            }

            S3Log.DeleteErrors(_logger, errors.Count, pending.Count, _options.Bucket, _prefix + prefix, first.Key, first.Code, attempt + 1);
            pending = errors.Select(static error => error.Key).ToList();
        }
    }

    /// <summary>The deadlines this store's calls and statements keep to.</summary>
    internal S3Deadlines Deadlines => _deadlines;

    /// <summary>
    /// A token that ends one SDK call (every attempt and backoff in it) after <see cref="S3Deadlines.SdkCallLimit"/>,
    /// or when the caller cancels: the SDK's own timeouts cover each attempt, this covers whatever they do not
    /// (a response body that stops arriving, a resolver that hangs).
    /// </summary>
    private CancellationTokenSource CallLimit(CancellationToken cancellationToken)
    {
        var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_deadlines.SdkCallLimit);
        return limit;
    }

    private string ServiceSetting => _options.ServiceUrl is null ? S3ArchiveOptions.ArchiveSetting : S3ArchiveOptions.EndpointSetting;

    private static bool IsServiceFailure(Exception e, CancellationToken cancellationToken) =>
        e switch
        {
            OperationCanceledException when cancellationToken.IsCancellationRequested => false,
            AmazonServiceException or AmazonClientException or HttpRequestException or IOException
                or SocketException or TimeoutException or OperationCanceledException => true,
            _ => false,
        };

    /// <summary>Turns an SDK or network failure into a Coldstore error that names the bucket, endpoint and what to check.</summary>
    private ColdstoreException Translate(Exception e, string operation, string key)
    {
        var target = $"s3://{_options.Bucket}/{_prefix}{key}";
        S3Log.OperationFailed(_logger, operation, _options.Bucket, _prefix + key, e.GetType().Name);
        if (e is AmazonServiceException service && service.StatusCode != 0 && !HasNetworkCause(e))
        {
            var code = service.ErrorCode ?? ((int)service.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var status = (int)service.StatusCode;
            var what = $"S3 at {_where} refused to {operation} {target}: {code} (HTTP {status})";
            return code switch
            {
                "NoSuchBucket" => new ConfigurationException(S3ArchiveOptions.ArchiveSetting,
                    $"{what}. The bucket '{_options.Bucket}' does not exist there: create it, or fix {S3ArchiveOptions.ArchiveSetting}"
                    + (_options.ServiceUrl is null ? $" or {S3ArchiveOptions.RegionSetting}." : $" or {S3ArchiveOptions.EndpointSetting}."), e),
                "AccessDenied" or "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "ExpiredToken" or "InvalidToken"
                    or "TokenRefreshRequired" or "AllAccessDisabled" => new ConfigurationException(S3ArchiveOptions.CredentialsSetting,
                    $"{what}. Check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE or the role) "
                    + $"and that they may {operation} in bucket '{_options.Bucket}'.", e),
                "PermanentRedirect" or "AuthorizationHeaderMalformed" or "IllegalLocationConstraintException" =>
                    new ConfigurationException(S3ArchiveOptions.RegionSetting,
                        $"{what}. The bucket is in another region than '{_options.Region}': set {S3ArchiveOptions.RegionSetting} to the bucket's region.", e),
                _ when status >= 500 || status == 429 || code is "SlowDown" or "RequestTimeout" or "Throttling" or "InternalError" =>
                    new EngineUnavailableException(ServiceSetting, $"{what}. The service is failing or throttling; retry later.", e),
                _ => new ConfigurationException(S3ArchiveOptions.ArchiveSetting,
                    $"{what}: {service.Message} Check {S3ArchiveOptions.ArchiveSetting}, the endpoint and the credentials.", e),
            };
        }

        var reason = e is OperationCanceledException
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"no answer within {_deadlines.SdkCallLimit.TotalSeconds:0.#} s; {S3ArchiveOptions.OutageSetting} sets the bound")
            : Innermost(e).Message;
        return new EngineUnavailableException(ServiceSetting,
            $"S3 at {_where} could not be reached, or broke off, while trying to {operation} {target} ({reason}). "
            + (_options.ServiceUrl is null
                ? "Check the network and the AWS region."
                : $"Check that the service runs and that {S3ArchiveOptions.EndpointSetting} ('{_where}') is right."),
            e);
    }

    private static bool HasNetworkCause(Exception e)
    {
        for (var current = e.InnerException; current is not null; current = current.InnerException)
        {
            if (current is HttpRequestException or SocketException or IOException)
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Innermost(Exception e)
    {
        var current = e;
        while (current.InnerException is not null)
        {
            current = current.InnerException;
        }

        return current;
    }
}
