using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Services;

/// <summary>
/// Turns an S3 outage during an archive or restore into one failure that names the endpoint, the workspace and the
/// step it stopped in, and says that nothing was lost: the error of the S3 call or of ClickHouse's <c>s3()</c>
/// statement alone says neither which step it broke nor that a rerun resumes.
/// </summary>
/// <remarks>
/// What the outage does to the data is already safe without this: every step is recorded before the next begins, so the
/// archive stays (copying, verified or archived) and a rerun resumes. How long it takes to fail is bounded by the
/// store's own settings (<c>COLDSTORE_S3_OUTAGE_SECONDS</c>): ClickHouse's S3 retries and Coldstore's SDK calls both
/// carry timeouts and retry counts derived from it. The step comes from the operation's own progress reports, so
/// the archiver needs no change to say where it stopped.
/// </remarks>
internal static class ArchiveStoreOutage
{
    // S3_ERROR, and the failures ClickHouse reports when a transfer through s3() breaks off: CANNOT_READ_FROM_ISTREAM
    // (the object's stream ended mid-read, seen when S3 is killed during a restore insert), SOCKET_TIMEOUT,
    // NETWORK_ERROR and POCO_EXCEPTION.
    private static readonly HashSet<int> OutageCodes = [499, 23, 209, 210, 1000];

    /// <summary>Runs an operation; an S3 outage in it fails as a <see cref="WorkspaceOperationException"/> of kind Failed.</summary>
    public static async Task<T> RunAsync<T>(
        Guid workspaceId, string operation, IArchiveStore store, IProgress<OperationProgress>? progress, Func<IProgress<OperationProgress>, Task<T>> run)
    {
        var steps = new StepTracker(progress);
        try
        {
            return await run(steps).ConfigureAwait(false);
        }
        catch (ColdstoreException e) when (IsOutage(e, store))
        {
            throw new WorkspaceOperationException(workspaceId, steps.Current ?? operation, Describe(workspaceId, operation, store, steps, e), WorkspaceErrorKind.Failed, e);
        }
    }

    /// <summary>
    /// True for a failure to reach the S3 archive store: the store's own "could not be reached" (it names the endpoint
    /// setting), or a ClickHouse statement that failed with an S3 or network error while the archive is in S3.
    /// </summary>
    internal static bool IsOutage(ColdstoreException error, IArchiveStore store) => error switch
    {
        // The S3 store names the archive setting or one of its own (COLDSTORE_S3_*) when it cannot be reached.
        EngineUnavailableException unavailable => (unavailable.Setting == ColdstoreSettings.ArchiveVariable
                || unavailable.Setting.StartsWith("COLDSTORE_S3_", StringComparison.Ordinal))
            && IsS3(store),
        ClickHouseException clickHouse => IsS3(store) && OutageCodes.Contains(clickHouse.Code)
            && (clickHouse.Code == 499 || clickHouse.EngineMessage.Contains("S3", StringComparison.Ordinal)
                || clickHouse.EngineMessage.Contains("ObjectStorage", StringComparison.Ordinal))
            && !Refusals.Any(refusal => clickHouse.EngineMessage.Contains(refusal, StringComparison.Ordinal)),
        _ => false,
    };

    // S3 answered, and said no: a missing object or bucket, or refused credentials, is no outage and no rerun fixes it.
    private static readonly string[] Refusals = ["NoSuchKey", "NoSuchBucket", "AccessDenied", "Access Denied", "InvalidAccessKeyId", "SignatureDoesNotMatch"];

    private static bool IsS3(IArchiveStore store) => store.Description.StartsWith("s3://", StringComparison.Ordinal);

    private static string Describe(Guid workspaceId, string operation, IArchiveStore store, StepTracker steps, ColdstoreException error)
    {
        var reason = error is ClickHouseException clickHouse ? $"ClickHouse: {clickHouse.EngineMessage}" : error.Message;
        const int MaxReason = 300;
        if (reason.Length > MaxReason)
        {
            reason = reason[..MaxReason] + "…";
        }

        var where = steps.Current is { } current
            ? $"at step '{current}'" + (steps.LastCompleted is { } done && done != current ? $" (after {done})" : string.Empty)
            : "before its first step";
        return $"The {operation} of workspace {workspaceId} stopped {where}: the S3 archive store {store.Description} did not answer ({reason.ReplaceLineEndings(" ")}). "
            + $"Nothing was lost: what was done so far is recorded and nothing was deleted on the strength of the unfinished step. "
            + $"Rerun the {operation} once S3 answers again; it resumes where it stopped (COLDSTORE_S3_OUTAGE_SECONDS bounds how long a step waits for S3).";
    }

    /// <summary>Passes progress on and remembers the step running and the last one completed.</summary>
    private sealed class StepTracker(IProgress<OperationProgress>? inner) : IProgress<OperationProgress>
    {
        private readonly Lock _gate = new();
        private string? _current;
        private string? _lastCompleted;

        public string? Current
        {
            get
            {
                lock (_gate)
                {
                    return _current;
                }
            }
        }

        public string? LastCompleted
        {
            get
            {
                lock (_gate)
                {
                    return _lastCompleted;
                }
            }
        }

        public void Report(OperationProgress value)
        {
            lock (_gate)
            {
                _current = value.Step;
                if (Steps.All.Contains(value.Step))
                {
                    _lastCompleted = value.Step;
                }
            }

            inner?.Report(value);
        }
    }
}
