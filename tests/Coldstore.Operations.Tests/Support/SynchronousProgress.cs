using Coldstore.Services;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// Progress handled on the reporting thread, before the operation goes on: a test can act at an exact step, and the
/// order recorded is the order of the steps (<see cref="Progress{T}"/> posts each report to run later).
/// </summary>
public sealed class SynchronousProgress(Action<OperationProgress> report) : IProgress<OperationProgress>
{
    public void Report(OperationProgress value) => report(value);
}
