using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Coldstore.Cli;

/// <summary>
/// Where a command's output goes: with <c>--json</c>, one JSON document on stdout and nothing else there;
/// always, human text (tables, progress, errors, log lines) on stderr, so pipes stay clean. Log lines never enter
/// a live progress display: while one runs they are held, and printed as soon as it has ended.
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

    // Guards the live-display count and the held lines: log lines come from any thread (lease renewals, drivers).
    private readonly Lock _logLock = new();
    private readonly List<string> _heldLogLines = [];
    private readonly List<string> _failureLogLines = [];
    private int _liveDisplays;

    /// <param name="stdout">Where results and JSON go.</param>
    /// <param name="stderr">Where human text and log lines go.</param>
    /// <param name="json">True for <c>--json</c>.</param>
    /// <param name="terminal">
    /// When given, <paramref name="stderr"/> is treated as an interactive ANSI terminal of that size, so live displays
    /// are drawn into it (tests capture exactly what a person would see). Otherwise the terminal is detected.
    /// </param>
    public CliOutput(TextWriter stdout, TextWriter stderr, bool json, CliTerminal? terminal = null)
    {
        _stdout = stdout;
        _stderr = stderr;
        IsJson = json;
        if (terminal is not null)
        {
            Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(stderr),
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Standard,
                Interactive = InteractionSupport.Yes,
            });
            Console.Profile.Width = terminal.Width;
            Console.Profile.Height = terminal.Height;
            ShowProgress = !json;
            return;
        }

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

    /// <summary>Writes JSON text already serialized (a query's rows) to stdout, whatever the mode.</summary>
    public void WriteJsonText(string json) => _stdout.WriteLine(json);

    /// <summary>Writes text as it is (CSV) to stdout.</summary>
    public void WriteText(string text) => _stdout.Write(text);

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

        return await LiveAsync(() => Console.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(label), async status =>
        {
            var progress = new Progress<Services.OperationProgress>(p =>
                status.Status($"{Markup.Escape(label)}: {Markup.Escape(p.Step)}{(p.Detail is null ? string.Empty : " — " + Markup.Escape(p.Detail))}"));
            return await run(progress).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a live display (a Spectre.Console progress or status) and holds every log line written meanwhile; the held
    /// lines are printed, in order, once the display has ended, whether it finished or failed. Every live display must
    /// run through this: a line written into the live region would be torn apart by the next redraw.
    /// </summary>
    public async Task<T> LiveAsync<T>(Func<Task<T>> display)
    {
        lock (_logLock)
        {
            _liveDisplays++;
        }

        try
        {
            return await display().ConfigureAwait(false);
        }
        finally
        {
            lock (_logLock)
            {
                if (--_liveDisplays == 0)
                {
                    foreach (var line in _heldLogLines)
                    {
                        _stderr.WriteLine(line);
                    }

                    _heldLogLines.Clear();
                }
            }
        }
    }

    /// <inheritdoc cref="LiveAsync{T}(Func{Task{T}})"/>
    public Task LiveAsync(Func<Task> display) => LiveAsync(async () =>
    {
        await display().ConfigureAwait(false);
        return true;
    });

    /// <summary>
    /// When true, error log lines that carry an exception are kept until the command's outcome is known: a command
    /// that fails reports that failure itself in one line (<see cref="Error"/>), so they are dropped then
    /// (<see cref="DropFailureLogs"/>); a command that succeeds despite them prints them (<see cref="FlushFailureLogs"/>).
    /// </summary>
    public bool HoldFailureLogs { get; set; }

    /// <summary>
    /// Writes one log line to stderr now, or when the live display that is running has ended.
    /// <paramref name="failure"/> marks an error that carries an exception (see <see cref="HoldFailureLogs"/>).
    /// </summary>
    public void WriteLogLine(string line, bool failure = false)
    {
        lock (_logLock)
        {
            if (failure && HoldFailureLogs)
            {
                _failureLogLines.Add(line);
            }
            else if (_liveDisplays > 0)
            {
                // Held without a bound: a display lasts one operation, and dropping a warning would be worse than memory.
                _heldLogLines.Add(line);
            }
            else
            {
                _stderr.WriteLine(line);
            }
        }
    }

    /// <summary>Prints the held failure log lines: the command succeeded, so they are news, not a repetition.</summary>
    public void FlushFailureLogs()
    {
        lock (_logLock)
        {
            foreach (var line in _failureLogLines)
            {
                _stderr.WriteLine(line);
            }

            _failureLogLines.Clear();
        }
    }

    /// <summary>Forgets the held failure log lines: the command failed and says why in its own error line.</summary>
    public void DropFailureLogs()
    {
        lock (_logLock)
        {
            _failureLogLines.Clear();
        }
    }

    /// <summary>Writes a human note to stderr.</summary>
    public void Info(string markup) => Console.MarkupLine(markup);

    /// <summary>Writes one error line to stderr, plain so that scripts and logs get it whole.</summary>
    public void Error(string message) => _stderr.WriteLine($"coldstore: error: {message.ReplaceLineEndings(" ")}");
}

/// <summary>A terminal to draw on instead of the detected one (tests pass one to capture live displays).</summary>
/// <param name="Width">Columns.</param>
/// <param name="Height">Rows.</param>
internal sealed record CliTerminal(int Width = 120, int Height = 50);
