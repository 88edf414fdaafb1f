using Coldstore.Domain;
using Coldstore.Services;

namespace Coldstore.Bench;

/// <summary>
/// One workspace at each size, beside another tenant with a fifth as many rows that must stay untouched: archive,
/// its deletes and restore, each timed, with the process's peak resident memory per phase.
/// </summary>
internal sealed class ScalingScenario(BenchOptions options, BenchHost host, PhaseTimer timer)
{
    /// <summary>The neighbour's size relative to the measured workspace.</summary>
    private const int NeighbourDivisor = 5;

    public async Task<IReadOnlyList<ScalingPoint>> RunAsync()
    {
        var points = new List<ScalingPoint>();
        foreach (var size in options.Sizes)
        {
            points.Add(await MeasureAsync(size));
        }

        return points;
    }

    private async Task<ScalingPoint> MeasureAsync(long size)
    {
        var service = host.Service;
        var label = $"scaling {size:N0}";
        await host.TruncateEventsAsync();
        var workspace = (await service.CreateWorkspaceAsync(new NewWorkspace($"bench scaling {size}"))).Id;
        var neighbour = (await service.CreateWorkspaceAsync(new NewWorkspace($"bench scaling {size} neighbour"))).Id;

        var generate = await timer.MeasureAsync(label, "generate events", async () =>
        {
            await host.ClickHouse.ExecuteAsync(GeneratedEvents.Insert(service.Tables, [workspace], size));
            await host.ClickHouse.ExecuteAsync(GeneratedEvents.Insert(service.Tables, [neighbour], Math.Max(1, size / NeighbourDivisor)));
        });
        // Untimed: merges of the fresh parts would otherwise compete with the archive for the two cores.
        await host.WaitForQuietAsync(TimeSpan.FromMinutes(15));
        var before = await service.GetWorkspaceChecksumsAsync(workspace);
        var neighbourBefore = await service.GetWorkspaceChecksumsAsync(neighbour);
        PhaseTimer.Expect(before.EventRows == size, $"{label}: generated {before.EventRows} rows, not {size}");

        OperationResult? archived = null;
        var archive = await timer.MeasureAsync(label, "archive", async () => archived = await service.ColdStoreWorkspaceEventsAsync(workspace));
        PhaseTimer.Expect(archived!.Rows == size, $"{label}: the archive moved {archived.Rows} rows, not {size}");
        timer.Log($"[{label}] archive steps: {StepLine(archived)}");
        var deletes = await timer.MeasureAsync(label, "archive deletes", host.WaitForMutationsAsync);
        var cold = await service.GetWorkspaceChecksumsAsync(workspace);
        PhaseTimer.Expect(cold.EventRows == 0 && cold.InternalEventRows == 0, $"{label}: {cold.EventRows} rows still hot after the archive");

        OperationResult? restored = null;
        var restore = await timer.MeasureAsync(label, "restore", async () => restored = await service.RestoreWorkspaceEventsAsync(workspace));
        PhaseTimer.Expect(restored!.Rows == size, $"{label}: the restore moved {restored.Rows} rows, not {size}");

        timer.Log($"[{label}] restore steps: {StepLine(restored)}");
        var after = await service.GetWorkspaceChecksumsAsync(workspace);
        var neighbourAfter = await service.GetWorkspaceChecksumsAsync(neighbour);
        PhaseTimer.Expect(after == before, $"{label}: after the round trip the workspace is {after}, not {before}");
        PhaseTimer.Expect(neighbourAfter == neighbourBefore, $"{label}: the other tenant changed: {neighbourAfter}, was {neighbourBefore}");
        return new ScalingPoint(size, before.InternalEventRows, neighbourBefore.EventRows, generate, archive, deletes, restore, archived.Bytes);
    }

    /// <summary>Where an operation's time went: each step's seconds summed (a chunked archive repeats its steps), longest first.</summary>
    private static string StepLine(OperationResult result) =>
        string.Join(", ", FleetScenario.StepTotals([result]).Take(8).Select(step => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{step.Name} {step.Seconds:F2} s")))
        + string.Create(System.Globalization.CultureInfo.InvariantCulture, $" ({result.Archives.Count} archives)");
}

/// <summary>One size of the scaling scenario.</summary>
internal sealed record ScalingPoint(
    long Events,
    long InternalEvents,
    long NeighbourEvents,
    PhaseSample Generate,
    PhaseSample Archive,
    PhaseSample ArchiveDeletes,
    PhaseSample Restore,
    long ArchiveBytes)
{
    public PhaseSample ArchiveWithDeletes => Archive.Then(ArchiveDeletes);

    public double ArchiveSecondsPerMillion => PerMillion(Archive);

    public double ArchiveWithDeletesSecondsPerMillion => PerMillion(ArchiveWithDeletes);

    public double RestoreSecondsPerMillion => PerMillion(Restore);

    /// <summary>The highest resident size of the process during the archive or the restore.</summary>
    public long PeakRssBytes => Math.Max(ArchiveWithDeletes.PeakRssBytes, Restore.PeakRssBytes);

    private double PerMillion(PhaseSample sample) => sample.Elapsed.TotalSeconds / (Events / 1e6);
}
