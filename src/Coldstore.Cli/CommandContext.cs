using System.CommandLine;
using Coldstore.Configuration;
using Coldstore.Errors;
using Microsoft.Extensions.Logging;

namespace Coldstore.Cli;

/// <summary>
/// What every command shares: reading settings, opening the engines, and turning failures into one clear
/// line on stderr and an exit code. Commands only say what to do and what to print.
/// </summary>
internal sealed class CommandContext(GlobalOptions options, TextWriter stdout, TextWriter stderr, CliTerminal? terminal = null)
{
    public GlobalOptions Options { get; } = options;

    /// <summary>Runs a command body with the configured runtime.</summary>
    public Task<int> RunAsync(ParseResult parseResult, Func<ColdstoreRuntime, CliOutput, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parseResult, requireInitialized: true, body, cancellationToken);

    /// <summary>Runs a command body; <paramref name="requireInitialized"/> is false only for <c>init</c> itself.</summary>
    public Task<int> RunAsync(ParseResult parseResult, bool requireInitialized, Func<ColdstoreRuntime, CliOutput, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parseResult, requireInitialized, LogLevel.None, (runtime, output, _) => body(runtime, output), cancellationToken);

    /// <summary>
    /// Runs a command body that also logs: <paramref name="defaultLogLevel"/> is the level of Coldstore's own operation
    /// logs without <c>--verbose</c> (a long-running worker reports what it does; one-shot commands stay quiet, since
    /// they print their result themselves). Warnings and errors are logged either way.
    /// </summary>
    public Task<int> RunAsync(
        ParseResult parseResult, bool requireInitialized, LogLevel defaultLogLevel, Func<ColdstoreRuntime, CliOutput, ILoggerFactory, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parseResult, requireInitialized ? Startup.Initialized : Startup.Reachable, defaultLogLevel, body, cancellationToken);

    /// <summary>What a command checks before its body runs.</summary>
    public enum Startup
    {
        /// <summary>Nothing: the body reports reachability and initialization itself (the worker with <c>--listen</c>).</summary>
        Unchecked,

        /// <summary>ClickHouse and the state store answer (<c>init</c>).</summary>
        Reachable,

        /// <summary>They answer and <c>init</c> has run (every other command).</summary>
        Initialized,
    }

    /// <summary>Runs a command body that also logs, after the checks <paramref name="startup"/> names.</summary>
    public async Task<int> RunAsync(
        ParseResult parseResult, Startup startup, LogLevel defaultLogLevel, Func<ColdstoreRuntime, CliOutput, ILoggerFactory, Task<int>> body, CancellationToken cancellationToken)
    {
        var output = new CliOutput(stdout, stderr, parseResult.GetValue(Options.Json), terminal);
        // Without --verbose the CLI reports failures itself, in one line; adapters' logs would only repeat them. A
        // one-shot command (no default logging) therefore holds an adapter's error-with-exception until it knows whether
        // it failed with it; a long-running worker survives such errors and must print them when they happen.
        var verbose = parseResult.GetValue(Options.Verbose);
        output.HoldFailureLogs = !verbose && defaultLogLevel == LogLevel.None;
        try
        {
            var settings = ColdstoreSettings.FromEnvironment(Options.Overrides(parseResult));
            using var loggerFactory = CreateLoggerFactory(output, verbose, defaultLogLevel);
            var wait = GlobalOptions.Seconds("--wait", parseResult.GetValue(Options.WaitSeconds), 0, 86_400);
            // The CLI honours COLDSTORE_FAILPOINT (crash tests kill it after a step); the library's defaults do not.
            var options = ColdstoreRuntime.DefaultOptions(settings) with { LeaseWait = wait, StepCompleted = Failpoints.FromEnvironment() };
            await using var runtime = await ColdstoreRuntime.OpenAsync(settings, loggerFactory, options, probe: startup != Startup.Unchecked, cancellationToken).ConfigureAwait(false);
            if (startup == Startup.Initialized)
            {
                await runtime.Service.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            }

            return await body(runtime, output, loggerFactory).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            output.DropFailureLogs();
            var code = ToExitCode(error);
            output.Error(Describe(error));
            if (verbose)
            {
                await stderr.WriteLineAsync(error.ToString()).ConfigureAwait(false);
            }

            return code;
        }
        finally
        {
            // After the runtime is disposed, so an error logged while closing the engines is printed too. After a
            // failure the list is already empty.
            output.FlushFailureLogs();
        }
    }

    /// <summary>
    /// The command's loggers: every line goes through <paramref name="output"/>, which keeps it out of live displays.
    /// </summary>
    internal static ILoggerFactory CreateLoggerFactory(CliOutput output, bool verbose, LogLevel defaultLogLevel) =>
        LoggerFactory.Create(builder => builder
            // The filter alone decides (a filter rule overrides the minimum level anyway); keep it that way.
            .SetMinimumLevel(LogLevel.Trace)
            .AddFilter((category, level) => ShouldLog(category, level, verbose, defaultLogLevel))
            .AddProvider(new CliLoggerProvider(output)));

    /// <summary>
    /// Whether a log entry is printed. <c>--verbose</c> prints everything, the drivers' statements included. Without
    /// it: warnings and errors always (they are what someone must act on); Coldstore's own operation logs at or above
    /// <paramref name="defaultLogLevel"/> (the worker reports its work at Information; one-shot commands pass
    /// <see cref="LogLevel.None"/> and print their result themselves); nothing from the drivers.
    /// </summary>
    internal static bool ShouldLog(string? category, LogLevel level, bool verbose, LogLevel defaultLogLevel) =>
        level != LogLevel.None
        && (verbose || level >= LogLevel.Warning || (level >= defaultLogLevel && IsOperationCategory(category)));

    private static bool IsOperationCategory(string? category) =>
        category is not null && category.StartsWith("Coldstore.Services.", StringComparison.Ordinal);

    /// <summary>The exit code for a failure; anything unforeseen is an operation failure (1).</summary>
    internal static int ToExitCode(Exception error) => error switch
    {
        ConfigurationException or EngineUnavailableException => ExitCodes.UsageOrConfiguration,
        WorkspaceOperationException { Kind: WorkspaceErrorKind.InvalidInput } => ExitCodes.UsageOrConfiguration,
        WorkspaceOperationException { Kind: WorkspaceErrorKind.Conflict or WorkspaceErrorKind.Busy } => ExitCodes.Conflict,
        LeaseLostException => ExitCodes.Conflict,
        ColdstoreException => ExitCodes.Failed,
        OperationCanceledException => ExitCodes.Failed,
        _ => ExitCodes.Failed,
    };

    internal static string Describe(Exception error) => error switch
    {
        OperationCanceledException => "Cancelled. Rerun the same command to resume; nothing is lost.",
        ColdstoreException or IOException or UnauthorizedAccessException => error.Message,
        _ => $"Unexpected {error.GetType().Name}: {error.Message} Rerun with --verbose for details, and please report it.",
    };
}
