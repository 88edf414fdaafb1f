using System.CommandLine;
using Coldstore.Configuration;
using Coldstore.Errors;
using Microsoft.Extensions.Logging;

namespace Coldstore.Cli;

/// <summary>
/// What every command shares: reading settings, opening the engines, and turning failures into one clear
/// line on stderr and an exit code. Commands only say what to do and what to print.
/// </summary>
internal sealed class CommandContext(GlobalOptions options, TextWriter stdout, TextWriter stderr)
{
    public GlobalOptions Options { get; } = options;

    /// <summary>Runs a command body with the configured runtime.</summary>
    public Task<int> RunAsync(ParseResult parseResult, Func<ColdstoreRuntime, CliOutput, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parseResult, requireInitialized: true, body, cancellationToken);

    /// <summary>Runs a command body; <paramref name="requireInitialized"/> is false only for <c>init</c> itself.</summary>
    public Task<int> RunAsync(ParseResult parseResult, bool requireInitialized, Func<ColdstoreRuntime, CliOutput, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parseResult, requireInitialized, LogLevel.None, (runtime, output, _) => body(runtime, output), cancellationToken);

    /// <summary>
    /// Runs a command body that also logs: <paramref name="defaultLogLevel"/> is its level without <c>--verbose</c>
    /// (a long-running worker reports what it does; one-shot commands stay quiet).
    /// </summary>
    public async Task<int> RunAsync(
        ParseResult parseResult, bool requireInitialized, LogLevel defaultLogLevel, Func<ColdstoreRuntime, CliOutput, ILoggerFactory, Task<int>> body, CancellationToken cancellationToken)
    {
        var output = new CliOutput(stdout, stderr, parseResult.GetValue(Options.Json));
        // Without --verbose the CLI reports failures itself, in one line; adapters' logs would only repeat them.
        var verbose = parseResult.GetValue(Options.Verbose);
        try
        {
            var settings = ColdstoreSettings.FromEnvironment(Options.Overrides(parseResult));
            using var loggerFactory = LoggerFactory.Create(builder => builder
                .SetMinimumLevel(verbose ? LogLevel.Information : defaultLogLevel)
                // A command that logs by default (the worker) reports what it does, not every statement its drivers
                // run; --verbose shows those too.
                .AddFilter((category, level) => verbose || level >= LogLevel.Warning || IsOperationCategory(category))
                .AddSimpleConsole(console =>
                {
                    console.SingleLine = true;
                    console.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
            var wait = GlobalOptions.Seconds("--wait", parseResult.GetValue(Options.WaitSeconds), 0, 86_400);
            var options = ColdstoreRuntime.DefaultOptions(settings) with { LeaseWait = wait };
            await using var runtime = await ColdstoreRuntime.OpenAsync(settings, loggerFactory, options, cancellationToken).ConfigureAwait(false);
            if (requireInitialized)
            {
                await runtime.Service.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            }

            return await body(runtime, output, loggerFactory).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            var code = ToExitCode(error);
            output.Error(Describe(error));
            if (verbose)
            {
                await stderr.WriteLineAsync(error.ToString()).ConfigureAwait(false);
            }

            return code;
        }
    }

    private static bool IsOperationCategory(string? category) =>
        category is not null && category.StartsWith("Coldstore.Services.", StringComparison.Ordinal);

    /// <summary>The exit code for a failure; anything unforeseen is an operation failure (1).</summary>
    internal static int ToExitCode(Exception error) => error switch
    {
        ConfigurationException or EngineUnavailableException => ExitCodes.UsageOrConfiguration,
        WorkspaceOperationException { Kind: WorkspaceErrorKind.InvalidInput } => ExitCodes.UsageOrConfiguration,
        WorkspaceOperationException { Kind: WorkspaceErrorKind.Conflict or WorkspaceErrorKind.Busy } => ExitCodes.Conflict,
        ColdstoreException => ExitCodes.Failed,
        OperationCanceledException => ExitCodes.Failed,
        _ => ExitCodes.Failed,
    };

    private static string Describe(Exception error) => error switch
    {
        OperationCanceledException => "Cancelled. Rerun the same command to resume; nothing is lost.",
        ColdstoreException or IOException or UnauthorizedAccessException => error.Message,
        _ => $"Unexpected {error.GetType().Name}: {error.Message} Rerun with --verbose for details, and please report it.",
    };
}
