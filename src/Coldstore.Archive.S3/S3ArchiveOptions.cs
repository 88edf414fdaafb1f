using System.Text.RegularExpressions;
using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;

namespace Coldstore.Archive.S3;

/// <summary>
/// Where an S3 archive lives and how Coldstore and ClickHouse reach it. Validated once by
/// <see cref="S3ArchiveStore.Create"/>; every message quotes the bad value and names its setting, never a secret.
/// </summary>
/// <remarks>
/// Credentials, in order: <see cref="Anonymous"/> (nobody signs), explicit <see cref="Credentials"/>, otherwise the
/// AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE and the
/// shared files, container and instance roles). ClickHouse gets the same credentials as secret query parameters,
/// unless <see cref="NamedCollection"/> names a collection that holds its own.
/// </remarks>
public sealed partial class S3ArchiveOptions : IArchiveStoreConnector
{
    /// <summary>The setting holding <c>s3://bucket/prefix</c>.</summary>
    public const string ArchiveSetting = "COLDSTORE_ARCHIVE";

    /// <summary>The setting holding the S3 endpoint Coldstore uses; unset means AWS.</summary>
    public const string EndpointSetting = "COLDSTORE_S3_ENDPOINT";

    /// <summary>The setting holding the S3 endpoint as ClickHouse reaches it; unset means the same as Coldstore's.</summary>
    public const string ClickHouseEndpointSetting = "COLDSTORE_S3_ENDPOINT_FOR_CLICKHOUSE";

    /// <summary>The setting holding the name of a ClickHouse named collection with the S3 credentials.</summary>
    public const string NamedCollectionSetting = "COLDSTORE_S3_NAMED_COLLECTION";

    /// <summary>The setting holding the AWS region.</summary>
    public const string RegionSetting = "AWS_REGION";

    /// <summary>The setting Coldstore names when credentials are missing or refused.</summary>
    public const string CredentialsSetting = "AWS_ACCESS_KEY_ID";

    /// <summary>The setting holding <see cref="OutageBound"/> in seconds.</summary>
    public const string OutageSetting = "COLDSTORE_S3_OUTAGE_SECONDS";

    /// <summary>The shortest <see cref="OutageBound"/>: below it one attempt would have no time to connect and answer.</summary>
    public static readonly TimeSpan MinimumOutageBound = TimeSpan.FromSeconds(5);

    /// <summary>The longest <see cref="OutageBound"/>.</summary>
    public static readonly TimeSpan MaximumOutageBound = TimeSpan.FromHours(1);

    /// <summary>The default <see cref="OutageBound"/>.</summary>
    public static readonly TimeSpan DefaultOutageBound = TimeSpan.FromMinutes(2);

    private const string Scheme = "s3://";

    private const string AcceptedForms =
        "Accepted forms: s3://bucket or s3://bucket/prefix for S3 (with COLDSTORE_S3_ENDPOINT for an S3-compatible "
        + "service); file:/absolute/dir, file:///absolute/dir or file:relative/dir for a local directory.";

    /// <summary>The bucket's name.</summary>
    public required string Bucket { get; init; }

    /// <summary>The store's root inside the bucket (e.g. <c>coldstore/prod</c>); empty for the whole bucket.</summary>
    public string Prefix { get; init; } = "";

    /// <summary>The S3 endpoint Coldstore's SDK uses (e.g. <c>http://localhost:9010</c>), or null for AWS itself.</summary>
    public Uri? ServiceUrl { get; init; }

    /// <summary>
    /// The S3 endpoint as ClickHouse reaches it (e.g. <c>http://minio:9000</c> when ClickHouse runs in a container),
    /// or null for the same as <see cref="ServiceUrl"/>.
    /// </summary>
    public Uri? ClickHouseEndpoint { get; init; }

