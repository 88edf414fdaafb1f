using System.Globalization;
using ScottPlot;

namespace Coldstore.Bench;

/// <summary>Draws the run's figures as one PNG of panels: the single-workspace ratios, fleet rates, and scaling.</summary>
internal static class BenchChart
{
    public static void Write(BenchRun run, string path)
    {
        var panels = new List<Action<Plot>>();
        if (run.Single is { } single)
        {
            panels.Add(plot => Single(plot, single));
        }

        if (run.Fleet is { } fleet)
        {
            panels.Add(plot => Fleet(plot, fleet));
        }

        if (run.Scaling is { Count: > 0 } scaling)
        {
            panels.Add(plot => ScalingTime(plot, scaling));
            panels.Add(plot => ScalingMemory(plot, scaling));
        }

        if (run.Erase is { } erase)
        {
            panels.Add(plot => Erase(plot, erase));
        }

        if (panels.Count == 0)
        {
            return;
        }

        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        var columns = panels.Count == 1 ? 1 : 2;
        var rows = (panels.Count + columns - 1) / columns;
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        for (var i = 0; i < panels.Count; i++)
        {
            panels[i](multiplot.GetPlot(i));
        }

        multiplot.SavePng(path, 800 * columns, 480 * rows);
    }

    private static void Single(Plot plot, SingleResult single)
    {
        Bars(plot, "Single workspace: Coldstore / baseline (lower is better)", "ratio",
        [
            ("archive\n/ bare copy A", single.ArchiveRatio),
            ("archive\n/ D copy\n(target 0.9)", single.ArchiveToDittofeedRatio),
            ("archive+deletes\n/ D copy+delete", single.ArchiveWithDeletesToDittofeedRatio),
            ("restore\n/ bare insert B\n(target 1.1)", single.RestoreRatio),
            ("D restore\n/ bare insert B", single.DittofeedRestoreRatio),
            ("archive bytes\n/ D bytes\n(target 0.6)", single.BytesToDittofeedRatio),
        ], logarithmic: false);
        Reference(plot, 1, Colors.Gray, null);
    }

    private static void Fleet(Plot plot, FleetResult fleet)
    {
        Bars(plot, Invariant($"Fleet: {fleet.Workspaces:N0} workspaces x {fleet.EventsPerWorkspace} events (higher is better, log scale)"), "workspaces / s",
        [
            ("floor archive\n(export+delete)", fleet.FloorArchiveRate),
            ("Coldstore\narchive", fleet.ArchiveRate),
            ("Coldstore archive\n+deletes applied", fleet.ArchiveWithDeletesRate),
            ("floor restore\n(insert back)", fleet.FloorRestoreRate),
            ("Coldstore\nrestore", fleet.RestoreRate),
        ], logarithmic: true);
        Reference(plot, Math.Log10(20), Colors.Red, "target 20/s");
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void Erase(Plot plot, EraseResult erase)
    {
        Bars(plot, Invariant($"Erase one user of {erase.Events:N0} events: erase / baseline (lower is better)"), "ratio",
        [
            .. erase.Variants.SelectMany(v => new[]
            {
                (Invariant($"erase / bare copy A\n{v.Archives} archive{(v.Archives == 1 ? "" : "s")}"), v.EraseToCopyRatio),
                (Invariant($"erase / archive\n{v.Archives} archive{(v.Archives == 1 ? "" : "s")}"), v.EraseToArchiveRatio),
            }),
        ], logarithmic: false);
        Reference(plot, 1, Colors.Gray, null);
    }

    private static void ScalingTime(Plot plot, IReadOnlyList<ScalingPoint> points)
    {
        Lines(plot, points, "Scaling: seconds per million rows", "s / million rows",
        [
            ("archive", p => p.ArchiveSecondsPerMillion),
            ("archive + deletes", p => p.ArchiveWithDeletesSecondsPerMillion),
            ("restore", p => p.RestoreSecondsPerMillion),
        ], Alignment.UpperRight);
    }

    private static void ScalingMemory(Plot plot, IReadOnlyList<ScalingPoint> points)
    {
        Lines(plot, points, "Scaling: peak RSS of the process", "MiB",
        [
            ("archive peak RSS", p => Math.Max(p.Archive.PeakRssBytes, p.ArchiveDeletes.PeakRssBytes) / 1048576.0),
            ("restore peak RSS", p => p.Restore.PeakRssBytes / 1048576.0),
            ("archive growth", p => p.ArchiveWithDeletes.PeakGrowthBytes / 1048576.0),
            ("restore growth", p => p.Restore.PeakGrowthBytes / 1048576.0),
        ], Alignment.UpperLeft);
        Reference(plot, 1024, Colors.Red, "1 GiB");
        // Keep the 1 GiB line in view even when every point is far below it.
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, Math.Max(plot.Axes.GetLimits().Top, 1150));
    }

