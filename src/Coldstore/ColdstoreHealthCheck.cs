using Coldstore.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coldstore;

/// <summary>
/// Coldstore's readiness as a .NET health check: healthy when ClickHouse answers and has the events table, the state
/// store answers with its migrations applied and the archive store answers a listing
/// (<see cref="ColdstoreService.CheckReadinessAsync"/>); otherwise the registration's failure status, described by the
/// failing checks. The data holds one entry per check: <c>ok</c> or why it failed.
/// </summary>
public sealed class ColdstoreHealthCheck(ColdstoreService service) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var report = await service.CheckReadinessAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var data = report.Checks.ToDictionary(c => c.Name, c => (object)(c.Ok ? "ok" : c.Problem ?? "failed"), StringComparer.Ordinal);
        return report.Ready
            ? HealthCheckResult.Healthy("ClickHouse, the state store and the archive store answer, and init has run.", data)
            : new HealthCheckResult(
                context.Registration.FailureStatus,
                string.Join("; ", report.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Problem}")),
                data: data);
    }
}

/// <summary>Registers <see cref="ColdstoreHealthCheck"/>.</summary>
public static class ColdstoreHealthChecksBuilderExtensions
{
    /// <summary>The tag the check carries unless others are given: it says whether the instance can work (readiness).</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Adds Coldstore's readiness check (needs <c>AddColdstore</c>). Map it where a probe asks, e.g.
    /// <c>app.MapHealthChecks("/readyz", new() { Predicate = c =&gt; c.Tags.Contains("ready") })</c>.
    /// </summary>
    /// <param name="builder">The host's health checks.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">What a failing check reports; unhealthy by default.</param>
    /// <param name="tags">Its tags; <see cref="ReadyTag"/> by default.</param>
    public static IHealthChecksBuilder AddColdstore(
        this IHealthChecksBuilder builder, string name = "coldstore", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddCheck<ColdstoreHealthCheck>(name, failureStatus, tags ?? [ReadyTag]);
    }
}