    /// <summary>The AWS region (signing region for other endpoints); <c>us-east-1</c> unless set.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>
    /// A ClickHouse named collection holding the credentials ClickHouse uses (created by an administrator with
    /// <c>CREATE NAMED COLLECTION name AS access_key_id = '…', secret_access_key = '…'</c>). When set, no secret
    /// travels in queries, and none is stored in <c>system.mutations</c> by a DELETE that reads the archive.
    /// </summary>
    public string? NamedCollection { get; init; }

    /// <summary>Explicit credentials; null means the AWS SDK's default chain.</summary>
    public S3Credentials? Credentials { get; init; }

    /// <summary>Sends unsigned requests (a public bucket, or an emulator without authentication); ClickHouse uses NOSIGN.</summary>
    public bool Anonymous { get; init; }

    /// <summary>
    /// How long a step goes on trying to reach S3 once it stops answering (refuses connections, or goes silent) before
    /// it fails, for ClickHouse's reads and writes through <c>s3()</c> and for Coldstore's own SDK calls alike (see
    /// <see cref="S3Deadlines"/>). Two minutes unless set; from 5 s to an hour. It bounds silence, not work: a long
    /// copy that keeps transferring is not cut short.
    /// </summary>
    public TimeSpan OutageBound { get; init; } = DefaultOutageBound;

    /// <summary>The prefix normalized to end with <c>/</c>, or empty.</summary>
    internal string NormalizedPrefix => Prefix.Length == 0 || Prefix.EndsWith('/') ? Prefix : Prefix + "/";

    /// <summary>Where ClickHouse reaches S3, or null for AWS.</summary>
    internal Uri? EffectiveClickHouseEndpoint => ClickHouseEndpoint ?? ServiceUrl;

    /// <summary>
    /// Parses <c>s3://bucket</c> or <c>s3://bucket/prefix</c> into its bucket and prefix (without a trailing slash).
    /// Pure: reaches no service.
    /// </summary>
    /// <exception cref="ConfigurationException">The value is not of that form; the message lists the accepted forms.</exception>
    public static (string Bucket, string Prefix) ParseArchiveUri(string value) => ParseArchiveUri(value, ArchiveSetting);

