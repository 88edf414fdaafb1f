using System.Globalization;

namespace Coldstore.Archive.S3;

/// <summary>
/// How long S3 may stay silent before a statement or an SDK call gives up, derived from one bound
/// (<see cref="S3ArchiveOptions.OutageBound"/>): the connect and idle timeouts and the retry counts, for ClickHouse's
/// S3 client and for the AWS SDK alike, are chosen so that their worst case (every attempt timing out) stays inside it.
/// </summary>
/// <remarks>
/// <para>
/// Why this exists: ClickHouse's own defaults do not bound an outage in any useful time. Its S3 client retries a
/// failed request <c>s3_retry_attempts</c> times (100 in 24.x, 500 from 25.11) with a backoff that doubles from 25 ms up
/// to 5 s, and a read retries that whole request <c>s3_max_single_read_retries</c> (4) times more. Measured on chDB 26.7
/// against a closed port: no answer after 60 s with the defaults; 16.5 s with <c>s3_retry_attempts = 10</c>; 0.1 s with
/// 1. A restore whose S3 went away mid-read therefore sat idle for more than nine minutes, reconnecting every 5 s.
/// </para>
/// <para>
/// The budget: a read makes up to <see cref="ReadRetries"/> + 1 tries of a request, each request up to
/// <see cref="RetryAttempts"/> + 1 attempts (a write likewise with <see cref="WriteRetries"/>), and each attempt may spend
/// the connect timeout and then the idle timeout. With 2 × 3 = 6 attempts and the bound split in eight, a dead endpoint
/// (refused at once) fails in well under a second, and a silent one within about three quarters of the bound; the rest
/// is margin for the requests ClickHouse adds around a failed write (aborting a multipart upload).
/// Every setting here exists from ClickHouse 24.3 on (<c>s3_connect_timeout_ms</c> is the newest), so 24.8 and later
/// accept them all.
/// </para>
/// </remarks>
public sealed record S3Deadlines
{
    private const int AttemptSlices = 8;

    /// <summary>The deadlines for <paramref name="bound"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The bound is under <see cref="S3ArchiveOptions.MinimumOutageBound"/>.</exception>
    public S3Deadlines(TimeSpan bound)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bound, S3ArchiveOptions.MinimumOutageBound, nameof(bound));
        Bound = bound;
        var attempt = bound / AttemptSlices;
        // A connection to a live S3 opens in milliseconds; a quarter of the attempt (at most 10 s) is plenty, and the
        // rest of it is the idle time a stalled transfer is allowed between two bytes.
        ConnectTimeout = TimeSpan.FromMilliseconds(Math.Clamp(attempt.TotalMilliseconds / 4, 200, 10_000));
        RequestTimeout = attempt - ConnectTimeout;
    }

    /// <summary>The longest an operation goes on trying to reach S3 once it stops answering.</summary>
    public TimeSpan Bound { get; }

    /// <summary>How long one attempt may wait for a connection.</summary>
    public TimeSpan ConnectTimeout { get; }

    /// <summary>How long one attempt may wait with nothing sent or received (ClickHouse) or in all (the SDK).</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>Retries of one request after its first attempt (ClickHouse's <c>s3_retry_attempts</c>, the SDK's MaxErrorRetry).</summary>
    public int RetryAttempts { get; } = 2;

    /// <summary>Retries of one whole read (<c>s3_max_single_read_retries</c>).</summary>
    public int ReadRetries { get; } = 1;

    /// <summary>Retries of one write after an unexpected error (<c>s3_max_unexpected_write_error_retries</c>).</summary>
    public int WriteRetries { get; } = 1;

    /// <summary>
    /// The ClickHouse settings every statement that reads or writes objects through <c>s3()</c> carries, so that an
    /// outage fails it within <see cref="Bound"/> instead of retrying for most of an hour.
    /// </summary>
    public IReadOnlyDictionary<string, string> ClickHouseSettings => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["s3_connect_timeout_ms"] = Milliseconds(ConnectTimeout),
        ["s3_request_timeout_ms"] = Milliseconds(RequestTimeout),
        ["s3_retry_attempts"] = RetryAttempts.ToString(CultureInfo.InvariantCulture),
        ["s3_max_single_read_retries"] = ReadRetries.ToString(CultureInfo.InvariantCulture),
        ["s3_max_unexpected_write_error_retries"] = WriteRetries.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// The hard limit on one SDK call (all its attempts and backoff): what is left of the bound after the attempts
    /// themselves would have been spent is not waited for.
    /// </summary>
    public TimeSpan SdkCallLimit => Bound * 3 / 4;

    private static string Milliseconds(TimeSpan value) =>
        ((long)Math.Ceiling(value.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
}
