using Coldstore.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coldstore;

/// <summary>
/// The worker as a hosted service: runs <see cref="ColdstoreWorker.RunAsync"/> until the host stops. On stop
/// (SIGTERM, Ctrl+C) the moves in progress halt at their next step and release their leases; the host's shutdown
/// timeout bounds the wait, and whatever was cut short resumes on the next run.
/// </summary>
/// <example>
/// <code>
/// await using var runtime = await ColdstoreRuntime.OpenAsync(ColdstoreSettings.FromEnvironment());
/// var builder = Host.CreateApplicationBuilder(args);
/// builder.Services.AddColdstoreWorker(runtime);
/// await builder.Build().RunAsync();
/// </code>
/// </example>
public sealed class ColdstoreWorkerService(ColdstoreWorker worker) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}

/// <summary>Registers the worker in a host.</summary>
public static class ColdstoreWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ColdstoreWorker"/> over an opened runtime, and the hosted service that runs it.
    /// The runtime stays the caller's to dispose, after the host stops.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="runtime">The opened engines and service.</param>
    /// <param name="options">Scheduling; by default from the runtime's settings (concurrency, poll interval).</param>
    public static IServiceCollection AddColdstoreWorker(this IServiceCollection services, ColdstoreRuntime runtime, WorkerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(runtime);
        var workerOptions = options ?? ColdstoreRuntime.DefaultWorkerOptions(runtime.Settings);
        services.AddSingleton(provider => new ColdstoreWorker(
            runtime.Service, workerOptions, provider.GetService<ILoggerFactory>()?.CreateLogger<ColdstoreWorker>()));
        services.AddHostedService<ColdstoreWorkerService>();
        return services;
    }
}
