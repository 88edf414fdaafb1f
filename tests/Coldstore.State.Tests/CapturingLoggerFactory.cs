using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Coldstore.State.Tests;

/// <summary>One formatted log entry, exception included, as a test reads it.</summary>
internal sealed record CapturedLog(string Category, LogLevel Level, int EventId, string Message, Exception? Exception)
{
    /// <summary>Everything an operator would see: the message and the exception's text.</summary>
    public string FullText => Exception is null ? Message : $"{Message} {Exception}";
}

/// <summary>A logger factory that keeps every entry, for asserting what a store logs (and never logs).</summary>
internal sealed class CapturingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new CapturedLog(category, logLevel, eventId.Id, formatter(state, exception), exception));
    }
}
