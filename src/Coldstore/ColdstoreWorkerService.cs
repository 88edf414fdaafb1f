using Coldstore.Services;
using Microsoft.Extensions.Hosting;

namespace Coldstore;

/// <summary>
/// The worker as a hosted service: runs <see cref="ColdstoreWorker.RunAsync"/> until the host stops. On stop
/// (SIGTERM, Ctrl+C) the moves in progress halt at their next step and release their leases; the host's shutdown
/// timeout bounds the wait, and whatever was cut short resumes on the next run.
/// </summary>
/// <example>
/// <code>
/// var builder = Host.CreateApplicationBuilder(args);
/// builder.Services.AddColdstore(builder.Configuration.GetSection("Coldstore"));
/// builder.Services.AddColdstoreWorker();
/// await builder.Build().RunAsync();
/// </code>
/// </example>
public sealed class ColdstoreWorkerService(ColdstoreWorker worker) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}
