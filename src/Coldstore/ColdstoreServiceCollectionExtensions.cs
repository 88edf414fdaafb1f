using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Services;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Coldstore;

/// <summary>
/// Hosting Coldstore in a .NET host: <c>AddColdstore(configuration.GetSection("Coldstore"))</c> registers the
/// configuration, the runtime (its adapters) and <see cref="ColdstoreService"/>, each built on first use;
/// <see cref="AddColdstoreWorker(IServiceCollection, Func{WorkerOptions, WorkerOptions}?)"/> adds the worker as a hosted
/// service. The settings are validated when the host starts, and a bad one stops it with the setting's name and value.
/// </summary>
public static class ColdstoreServiceCollectionExtensions
{
    /// <summary>
    /// Adds Coldstore configured by <paramref name="section"/>: the keys of <see cref="ColdstoreConfiguration.Definitions"/>
    /// (e.g. <c>ClickHouse</c>, <c>State</c>, <c>Archive</c>, <c>S3:Endpoint</c>, <c>LeaseSeconds</c>,
    /// <c>Worker:Concurrency</c>), which the <c>COLDSTORE_*</c> variables and the CLI's flags also fill. Nothing is read
    /// or opened here; the host's start validates every setting, and the first use opens the adapters.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="section">The section holding Coldstore's keys.</param>
    /// <param name="configure">Adjusts the operation options the settings imply (a lease wait, a progress hook).</param>
    public static IServiceCollection AddColdstore(this IServiceCollection services, IConfiguration section, Func<ColdstoreOptions, ColdstoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(section);
        // Relative paths (embedded:, sqlite:, file:) resolve against the host's content root, where its appsettings.json is.
        return services.AddColdstore(
            provider => ColdstoreConfiguration.SourceOf(section, provider.GetService<IHostEnvironment>()?.ContentRootPath), configure);
    }

    /// <summary>
    /// Adds Coldstore configured by the settings <paramref name="source"/> gives (flags over environment variables, as
    /// the CLI does), otherwise as <see cref="AddColdstore(IServiceCollection, IConfiguration, Func{ColdstoreOptions, ColdstoreOptions}?)"/>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="source">Makes the source the settings are read from, when the host starts.</param>
    /// <param name="configure">Adjusts the operation options the settings imply.</param>
    public static IServiceCollection AddColdstore(this IServiceCollection services, Func<SettingSource> source, Func<ColdstoreOptions, ColdstoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return services.AddColdstore(_ => source(), configure);
    }

    private static IServiceCollection AddColdstore(this IServiceCollection services, Func<IServiceProvider, SettingSource> source, Func<ColdstoreOptions, ColdstoreOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Read once, on first use: by the host's start (through the options validation below, which stops it with the
        // refusal's line) or by whoever resolves a service first (who gets the ConfigurationException itself).
        services.AddSingleton(provider => new ColdstoreHostSettings(() => source(provider)));
        services.AddSingleton(provider => provider.GetRequiredService<ColdstoreHostSettings>().Configuration);
        services.AddOptions<ColdstoreHostSettings.StartCheck>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ColdstoreHostSettings.StartCheck>>(provider =>
            new ColdstoreHostSettings.Validation(provider.GetRequiredService<ColdstoreHostSettings>()));
        services.AddSingleton(provider =>
        {
            var configuration = provider.GetRequiredService<ColdstoreConfiguration>();
            var options = ColdstoreRuntime.DefaultOptions(configuration.Settings) with
            {
                Time = provider.GetService<TimeProvider>() ?? TimeProvider.System,
            };
            return configure is null ? options : configure(options);
        });
        // The container disposes the runtime (and so the adapters) when the host is disposed.
        services.AddSingleton(provider => ColdstoreRuntime.Open(
            provider.GetRequiredService<ColdstoreConfiguration>(),
            provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
            provider.GetRequiredService<ColdstoreOptions>()));
        services.AddSingleton(provider => provider.GetRequiredService<ColdstoreRuntime>().Service);
        return services;
    }

    /// <summary>
    /// Adds <see cref="ColdstoreWorker"/> over the service <c>AddColdstore</c> registered, scheduled by the settings
    /// (<c>Worker:Concurrency</c>, <c>Worker:PollSeconds</c>), and the hosted service that runs it.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Adjusts the scheduling the settings imply.</param>
    public static IServiceCollection AddColdstoreWorker(this IServiceCollection services, Func<WorkerOptions, WorkerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(provider =>
        {
            var options = ColdstoreRuntime.DefaultWorkerOptions(provider.GetRequiredService<ColdstoreConfiguration>().Settings);
            return new ColdstoreWorker(
                provider.GetRequiredService<ColdstoreService>(),
                configure is null ? options : configure(options),
                provider.GetService<ILoggerFactory>()?.CreateLogger<ColdstoreWorker>(),
                provider.GetService<TimeProvider>());
        });
        services.AddHostedService<ColdstoreWorkerService>();
        return services;
    }

    /// <summary>
    /// Adds <see cref="ColdstoreWorker"/> over a runtime the caller opened (and disposes after the host stops), and the
    /// hosted service that runs it.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="runtime">The opened engines and service.</param>
    /// <param name="options">Scheduling; by default from the runtime's settings.</param>
    public static IServiceCollection AddColdstoreWorker(this IServiceCollection services, ColdstoreRuntime runtime, WorkerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(runtime);
        var workerOptions = options ?? ColdstoreRuntime.DefaultWorkerOptions(runtime.Configuration.Settings);
        services.AddSingleton(provider => new ColdstoreWorker(
            runtime.Service, workerOptions, provider.GetService<ILoggerFactory>()?.CreateLogger<ColdstoreWorker>(), provider.GetService<TimeProvider>()));
        services.AddHostedService<ColdstoreWorkerService>();
        return services;
    }
}

/// <summary>
/// The settings of a host, read once when first asked for, keeping a refusal so the host's start fails with its one line
/// (an options validation) while a service resolved directly throws the <see cref="ConfigurationException"/> itself.
/// </summary>
internal sealed class ColdstoreHostSettings(Func<SettingSource> source)
{
    private readonly Lazy<(ColdstoreConfiguration? Configuration, ConfigurationException? Error)> _read = new(() =>
    {
        try
        {
            return (ColdstoreConfiguration.Read(source()), null);
        }
        catch (ConfigurationException e)
        {
            return (null, e);
        }
    });

    /// <summary>The refusal, or null when the settings were read.</summary>
    public ConfigurationException? Error => _read.Value.Error;

    /// <summary>The configuration.</summary>
    /// <exception cref="ConfigurationException">A setting was refused; the message names it and quotes the value.</exception>
    public ColdstoreConfiguration Configuration => _read.Value.Configuration ?? throw _read.Value.Error!;

    /// <summary>An options type with nothing in it: its validation at the host's start is what reads the settings.</summary>
    internal sealed class StartCheck;

    /// <summary>Fails the host's start with the refusal's message (the setting's name and the value, secrets masked).</summary>
    internal sealed class Validation(ColdstoreHostSettings settings) : IValidateOptions<StartCheck>
    {
        public ValidateOptionsResult Validate(string? name, StartCheck options) =>
            settings.Error is { } error ? ValidateOptionsResult.Fail($"Coldstore: {error.Message}") : ValidateOptionsResult.Success;
    }
}
