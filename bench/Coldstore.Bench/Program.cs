using Coldstore.Bench;
using Spectre.Console;

// Exit codes: 0 measured and correct, 1 a wrong result (checksums differ, a count is off), 2 bad arguments.
var options = BenchOptions.Parse(args, Console.Error);
if (options is null)
{
    return 2;
}

var directory = options.Directory ?? Path.Combine(Path.GetTempPath(), "coldstore-bench-" + Guid.NewGuid().ToString("N")[..12]);
Directory.CreateDirectory(directory);
Console.Error.WriteLine($"coldstore bench: working in {directory}");

// With --json, stdout carries only the JSON document; people read the table on stderr.
var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(options.Json ? Console.Error : Console.Out) });
if (options.Json ? Console.IsErrorRedirected : Console.IsOutputRedirected)
{
    // Redirected to a file or a pipe: no terminal width to fit, so never wrap the table at an assumed 80 columns.
    console.Profile.Width = 200;
}

try
{
    var result = await new BenchRunner(options, Console.Error).RunAsync(directory);
    BenchReport.WriteTable(result, console);
    if (options.Json)
    {
        BenchReport.WriteJson(result, Console.Out);
    }

    return result.ChecksumsMatch ? 0 : 1;
}
catch (BenchmarkFailedException e)
{
    Console.Error.WriteLine($"coldstore bench: WRONG RESULT, no timings reported: {e.Message}");
    return 1;
}
