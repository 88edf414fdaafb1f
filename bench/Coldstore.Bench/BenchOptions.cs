using System.Globalization;

namespace Coldstore.Bench;

/// <summary>Which measurements to run.</summary>
[Flags]
internal enum Scenarios
{
    None = 0,
    Single = 1,
    Fleet = 2,
    Scaling = 4,
    Erase = 8,
    All = Single | Fleet | Scaling | Erase,
}

/// <summary>What to run, from the command line.</summary>
/// <param name="Scenarios">The scenarios to run, in the order single, fleet, scaling, erase.</param>
/// <param name="Events">Single and erase: events ingested into the measured workspace.</param>
/// <param name="Repeat">Single and erase: how many times each baseline/Coldstore pair runs; the report shows medians.</param>
/// <param name="Warmup">Single and erase: untimed repetitions first, so JIT, caches and first-use setup do not land in one side's numbers.</param>
/// <param name="FleetWorkspaces">Fleet: how many workspaces.</param>
/// <param name="FleetEvents">Fleet: events per workspace.</param>
/// <param name="BatchSize">Fleet: workspaces per batch of the batch archive and restore (<see cref="Coldstore.Services.ColdstoreOptions.BatchSize"/>).</param>
/// <param name="Sizes">Scaling: the workspace sizes, in events, smallest first.</param>
/// <param name="EraseChunks">Erase: besides the default chunk size, also archive in this many chunks (several archives) and erase from them; 1 for not.</param>
/// <param name="Json">Write the result as JSON on stdout (the tables then go to stderr).</param>
/// <param name="Directory">Where chDB, the state, the archive and the baseline files live; null for a new temporary directory.</param>
/// <param name="Out">Where the chart (PNG) and the tables (latest.md) are written; null for nowhere.</param>
internal sealed record BenchOptions(
    Scenarios Scenarios,
    int Events,
    int Repeat,
    int Warmup,
    int FleetWorkspaces,
    int FleetEvents,
    int BatchSize,
    IReadOnlyList<long> Sizes,
    int EraseChunks,
    bool Json,
    string? Directory,
    string? Out)
{
    public const string Usage = """
        Usage: bench/run.sh [--scenario single|fleet|scaling|erase|all] [options]
          --scenario S   which measurement: single, fleet, scaling, erase or all (default all); may be repeated
          --events N     single, erase: events to generate and ingest (default 200000)
          --repeat R     single, erase: baseline/Coldstore rounds; medians are reported (default 3)
          --warmup W     single, erase: untimed rounds first (default 1; 0 to measure a cold process)
          --fleet NxM    fleet: N workspaces of M events each (default 1000x50)
          --batch-size B   fleet: workspaces per batch of archive and restore (default 100, Coldstore's default)
          --sizes A,B,…  scaling: workspace sizes in events (default 10000,100000,1000000)
          --erase-chunks K   erase: also archive in K chunks (ChunkRows = N/K) and erase from them (default 4; 1: not)
          --json         print the result as JSON on stdout (the tables go to stderr)
          --dir DIR      working directory for chDB, state, archive and baseline files (default: a new temp dir)
          --out DIR      write the chart (bench.png) and the tables (latest.md) there (run.sh: bench/results)
        """;

    public static BenchOptions Default { get; } = new(
        Scenarios.None, 200_000, 3, 1, 1_000, 50, 100, [10_000, 100_000, 1_000_000], 4, false, null, null);

    /// <summary>Parses the arguments; returns null (after printing why) when they are wrong or help was asked for.</summary>
    public static BenchOptions? Parse(IReadOnlyList<string> args, TextWriter error)
    {
        var options = Default;
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{args[i]} needs a value.");
            try
            {
                options = args[i] switch
                {
                    "--scenario" => options with { Scenarios = options.Scenarios | ParseScenario(Value()) },
                    "--events" => options with { Events = Positive(Value(), "--events") },
                    "--repeat" => options with { Repeat = Positive(Value(), "--repeat") },
                    "--warmup" => options with { Warmup = NonNegative(Value(), "--warmup") },
                    "--fleet" => ParseFleet(options, Value()),
                    "--batch-size" => options with { BatchSize = Positive(Value(), "--batch-size") },
                    "--sizes" => options with { Sizes = ParseSizes(Value()) },
                    "--erase-chunks" => options with { EraseChunks = Chunks(Value()) },
                    "--json" => options with { Json = true },
                    "--dir" => options with { Directory = Path.GetFullPath(Value()) },
                    "--out" => options with { Out = Path.GetFullPath(Value()) },
                    "-h" or "--help" => throw new FormatException(string.Empty),
                    _ => throw new FormatException($"Unknown argument '{args[i]}'."),
                };
            }
            catch (FormatException e)
            {
                if (e.Message.Length > 0)
                {
                    error.WriteLine(e.Message);
                }

                error.WriteLine(Usage);
                return null;
            }
        }

        return options.Scenarios == Scenarios.None ? options with { Scenarios = Scenarios.All } : options;
    }

    private static Scenarios ParseScenario(string text) => text switch
    {
        "single" => Scenarios.Single,
        "fleet" => Scenarios.Fleet,
        "scaling" => Scenarios.Scaling,
        "erase" => Scenarios.Erase,
        "all" => Scenarios.All,
        _ => throw new FormatException($"--scenario must be single, fleet, scaling, erase or all, not '{text}'."),
    };

    private static BenchOptions ParseFleet(BenchOptions options, string text)
    {
        var parts = text.Split('x');
        return parts.Length == 2
            ? options with { FleetWorkspaces = Positive(parts[0], "--fleet N"), FleetEvents = Positive(parts[1], "--fleet M") }
            : throw new FormatException($"--fleet takes NxM (workspaces x events each, e.g. 1000x50), not '{text}'.");
    }

    private static long[] ParseSizes(string text)
    {
        var sizes = text.Split(',').Select(part => (long)Positive(part.Trim(), "--sizes")).Order().ToArray();
        return sizes.Length > 0 ? sizes : throw new FormatException("--sizes needs at least one size.");
    }

    private static int Chunks(string text) =>
        Positive(text, "--erase-chunks") is <= 100 and var chunks ? chunks : throw new FormatException($"--erase-chunks must be at most 100, not '{text}'.");

    private static int Positive(string text, string name) =>
        NonNegative(text, name) is > 0 and var value ? value : throw new FormatException($"{name} must be at least 1, not '{text}'.");

    private static int NonNegative(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"{name} must be a whole number, not '{text}'.");
}