    /// <summary>A dashed horizontal line: the 1.00 of a ratio, or a target.</summary>
    private static void Reference(Plot plot, double y, Color color, string? legend)
    {
        var line = plot.Add.HorizontalLine(y);
        line.LinePattern = LinePattern.Dashed;
        line.Color = color;
        if (legend is not null)
        {
            line.LegendText = legend;
        }
    }

    /// <summary>
    /// One bar per value, each labelled with its value. Logarithmic: bar heights are log10 of the values (all ≥ 1 here),
    /// the axis names the powers of ten, because the floor's rates are a hundred times Coldstore's.
    /// </summary>
    private static void Bars(Plot plot, string title, string yLabel, (string Name, double Value)[] values, bool logarithmic)
    {
        var palette = new ScottPlot.Palettes.Category10();
        var bars = values.Select((v, i) => new Bar
        {
            Position = i,
            Value = !double.IsFinite(v.Value) ? 0 : logarithmic ? Math.Log10(Math.Max(1, v.Value)) : v.Value,
            Label = v.Value.ToString(logarithmic ? "F1" : "F2", CultureInfo.InvariantCulture),
            FillColor = palette.GetColor(i),
        }).ToList();
        var plottable = plot.Add.Bars(bars);
        plottable.ValueLabelStyle.FontSize = 14;
        plot.Axes.Bottom.SetTicks([.. values.Select((_, i) => (double)i)], [.. values.Select(v => v.Name)]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Margins(bottom: 0, top: 0.15);
        if (logarithmic)
        {
            double[] powers = [0, 1, 2, 3, 4, 5];
            plot.Axes.Left.SetTicks(powers, [.. powers.Select(p => Math.Pow(10, p).ToString("N0", CultureInfo.InvariantCulture))]);
        }

        plot.Title(title);
        plot.YLabel(yLabel);
        plot.Grid.XAxisStyle.MajorLineStyle.Width = 0;
    }

    private static void Lines(Plot plot, IReadOnlyList<ScalingPoint> points, string title, string yLabel, (string Name, Func<ScalingPoint, double> Value)[] series, Alignment legend)
    {
        // Log x by hand: positions are log10(events), ticks name the sizes.
        var xs = points.Select(p => Math.Log10(p.Events)).ToArray();
        foreach (var (name, value) in series)
        {
            var scatter = plot.Add.Scatter(xs, [.. points.Select(value)]);
            scatter.LegendText = name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 8;
        }

        plot.Axes.Bottom.SetTicks(xs, [.. points.Select(p => Invariant($"{p.Events:N0}"))]);
        plot.Axes.Margins(left: 0.08, right: 0.08);
        plot.Axes.Bottom.Label.Text = "events in the workspace (log scale)";
        plot.Title(title);
        plot.YLabel(yLabel);
        // Where the lines are not: seconds per row fall with size (upper right is free), memory rises (upper left is).
        plot.ShowLegend(legend);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
