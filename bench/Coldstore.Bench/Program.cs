using Coldstore.Bench;

// Exit codes: 0 measured and correct, 1 a wrong result (checksums differ, a count is off), 2 bad arguments.
var options = BenchOptions.Parse(args, Console.Error);
if (options is null)
{
    return 2;
}

var directory = options.Directory ?? Path.Combine(Path.GetTempPath(), "coldstore-bench-" + Guid.NewGuid().ToString("N")[..12]);
Directory.CreateDirectory(directory);
Console.Error.WriteLine($"coldstore bench: working in {directory}");

try
{
    var loadBefore = BenchRun.LoadAverage();
    await using var host = await BenchHost.OpenAsync(directory, options.BatchSize);
    using var memory = new ProcessMemory();
    var timer = new PhaseTimer(host.ClickHouse, memory, Console.Error);
    var single = options.Scenarios.HasFlag(Scenarios.Single) ? await new SingleScenario(options, host, timer).RunAsync() : null;
    var fleet = options.Scenarios.HasFlag(Scenarios.Fleet) ? await new FleetScenario(options, host, timer).RunAsync() : null;
    var scaling = options.Scenarios.HasFlag(Scenarios.Scaling) ? await new ScalingScenario(options, host, timer).RunAsync() : null;
    var erase = options.Scenarios.HasFlag(Scenarios.Erase) ? await new EraseScenario(options, host, timer).RunAsync() : null;
    var run = new BenchRun(host.EngineName, Environment.ProcessorCount, memory.Method, loadBefore, BenchRun.LoadAverage(), single, fleet, scaling, erase);

    // With --json, stdout carries only the JSON document; people read the tables on stderr.
    var markdown = BenchReport.Markdown(run);
    (options.Json ? Console.Error : Console.Out).Write(markdown);
    if (options.Json)
    {
        BenchReport.WriteJson(run, Console.Out);
    }

    if (options.Out is { } output)
    {
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, "latest.md"), markdown);
        BenchChart.Write(run, Path.Combine(output, "bench.png"));
        Console.Error.WriteLine($"coldstore bench: wrote {Path.Combine(output, "latest.md")} and {Path.Combine(output, "bench.png")}");
    }

    return single is null || single.ChecksumsMatch ? 0 : 1;
}
catch (BenchmarkFailedException e)
{
    Console.Error.WriteLine($"coldstore bench: WRONG RESULT, no timings reported: {e.Message}");
    return 1;
}
