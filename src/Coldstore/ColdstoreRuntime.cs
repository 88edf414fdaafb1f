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
/// await using var runtime = await ColdstoreRuntime.OpenAsync(ColdstoreSettings.FromEnvironment());
/// await runtime.Service.InitializeAsync();
/// </code>
/// </example>
public sealed class ColdstoreRuntime : IAsyncDisposable
{
    private ColdstoreRuntime(ColdstoreSettings settings, IClickHouseClient clickHouse, IStateStore state, IArchiveStore archive, ColdstoreService service)
    {
        Settings = settings;
        ClickHouse = clickHouse;
        State = state;
        Archive = archive;
        Service = service;
    }

    /// <summary>The settings the runtime was opened with.</summary>
    public ColdstoreSettings Settings { get; }

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
    /// <param name="settings">Where the engines are.</param>
    /// <param name="loggerFactory">Logging; none by default.</param>
    /// <param name="options">How archive and restore behave; by default from <paramref name="settings"/> and <c>COLDSTORE_FAILPOINT</c>.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    public static Task<ColdstoreRuntime> OpenAsync(
        ColdstoreSettings settings, ILoggerFactory? loggerFactory = null, ColdstoreOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenAsync(settings, loggerFactory, options, probe: true, cancellationToken);

    /// <summary>
    /// Opens the adapters; with <paramref name="probe"/> false, without reaching ClickHouse or the state store first:
    /// for a process that reports their reachability itself (a worker serving <c>/readyz</c>) instead of failing at start.
    /// </summary>
    /// <param name="settings">Where everything is.</param>
    /// <param name="loggerFactory">Logs; none by default.</param>
    /// <param name="options">Operation options; by default those the settings imply.</param>
    /// <param name="probe">Reach ClickHouse and the state store once, so a wrong setting fails here with its name.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    public static async Task<ColdstoreRuntime> OpenAsync(
        ColdstoreSettings settings, ILoggerFactory? loggerFactory, ColdstoreOptions? options, bool probe, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        options ??= DefaultOptions(settings);
        loggerFactory ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        var opened = new List<IAsyncDisposable>();
        try
        {
            var state = AdapterFactory.OpenState(settings.State, loggerFactory);
            opened.Add(state);
            var clickHouse = AdapterFactory.OpenClickHouse(settings.ClickHouse, loggerFactory);
            opened.Add(clickHouse);
            var archive = AdapterFactory.OpenArchive(settings, loggerFactory);
            if (archive is IAsyncDisposable disposableArchive)
            {
                opened.Add(disposableArchive);
            }
            if (probe)
            {
                await AdapterFactory.ProbeAsync(clickHouse, state, cancellationToken).ConfigureAwait(false);
            }

            var service = new ColdstoreService(clickHouse, state, archive, settings.Tables, options, loggerFactory.CreateLogger<ColdstoreService>());
            return new ColdstoreRuntime(settings, clickHouse, state, archive, service);
        }
        catch
        {
            foreach (var disposable in opened)
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
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
        await ClickHouse.DisposeAsync().ConfigureAwait(false);
        await State.DisposeAsync().ConfigureAwait(false);
        switch (Archive)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }
}
