using System.Net;
using Coldstore.Diagnostics;
using Coldstore.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Coldstore.Cli.Commands;

/// <summary>
/// The worker with <c>--listen</c>: the same hosted worker, plus a small HTTP endpoint an operator (or Kubernetes)
/// watches it through: <c>/metrics</c> in Prometheus text (OpenTelemetry's exporter over <see cref="ColdstoreTelemetry"/>),
/// <c>/healthz</c> (the process answers) and <c>/readyz</c> (503 until ClickHouse, the state store and the archive store
/// answer and <c>init</c> has run; the body says which check failed).
/// </summary>
internal static class WorkerEndpoint
{
    public static IHost Build(IPEndPoint endpoint, Action<IServiceCollection> register, TimeSpan drain)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "coldstore-worker" });
        // The CLI's logging pipeline (registered by the command) is the only one.
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(endpoint));
        WorkerCommand.AddWorker(builder.Services, register, drain);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("coldstore-worker", serviceVersion: typeof(WorkerEndpoint).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics => metrics.AddMeter(ColdstoreTelemetry.Name).AddPrometheusExporter());
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", async (ColdstoreService service, CancellationToken cancellationToken) =>
        {
            var report = await service.CheckReadinessAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return Results.Json(
                new { ready = report.Ready, checks = report.Checks.Select(c => new { name = c.Name, ok = c.Ok, problem = c.Problem }) },
                statusCode: report.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        return app;
    }
}