    private static (string Bucket, string Prefix) ParseArchiveUri(string value, string setting)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ConfigurationException(setting, $"{setting} is empty. {AcceptedForms}");
        }

        if (!value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw InvalidUri(setting, value, "it does not start with 's3://'");
        }

        var rest = value[Scheme.Length..];
        if (rest.Contains('?', StringComparison.Ordinal) || rest.Contains('#', StringComparison.Ordinal))
        {
            throw InvalidUri(setting, value, "it must not contain '?' or '#'");
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..].TrimEnd('/');
        if (BucketProblem(bucket) is { } bucketProblem)
        {
            throw InvalidUri(setting, value, bucketProblem);
        }

        if (PrefixProblem(prefix) is { } prefixProblem)
        {
            throw InvalidUri(setting, value, prefixProblem);
        }

        return (bucket, prefix);
    }

    /// <summary>The S3 store's own settings, as every surface names them.</summary>
    public static class Definitions
    {
        /// <summary>The endpoint Coldstore's SDK uses (<c>S3:Endpoint</c>).</summary>
        public static SettingDefinition Endpoint { get; } = new("S3:Endpoint", EndpointSetting, "--s3-endpoint",
            "S3 endpoint Coldstore uses (MinIO, an emulator); unset for AWS");

        /// <summary>The endpoint as ClickHouse reaches it (<c>S3:EndpointForClickHouse</c>).</summary>
        public static SettingDefinition EndpointForClickHouse { get; } = new("S3:EndpointForClickHouse", ClickHouseEndpointSetting, "--s3-endpoint-for-clickhouse",
            "S3 endpoint as ClickHouse reaches it, when it differs from Coldstore's (e.g. http://minio:9000 inside a container network)");

        /// <summary>The named collection holding ClickHouse's S3 credentials (<c>S3:NamedCollection</c>).</summary>
        public static SettingDefinition NamedCollection { get; } = new("S3:NamedCollection", NamedCollectionSetting, "--s3-named-collection",
            "ClickHouse named collection holding the S3 credentials, so none travels with a query");

        /// <summary>How long a step waits out an S3 outage (<c>S3:OutageSeconds</c>).</summary>
        public static SettingDefinition OutageSeconds { get; } = new("S3:OutageSeconds", OutageSetting, "--s3-outage-seconds",
            "seconds a step goes on trying to reach S3 once it stops answering, then fails (5 to 3600; default 120)");

        /// <summary>The region (<c>S3:Region</c>; <c>AWS_REGION</c>, else <c>AWS_DEFAULT_REGION</c>).</summary>
        public static SettingDefinition Region { get; } = new("S3:Region", RegionSetting, null, "the AWS region (default us-east-1)")
        {
            FallbackVariable = "AWS_DEFAULT_REGION",
        };

        /// <summary>
        /// An access key id given in configuration (<c>S3:AccessKeyId</c>, with <c>S3:SecretAccessKey</c>); from the
        /// environment the AWS SDK reads <c>AWS_ACCESS_KEY_ID</c> itself.
        /// </summary>
        public static SettingDefinition AccessKeyId { get; } = new("S3:AccessKeyId", null, null,
            "access key id, for a host that keeps secrets in its configuration (user secrets, a vault); otherwise the AWS SDK's own chain");

        /// <summary>The secret access key given in configuration (<c>S3:SecretAccessKey</c>).</summary>
        public static SettingDefinition SecretAccessKey { get; } = new("S3:SecretAccessKey", null, null,
            "secret access key, with S3:AccessKeyId");

        /// <summary>Every setting the S3 store reads besides the archive location itself.</summary>
        public static IReadOnlyList<SettingDefinition> All { get; } =
            [Endpoint, EndpointForClickHouse, NamedCollection, OutageSeconds, Region, AccessKeyId, SecretAccessKey];
    }

    /// <summary>The form this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm = "s3://bucket[/prefix] for S3 (with an endpoint for MinIO or another S3-compatible service)";

    /// <summary>Whether <paramref name="archive"/> names an S3 location (<c>s3://</c>).</summary>
    public static bool Claims(string archive) => archive is not null && archive.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Builds options from the archive location <paramref name="archive"/> (<c>s3://bucket/prefix</c>) and the S3
    /// settings <see cref="Definitions.All"/> in <paramref name="source"/>. Without explicit credentials the AWS SDK's
    /// default chain supplies them from its own variables.
    /// </summary>
    /// <exception cref="ConfigurationException">A setting is malformed; the message names it as given and quotes it (never a secret).</exception>
    public static S3ArchiveOptions Read(SettingValue archive, SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var (bucket, prefix) = ParseArchiveUri(archive.Text, archive.Name);
        var accessKey = source.Get(Definitions.AccessKeyId);
        var secretKey = source.Get(Definitions.SecretAccessKey);
        if ((accessKey is null) != (secretKey is null))
        {
            var given = (accessKey ?? secretKey)!.Value.Name;
            throw new ConfigurationException(given, $"{given} is set without its pair: give both S3:AccessKeyId and S3:SecretAccessKey, or neither (the AWS SDK's own chain).");
        }

        var options = new S3ArchiveOptions
        {
            Bucket = bucket,
            Prefix = prefix,
            ServiceUrl = ParseEndpoint(source.Get(Definitions.Endpoint)),
            ClickHouseEndpoint = ParseEndpoint(source.Get(Definitions.EndpointForClickHouse)),
            Region = source.Text(Definitions.Region) ?? "us-east-1",
            NamedCollection = source.Text(Definitions.NamedCollection),
            OutageBound = source.Seconds(Definitions.OutageSeconds, DefaultOutageBound, MinimumOutageBound.TotalSeconds, MaximumOutageBound.TotalSeconds),
            Credentials = accessKey is { } id && secretKey is { } secret ? new S3Credentials(id.Text, secret.Text) : null,
        };
        try
        {
            options.Validate();
        }
        catch (ConfigurationException e) when (NameGiven(e.Setting, source) is { } given && given != e.Setting)
        {
            // Validate names the variable; name the setting as this source gave it (a flag, a configuration key).
            throw new ConfigurationException(given, e.Message.Replace(e.Setting, given, StringComparison.Ordinal), e);
        }

        return options;
    }

    /// <summary>The name <paramref name="source"/> gave the setting <see cref="Validate"/> refused, or null when unset.</summary>
    private static string? NameGiven(string variable, SettingSource source)
    {
        var setting = variable == CredentialsSetting
            ? Definitions.AccessKeyId
            : Definitions.All.FirstOrDefault(d => d.Variable == variable);
        return setting is null ? null : source.Get(setting)?.Name;
    }

    /// <summary>Builds options from <paramref name="source"/>, whose archive setting must name an S3 location.</summary>
    /// <exception cref="ConfigurationException">The archive is unset or not S3, or a setting is malformed.</exception>
    public static S3ArchiveOptions FromSettings(SettingSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return source.Get(ColdstoreSettings.Definitions.Archive) is { } archive
            ? Read(archive, source)
            : throw new ConfigurationException(ArchiveSetting, $"{ArchiveSetting} is empty. {AcceptedForms}");
    }

    /// <inheritdoc />
    public string Description => ToString();

    /// <inheritdoc />
    public IArchiveStore Connect(ILoggerFactory loggerFactory) => S3ArchiveStore.Create(this, loggerFactory);

    /// <summary>Checks every option; throws on the first bad one with its setting's name and the value (never a secret).</summary>
    /// <exception cref="ConfigurationException">An option is invalid.</exception>
    public void Validate()
    {
        if (BucketProblem(Bucket) is { } bucketProblem)
        {
            throw new ConfigurationException(ArchiveSetting, $"Bucket '{Bucket}' is not a valid S3 bucket name: {bucketProblem}.");
        }

        if (PrefixProblem(Prefix) is { } prefixProblem)
        {
            throw new ConfigurationException(ArchiveSetting, $"Prefix '{Prefix}' is not a valid archive prefix: {prefixProblem}.");
        }

        CheckEndpoint(EndpointSetting, ServiceUrl);
        CheckEndpoint(ClickHouseEndpointSetting, ClickHouseEndpoint);
        if (ClickHouseEndpoint is not null && ServiceUrl is null)
        {
            throw new ConfigurationException(ClickHouseEndpointSetting,
                $"{ClickHouseEndpointSetting} is '{ClickHouseEndpoint}' but {EndpointSetting} is unset: set both for an S3-compatible service, or neither for AWS.");
        }

        if (string.IsNullOrWhiteSpace(Region) || !RegionPattern().IsMatch(Region))
        {
            throw new ConfigurationException(RegionSetting,
                $"{RegionSetting} '{Region}' is not a region name (lowercase letters, digits and '-', e.g. us-east-1).");
        }

        if (NamedCollection is not null && !IdentifierPattern().IsMatch(NamedCollection))
        {
            throw new ConfigurationException(NamedCollectionSetting,
                $"{NamedCollectionSetting} '{NamedCollection}' is not a ClickHouse identifier (a letter or '_', then letters, digits or '_').");
        }

        if (OutageBound < MinimumOutageBound || OutageBound > MaximumOutageBound)
        {
            throw new ConfigurationException(OutageSetting, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{OutageSetting} {OutageBound.TotalSeconds} s is out of range: use {MinimumOutageBound.TotalSeconds} to {MaximumOutageBound.TotalSeconds} seconds (default {DefaultOutageBound.TotalSeconds})."));
        }

        if (Credentials is not null)
        {
            if (Anonymous)
            {
                throw new ConfigurationException(CredentialsSetting, "Both explicit credentials and Anonymous are set; choose one.");
            }

            // The access key id is quoted nowhere either: it identifies an account and is as sensitive as a user name.
            if (string.IsNullOrWhiteSpace(Credentials.AccessKeyId) || string.IsNullOrWhiteSpace(Credentials.SecretAccessKey))
            {
                throw new ConfigurationException(CredentialsSetting, "Explicit S3 credentials need both an access key id and a secret access key.");
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"s3://{Bucket}/{NormalizedPrefix}" + (ServiceUrl is null ? $" (AWS {Region})" : $" at {ServiceUrl}");

    private static Uri? ParseEndpoint(SettingValue? given)
    {
        if (given is not { } value)
        {
            return null;
        }

        var setting = value.Name;
        if (!Uri.TryCreate(value.Text, UriKind.Absolute, out var uri))
        {
            // Not quoted: a malformed endpoint may be a URL with user:password in it.
            throw new ConfigurationException(setting, $"{setting} is not an absolute URL; expected e.g. http://localhost:9000.");
        }

        CheckEndpoint(setting, uri);
        return uri;
    }

    private static void CheckEndpoint(string setting, Uri? endpoint)
    {
        if (endpoint is null)
        {
            return;
        }

        if (!endpoint.IsAbsoluteUri)
        {
            throw new ConfigurationException(setting, $"{setting} '{endpoint}' is not an absolute URL; expected e.g. http://localhost:9000.");
        }

        if (endpoint.UserInfo.Length > 0)
        {
            throw new ConfigurationException(setting, $"{setting} holds a user name or password; give credentials through AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead.");
        }

        if (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)
        {
            throw new ConfigurationException(setting, $"{setting} '{endpoint}' must use http or https.");
        }

        if (endpoint.AbsolutePath != "/" || endpoint.Query.Length > 0 || endpoint.Fragment.Length > 0)
        {
            throw new ConfigurationException(setting,
                $"{setting} '{endpoint}' must be scheme, host and port only (e.g. http://localhost:9000); the bucket goes in {ArchiveSetting}.");
        }
    }

    private static string? BucketProblem(string? bucket)
    {
        if (string.IsNullOrEmpty(bucket))
        {
            return "the bucket name is missing";
        }

        // S3's own rules (3–63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit); refusing here
        // turns a confusing signature or DNS error later into a message about the name.
        return BucketPattern().IsMatch(bucket) && !bucket.Contains("..", StringComparison.Ordinal)
            ? null
            : $"bucket '{bucket}' must be 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit";
    }

    private static string? PrefixProblem(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length == 0)
        {
            return null;
        }

        try
        {
            ArchiveKeys.ValidatePrefix(prefix);
        }
        catch (ArgumentException e)
        {
            var cut = e.Message.IndexOf(" (Parameter", StringComparison.Ordinal);
            return cut < 0 ? e.Message : e.Message[..cut];
        }

        // The prefix is part of every URL ClickHouse expands, where these would be globs.
        var glob = prefix.AsSpan().IndexOfAny(ArchiveKeys.GlobCharacters);
        return glob >= 0 ? $"prefix '{prefix}' contains '{prefix[glob]}', which ClickHouse reads as a glob" : null;
    }

    private static ConfigurationException InvalidUri(string setting, string value, string reason) =>
        new(setting, $"{setting} '{value}' is not a valid S3 archive location: {reason}. {AcceptedForms}");

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex BucketPattern();

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}

/// <summary>Explicit S3 credentials. <see cref="ToString"/> never prints them.</summary>
public sealed class S3Credentials
{
    /// <summary>Creates credentials; <paramref name="sessionToken"/> is for temporary (STS) credentials.</summary>
    public S3Credentials(string accessKeyId, string secretAccessKey, string? sessionToken = null)
    {
        AccessKeyId = accessKeyId;
        SecretAccessKey = secretAccessKey;
        SessionToken = sessionToken;
    }

    /// <summary>The access key id.</summary>
    public string AccessKeyId { get; }

    /// <summary>The secret access key.</summary>
    public string SecretAccessKey { get; }

    /// <summary>The session token of temporary credentials, or null.</summary>
    public string? SessionToken { get; }

    /// <inheritdoc />
    public override string ToString() => "S3Credentials(***)";
}
