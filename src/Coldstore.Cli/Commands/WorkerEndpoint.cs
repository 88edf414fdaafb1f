using System.Net;
using Coldstore.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
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
        builder.Services.AddHealthChecks().AddColdstore();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("coldstore-worker", serviceVersion: typeof(WorkerEndpoint).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics => metrics.AddMeter(ColdstoreTelemetry.Name).AddPrometheusExporter());
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        // The same health check a library host registers (AddHealthChecks().AddColdstore()), written as the probe's JSON.
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ColdstoreHealthChecksBuilderExtensions.ReadyTag),
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = WriteReadinessAsync,
        });
        return app;
    }

    /// <summary><c>{"ready":…,"checks":[{"name":…,"ok":…,"problem":…}]}</c>: each check and why it failed.</summary>
    private static Task WriteReadinessAsync(HttpContext http, HealthReport report)
    {
        var checks = report.Entries.Values.SelectMany(entry => entry.Data.Select(check => new
        {
            name = check.Key,
            ok = Equals(check.Value, "ok"),
            problem = Equals(check.Value, "ok") ? null : check.Value as string,
        }));
        return http.Response.WriteAsJsonAsync(new { ready = report.Status == HealthStatus.Healthy, checks });
    }
}
