using System.Diagnostics;

namespace Coldstore.Services;

/// <summary>Records the steps of one operation with their timings, reports progress, and fires the step hook.</summary>
internal sealed class OperationRun(Guid workspaceId, IProgress<OperationProgress>? progress, Action<string>? stepCompleted)
{
    private readonly List<StepReport> _steps = [];
    private readonly Stopwatch _total = Stopwatch.StartNew();
    private readonly Stopwatch _step = Stopwatch.StartNew();

    public IReadOnlyList<StepReport> Steps => _steps;

    public TimeSpan Elapsed => _total.Elapsed;

    /// <summary>Says what is about to happen (progress only).</summary>
    public void Starting(string what) => progress?.Report(new OperationProgress(workspaceId, what, null));

    /// <summary>Records a finished step; named failpoint steps then reach the hook, which may end the process.</summary>
    public void Completed(string name, string? detail = null)
    {
        var elapsed = _step.Elapsed;
        _steps.Add(new StepReport(name, elapsed, detail));
        Diagnostics.ColdstoreTelemetry.StepDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("coldstore.step", name));
        Activity.Current?.AddEvent(new ActivityEvent(name));
        _step.Restart();
        progress?.Report(new OperationProgress(workspaceId, name, detail));
        stepCompleted?.Invoke(name);
    }
}
