using System.CommandLine;
using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
    public Task<int> RunAsync(
        ParseResult parseResult, Startup startup, LogLevel defaultLogLevel, Func<ColdstoreRuntime, CliOutput, ILoggerFactory, Task<int>> body, CancellationToken cancellationToken) =>
        GuardAsync(parseResult, defaultLogLevel, async (output, loggerFactory) =>
        {
            var configuration = ColdstoreConfiguration.Read(Source(parseResult));
            await using var runtime = await ColdstoreRuntime.OpenAsync(
                configuration, loggerFactory, OperationOptions(parseResult, ColdstoreRuntime.DefaultOptions(configuration.Settings)),
                probe: startup != Startup.Unchecked, cancellationToken).ConfigureAwait(false);
            if (startup == Startup.Initialized)
            {
                await runtime.Service.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
            }

            return await body(runtime, output, loggerFactory).ConfigureAwait(false);
        });

    /// <summary>
    /// Runs a command on a .NET host that <paramref name="build"/> makes, with Coldstore registered in it exactly as a
    /// library user registers it (<c>AddColdstore</c>, from the same settings: flags over <c>COLDSTORE_*</c>). The
    /// settings are read, and the adapters opened, before the body runs; then the checks <paramref name="startup"/> names.
    /// </summary>
    /// <param name="parseResult">The command line.</param>
    /// <param name="startup">What to check before the body.</param>
    /// <param name="defaultLogLevel">The level of Coldstore's own logs without <c>--verbose</c>.</param>
    /// <param name="build">Builds the host; calls the given registration on its services.</param>
    /// <param name="body">The command, given the host and the runtime the host holds.</param>
    /// <param name="cancellationToken">The command line's stop signal.</param>
    public Task<int> RunHostedAsync(
        ParseResult parseResult, Startup startup, LogLevel defaultLogLevel, Func<Action<IServiceCollection>, IHost> build,
        Func<IHost, ColdstoreRuntime, CliOutput, Task<int>> body, CancellationToken cancellationToken) =>
        GuardAsync(parseResult, defaultLogLevel, async (output, loggerFactory) =>
        {
            var source = Source(parseResult);
            var host = build(services =>
            {
                // One logging pipeline for the whole command: the CLI's, which keeps stdout for results.
                services.AddSingleton(loggerFactory);
                services.AddColdstore(() => source, options => OperationOptions(parseResult, options));
            });
            try
            {
                // Resolving the runtime reads and validates the settings (a refusal is one line) and opens the adapters.
                var runtime = host.Services.GetRequiredService<ColdstoreRuntime>();
                if (startup != Startup.Unchecked)
                {
                    await runtime.ProbeAsync(cancellationToken).ConfigureAwait(false);
                }

                if (startup == Startup.Initialized)
                {
                    await runtime.Service.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
                }

                return await body(host, runtime, output).ConfigureAwait(false);
            }
            finally
            {
                // The container closes the runtime's adapters, asynchronously.
                if (host is IAsyncDisposable asyncHost)
                {
                    await asyncHost.DisposeAsync().ConfigureAwait(false);
                }
                else
                {
                    host.Dispose();
                }
            }
        });

    /// <summary>Where this command line's settings come from: its flags over the process's variables.</summary>
    private SettingSource Source(ParseResult parseResult) => SettingSource.FromProcessEnvironment(Options.Overrides(parseResult));

    /// <summary>The options the settings imply, with this command line's lease wait and, for crash tests, failpoints.</summary>
    private ColdstoreOptions OperationOptions(ParseResult parseResult, ColdstoreOptions implied) => implied with
    {
        LeaseWait = GlobalOptions.Seconds("--wait", parseResult.GetValue(Options.WaitSeconds), 0, 86_400),
        // The CLI honours COLDSTORE_FAILPOINT (crash tests kill it after a step); the library's defaults do not.
        StepCompleted = Failpoints.FromEnvironment(),
    };

    /// <summary>
    /// Runs <paramref name="body"/> with the command's output and loggers, turning any failure into one line on stderr
    /// and an exit code.
    /// </summary>
    private async Task<int> GuardAsync(ParseResult parseResult, LogLevel defaultLogLevel, Func<CliOutput, ILoggerFactory, Task<int>> body)
    {
        var output = new CliOutput(stdout, stderr, parseResult.GetValue(Options.Json), terminal);
        // Without --verbose the CLI reports failures itself, in one line; adapters' logs would only repeat them. A
        // one-shot command (no default logging) therefore holds an adapter's error-with-exception until it knows whether
        // it failed with it; a long-running worker survives such errors and must print them when they happen.
        var verbose = parseResult.GetValue(Options.Verbose);
        output.HoldFailureLogs = !verbose && defaultLogLevel == LogLevel.None;
        try
        {
            using var loggerFactory = CreateLoggerFactory(output, verbose, defaultLogLevel);
            return await body(output, loggerFactory).ConfigureAwait(false);
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
