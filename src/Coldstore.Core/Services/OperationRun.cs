using System.Diagnostics;

namespace Coldstore.Services;

/// <summary>Records the steps of one operation with their timings, reports progress, and fires the step hook.</summary>
/// <remarks>Timed on the options' clock (<see cref="ColdstoreOptions.Time"/>), as every wait of the operation is.</remarks>
internal sealed class OperationRun(Guid workspaceId, IProgress<OperationProgress>? progress, Action<string>? stepCompleted, TimeProvider time)
{
    private readonly List<StepReport> _steps = [];
    private readonly long _started = time.GetTimestamp();
    private long _stepStarted = time.GetTimestamp();

    public IReadOnlyList<StepReport> Steps => _steps;

    public TimeSpan Elapsed => time.GetElapsedTime(_started);

    /// <summary>Says what is about to happen (progress only).</summary>
    public void Starting(string what) => progress?.Report(new OperationProgress(workspaceId, what, null));

    /// <summary>Records a finished step; named failpoint steps then reach the hook, which may end the process.</summary>
    public void Completed(string name, string? detail = null)
    {
        var now = time.GetTimestamp();
        var elapsed = time.GetElapsedTime(_stepStarted, now);
        _steps.Add(new StepReport(name, elapsed, detail));
        Diagnostics.ColdstoreTelemetry.StepDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("coldstore.step", name));
        Activity.Current?.AddEvent(new ActivityEvent(name));
        _stepStarted = now;
        progress?.Report(new OperationProgress(workspaceId, name, detail));
        stepCompleted?.Invoke(name);
    }
}
