using Microsoft.Extensions.Logging;

namespace Coldstore.Archive.S3;

/// <summary>Source-generated log messages with stable event ids (31xx). No field ever holds a credential.</summary>
internal static partial class S3Log
{
    [LoggerMessage(3101, LogLevel.Debug, "Opened S3 archive store {Store}; ClickHouse reaches it at {ClickHouseUrl} with {CredentialMode}")]
    public static partial void Opened(ILogger logger, string store, string clickHouseUrl, string credentialMode);

    [LoggerMessage(3102, LogLevel.Information, "Deleted {Count} objects under s3://{Bucket}/{Prefix}")]
    public static partial void DeletedPrefix(ILogger logger, int count, string bucket, string prefix);

    [LoggerMessage(3103, LogLevel.Warning, "S3 did not delete {Failed} of {Requested} objects under s3://{Bucket}/{Prefix} (first: {Key}, {Code}); retrying them, attempt {Attempt}")]
    public static partial void DeleteErrors(ILogger logger, int failed, int requested, string bucket, string prefix, string key, string code, int attempt);

    [LoggerMessage(3104, LogLevel.Debug, "S3 {Operation} on s3://{Bucket}/{Key} failed: {Reason}")]
    public static partial void OperationFailed(ILogger logger, string operation, string bucket, string key, string reason);
}
