using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Coldstore.Cli;

/// <summary>
/// Writes log lines through <see cref="CliOutput"/> rather than straight to the process's stderr, so that a line
/// logged while a progress display is live waits until the display has ended instead of being printed into its bars.
/// The line format is the one of Microsoft's single-line console formatter (<c>HH:mm:ss.fff info: Category[id] text</c>),
/// which people and scripts already read.
/// </summary>
internal sealed class CliLoggerProvider(CliOutput output) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new CliLogger(output, categoryName);

    public void Dispose()
    {
        // Lines are written as they are logged; there is nothing queued to flush.
    }

    private sealed class CliLogger(CliOutput output, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        // The factory's filter decides what is logged; this logger only refuses the level that means "never".
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = new StringBuilder()
                .Append(DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))
                .Append(' ')
                .Append(Label(logLevel))
                .Append(": ")
                .Append(category)
                .Append('[')
                .Append(eventId.Id.ToString(CultureInfo.InvariantCulture))
                .Append("] ")
                // One line per entry, so that a log reader or grep sees each entry whole.
                .Append(formatter(state, exception).ReplaceLineEndings(" "));
            if (exception is not null)
            {
                line.Append(' ').Append(exception.ToString().ReplaceLineEndings(" "));
            }

            output.WriteLogLine(line.ToString(), failure: logLevel >= LogLevel.Error && exception is not null);
        }

        private static string Label(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
