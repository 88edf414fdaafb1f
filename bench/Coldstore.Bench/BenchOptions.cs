using System.Globalization;

namespace Coldstore.Bench;

/// <summary>What to run, from the command line.</summary>
/// <param name="Events">Events ingested into the measured workspace.</param>
/// <param name="Repeat">How many times each baseline/Coldstore pair runs; the report shows medians.</param>
/// <param name="Warmup">Untimed repetitions first, so JIT, caches and first-use setup do not land in one side's numbers.</param>
/// <param name="Json">Write the result as JSON on stdout (the table then goes to stderr).</param>
/// <param name="Directory">Where chDB, the state, the archive and the baseline file live; null for a new temporary directory.</param>
internal sealed record BenchOptions(int Events, int Repeat, int Warmup, bool Json, string? Directory)
{
    public const string Usage = """
        Usage: bench/run.sh [--events N] [--repeat R] [--warmup W] [--json] [--dir DIR]
          --events N   events to generate and ingest (default 200000)
          --repeat R   baseline/Coldstore pairs per operation; medians are reported (default 3)
          --warmup W   untimed archive/restore rounds first (default 1; 0 to measure a cold process)
          --json       print the result as JSON on stdout (the table goes to stderr)
          --dir DIR    working directory for chDB, state, archive and baseline files (default: a new temp dir)
        """;

    /// <summary>Parses the arguments; returns null (after printing why) when they are wrong or help was asked for.</summary>
    public static BenchOptions? Parse(IReadOnlyList<string> args, TextWriter error)
    {
        var options = new BenchOptions(200_000, 3, 1, false, null);
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{args[i]} needs a value.");
            try
            {
                options = args[i] switch
                {
                    "--events" => options with { Events = Positive(Value(), "--events") },
                    "--repeat" => options with { Repeat = Positive(Value(), "--repeat") },
                    "--warmup" => options with { Warmup = NonNegative(Value(), "--warmup") },
                    "--json" => options with { Json = true },
                    "--dir" => options with { Directory = Path.GetFullPath(Value()) },
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

        return options;
    }

    private static int Positive(string text, string name) =>
        NonNegative(text, name) is > 0 and var value ? value : throw new FormatException($"{name} must be at least 1, not '{text}'.");

    private static int NonNegative(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"{name} must be a whole number, not '{text}'.");
}
