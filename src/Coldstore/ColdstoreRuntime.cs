using Coldstore.Configuration;
using Coldstore.Ports;
using Coldstore.Services;
using Microsoft.Extensions.Logging;

namespace Coldstore;

/// <summary>
/// The configured engines and the service over them: the one place where settings turn into adapters.
/// Library users, the CLI and the worker all start here.
/// </summary>
/// <example>
/// <code>
/// await using var runtime = await ColdstoreRuntime.OpenAsync(ColdstoreConfiguration.FromEnvironment());
/// await runtime.Service.InitializeAsync();
/// </code>
/// </example>
public sealed class ColdstoreRuntime : IAsyncDisposable, IDisposable
{
    private ColdstoreRuntime(ColdstoreConfiguration configuration, IClickHouseClient clickHouse, IStateStore state, IArchiveStore archive, ColdstoreService service)
    {
        Configuration = configuration;
        ClickHouse = clickHouse;
        State = state;
        Archive = archive;
        Service = service;
    }

    /// <summary>The configuration the runtime was opened with.</summary>
    public ColdstoreConfiguration Configuration { get; }

    /// <summary>The ClickHouse adapter.</summary>
    public IClickHouseClient ClickHouse { get; }

    /// <summary>The state-store adapter.</summary>
    public IStateStore State { get; }

    /// <summary>The archive-store adapter.</summary>
    public IArchiveStore Archive { get; }

    /// <summary>The operations.</summary>
    public ColdstoreService Service { get; }

    /// <summary>
    /// Opens the adapters the settings name. Nothing is created or migrated here (that is <c>init</c>'s job), but
    /// each engine is reached once so a wrong setting fails now, naming the setting, rather than mid-operation.
    /// </summary>
    /// <param name="configuration">Where the engines are, and the core's settings.</param>
    /// <param name="loggerFactory">Logging; none by default.</param>
    /// <param name="options">How archive and restore behave; by default those the settings imply.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    public static Task<ColdstoreRuntime> OpenAsync(
        ColdstoreConfiguration configuration, ILoggerFactory? loggerFactory = null, ColdstoreOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenAsync(configuration, loggerFactory, options, probe: true, cancellationToken);

    /// <summary>
    /// Opens the adapters; with <paramref name="probe"/> false, without reaching ClickHouse or the state store first:
    /// for a process that reports their reachability itself (a worker serving <c>/readyz</c>) instead of failing at start.
    /// </summary>
    /// <param name="configuration">Where everything is, and the core's settings.</param>
    /// <param name="loggerFactory">Logs; none by default.</param>
    /// <param name="options">Operation options; by default those the settings imply.</param>
    /// <param name="probe">Reach ClickHouse and the state store once, so a wrong setting fails here with its name.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    public static async Task<ColdstoreRuntime> OpenAsync(
        ColdstoreConfiguration configuration, ILoggerFactory? loggerFactory, ColdstoreOptions? options, bool probe, CancellationToken cancellationToken = default)
    {
        var runtime = Open(configuration, loggerFactory, options);
        try
        {
            if (probe)
            {
                await runtime.ProbeAsync(cancellationToken).ConfigureAwait(false);
            }

            return runtime;
        }
        catch
        {
            await runtime.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Opens the adapters without reaching any engine (a server is reached by the first statement): what a host does
    /// when it first needs the service, reporting reachability through <see cref="ColdstoreService.CheckReadinessAsync"/>.
    /// </summary>
    /// <param name="configuration">Where everything is, and the core's settings.</param>
    /// <param name="loggerFactory">Logs; none by default.</param>
    /// <param name="options">Operation options; by default those the settings imply.</param>
    public static ColdstoreRuntime Open(ColdstoreConfiguration configuration, ILoggerFactory? loggerFactory = null, ColdstoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        options ??= DefaultOptions(configuration.Settings);
        loggerFactory ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        var opened = new List<object>();
        try
        {
            var state = configuration.State.Connect(loggerFactory);
            opened.Add(state);
            var clickHouse = configuration.ClickHouse.Connect(loggerFactory);
            opened.Add(clickHouse);
            var archive = configuration.Archive.Connect(loggerFactory);
            opened.Add(archive);
            var service = new ColdstoreService(clickHouse, state, archive, configuration.Settings.Tables, options, loggerFactory.CreateLogger<ColdstoreService>());
            return new ColdstoreRuntime(configuration, clickHouse, state, archive, service);
        }
        catch
        {
            foreach (var adapter in opened)
            {
                Close(adapter).AsTask().GetAwaiter().GetResult();
            }

            throw;
        }
    }

    /// <summary>
    /// Reaches ClickHouse and the state store once, so a wrong setting fails now with the setting's name rather than
    /// mid-operation. Changes nothing.
    /// </summary>
    /// <param name="cancellationToken">Cancels the probe.</param>
    /// <exception cref="Errors.EngineUnavailableException">An engine cannot be reached; the message names its setting.</exception>
    public async Task ProbeAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await ClickHouse.ScalarAsync(new ClickHouseQuery("SELECT 1").For("connectivity check"), cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.ClickHouseException e) when (e.Code == 0 || e.IsTransient)
        {
            throw new Errors.EngineUnavailableException(ColdstoreSettings.ClickHouseVariable,
                $"{ColdstoreSettings.ClickHouseVariable}: cannot reach ClickHouse at {ClickHouse.Description}: {e.EngineMessage}", e);
        }

        // Listing migrations reads the database, which proves it is reachable without changing anything.
        await State.AppliedMigrationsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The options the settings imply: their settle window, insert wait, mutation budget, cold-storage switch and lease
    /// duration. No fault injection: a caller that wants <c>COLDSTORE_FAILPOINT</c> honoured (the CLI, crash tests)
    /// sets <see cref="ColdstoreOptions.StepCompleted"/> to <see cref="Failpoints.FromEnvironment"/> itself.
    /// </summary>
    public static ColdstoreOptions DefaultOptions(ColdstoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new ColdstoreOptions
        {
            SettleWindow = settings.SettleWindow,
            InFlightInsertWait = settings.InFlightInsertWait,
            MutationBudget = settings.MutationBudget,
            BatchSize = settings.BatchSize,
            ChunkRows = settings.ChunkRows,
            PurgeTombstonedAfter = settings.PurgeTombstonedAfter,
            ColdStorageEnabled = settings.ColdStorageEnabled,
            LeaseDuration = settings.LeaseDuration,
        };
    }

    /// <summary>The worker scheduling the settings imply: their concurrency and poll interval.</summary>
    public static WorkerOptions DefaultWorkerOptions(ColdstoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new WorkerOptions { Concurrency = settings.WorkerConcurrency, PollInterval = settings.WorkerPollInterval };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Close(ClickHouse).ConfigureAwait(false);
        await Close(State).ConfigureAwait(false);
        await Close(Archive).ConfigureAwait(false);
    }

    /// <summary>Closes the adapters synchronously, for a container disposed without <c>await</c>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static ValueTask Close(object adapter)
    {
        switch (adapter)
        {
            case IAsyncDisposable asyncDisposable:
                return asyncDisposable.DisposeAsync();
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }

        return ValueTask.CompletedTask;
    }
}
