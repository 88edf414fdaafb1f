using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Coldstore.Cli;

/// <summary>
/// Where a command's output goes: with <c>--json</c>, one JSON document on stdout and nothing else there;
/// always, human text (tables, progress, errors) on stderr, so pipes stay clean.
/// </summary>
internal sealed class CliOutput
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly TextWriter _stdout;
    private readonly TextWriter _stderr;

    public CliOutput(TextWriter stdout, TextWriter stderr, bool json)
    {
        _stdout = stdout;
        _stderr = stderr;
        IsJson = json;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Interactive = InteractionSupport.Detect,
        });
        // Progress bars only make sense for a person watching a terminal.
        ShowProgress = !json && ReferenceEquals(stderr, System.Console.Error) && !System.Console.IsErrorRedirected;
        if (!ShowProgress)
        {
            // Redirected output goes to logs and scripts: never wrap a line at an imagined 80 columns.
            Console.Profile.Width = 4096;
        }
    }

    /// <summary>True when the caller asked for JSON on stdout.</summary>
    public bool IsJson { get; }

    /// <summary>True when progress bars should be drawn.</summary>
    public bool ShowProgress { get; }

    /// <summary>The human console (stderr).</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Writes the command's JSON result to stdout.</summary>
    public void WriteJson<T>(T value) => _stdout.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>Writes the command's main human result: to stdout when not in JSON mode (so it can be captured), else nowhere.</summary>
    public void WriteResult(string line)
    {
        if (!IsJson)
        {
            _stdout.WriteLine(line);
        }
    }

    /// <summary>
    /// Runs an operation, showing its current step under a spinner when a person is watching (nothing otherwise).
    /// </summary>
    public async Task<T> WithProgressAsync<T>(string label, Func<IProgress<Services.OperationProgress>, Task<T>> run)
    {
        if (!ShowProgress)
        {
            return await run(new Progress<Services.OperationProgress>()).ConfigureAwait(false);
        }

        return await Console.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(label), async status =>
        {
            var progress = new Progress<Services.OperationProgress>(p =>
                status.Status($"{Markup.Escape(label)}: {Markup.Escape(p.Step)}{(p.Detail is null ? string.Empty : " — " + Markup.Escape(p.Detail))}"));
            return await run(progress).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>Writes a human note to stderr.</summary>
    public void Info(string markup) => Console.MarkupLine(markup);

    /// <summary>Writes one error line to stderr, plain so that scripts and logs get it whole.</summary>
    public void Error(string message) => _stderr.WriteLine($"coldstore: error: {message.ReplaceLineEndings(" ")}");
}
