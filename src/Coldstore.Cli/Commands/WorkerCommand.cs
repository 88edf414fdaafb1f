using System.CommandLine;
using System.Globalization;
using Coldstore.Configuration;
using Coldstore.Domain;
using Coldstore.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary>
/// <c>coldstore worker [--once]</c>: keeps every workspace's events where its status says, as a hosted service
/// until SIGTERM or Ctrl+C, or for one pass.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(CommandContext context)
    {
        var once = new Option<bool>("--once") { Description = "Run one pass over every workspace, print a summary and exit (0: all in place, 1: a move failed, 3: a workspace was busy)" };
        var shutdown = new Option<double>("--shutdown-seconds")
        {
            Description = "On SIGTERM, how long to wait for the moves in progress to reach a safe point before exiting anyway (default 30)",
            HelpName = "seconds",
            DefaultValueFactory = _ => 30,
        };
        var listen = new Option<string?>("--listen")
        {
            Description = "Serve /metrics (Prometheus), /healthz and /readyz on this address (e.g. 127.0.0.1:9464); off by default. With it the worker also waits for `coldstore init` instead of exiting",
            HelpName = "host:port",
        };
        var command = new Command("worker", "Move each workspace's events to where its status says (Paused/Tombstoned: cold, Active: hot), until stopped.")
        {
            once, shutdown, listen,
        };
        // --concurrency and --poll-seconds are the worker's settings (Worker:Concurrency, Worker:PollSeconds), read with the rest.
        foreach (var setting in context.Options.WorkerSettings)
        {
            command.Options.Add(setting);
        }

        command.SetAction((parseResult, cancellationToken) =>
        {
            var address = parseResult.GetValue(listen);
            return context.RunHostedAsync(
                parseResult,
                address is null ? CommandContext.Startup.Initialized : CommandContext.Startup.Unchecked,
                LogLevel.Information,
                register =>
                {
                    var drain = GlobalOptions.Seconds("--shutdown-seconds", parseResult.GetValue(shutdown), 0, 3600);
                    return address is null ? BuildHost(register, drain) : WorkerEndpoint.Build(ParseListen(address), register, drain);
                },
                async (host, _, output) =>
                {
                    var worker = host.Services.GetRequiredService<ColdstoreWorker>();
                    worker.RequireColdStorage();
                    if (parseResult.GetValue(once))
                    {
                        var summary = await worker.RunOnceAsync(cancellationToken).ConfigureAwait(false);
                        Print(output, summary);
                        return summary.Attempts.Any(a => a.Outcome == WorkerOutcome.Failed) ? ExitCodes.Failed
                            : summary.Converged ? ExitCodes.Ok
                            : ExitCodes.Conflict;
                    }

                    var service = host.Services.GetServices<IHostedService>().OfType<ColdstoreWorkerService>().Single();
                    await host.RunAsync(cancellationToken).ConfigureAwait(false);
                    // The host logs a hosted service's failure and stops; the command must still report it and exit non-zero.
                    if (service.ExecuteTask is { IsFaulted: true } faulted)
                    {
                        await faulted.ConfigureAwait(false);
                    }

                    if (service.ExecuteTask is { IsCompleted: false })
                    {
                        // Safe (every step resumes), but not graceful: say so rather than exit 0.
                        output.Error($"The worker stopped before its moves in progress reached a safe point within --shutdown-seconds; the next run resumes them once their leases lapse ({ColdstoreSettings.LeaseSecondsVariable}).");
                        return ExitCodes.Failed;
                    }

                    return ExitCodes.Ok;
                },
                cancellationToken);
        });
        return command;
    }

    private static IHost BuildHost(Action<IServiceCollection> register, TimeSpan drain)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        AddWorker(builder.Services, register, drain);
        return builder.Build();
    }

    /// <summary>
    /// Coldstore and its worker as any host registers them (<c>AddColdstore</c>, <c>AddColdstoreWorker</c>), stopped by
    /// the command line's token only, with the drain bound.
    /// </summary>
    internal static void AddWorker(IServiceCollection services, Action<IServiceCollection> register, TimeSpan drain)
    {
        register(services);
        services.AddColdstoreWorker();
        // The command line's token (SIGTERM, Ctrl+C) is the one stop signal; no second console lifetime.
        services.AddSingleton<IHostLifetime, CommandLineLifetime>();
        services.Configure<HostOptions>(host => host.ShutdownTimeout = drain);
    }

    /// <summary><c>--listen host:port</c> as an endpoint: an IP address (or <c>localhost</c>) and a port.</summary>
    internal static System.Net.IPEndPoint ParseListen(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon].Trim('[', ']') : string.Empty;
        if (colon > 0 && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            if (host == "localhost")
            {
                return new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
            }

            if (System.Net.IPAddress.TryParse(host, out var ip))
            {
                return new System.Net.IPEndPoint(ip, port);
            }
        }

        throw new Errors.ConfigurationException("--listen", $"--listen '{text}' is not an address to listen on: give an IP address (or localhost) and a port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464.");
    }

    private static void Print(CliOutput output, WorkerPassSummary summary)
    {
        if (output.IsJson)
        {
            output.WriteJson(new
            {
                workspaces = summary.Workspaces,
                converged = summary.Converged,
                durationMs = (long)summary.Duration.TotalMilliseconds,
                attempts = summary.Attempts.Select(a => new
                {
                    workspaceId = a.WorkspaceId,
                    name = a.Name,
                    status = a.Status,
                    storageBefore = a.StorageBefore.ToText(),
                    storageAfter = a.StorageAfter.ToText(),
                    action = a.Action,
                    outcome = a.Outcome.ToString().ToLowerInvariant(),
                    rows = a.Rows,
                    error = a.Error,
                    durationMs = (long)a.Duration.TotalMilliseconds,
                }),
                remaining = summary.Remaining.Select(w => new
                {
                    workspaceId = w.Id,
                    name = w.Name,
                    status = w.Status,
                    storage = w.Storage.ToText(),
                    desiredStorage = WorkspaceLifecycle.DesiredStorage(w.Status).ToText(),
                }),
            });
            return;
        }

        var culture = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumn("Workspace").AddColumn("Name").AddColumn("Status").AddColumn("Storage")
            .AddColumn("Action").AddColumn(new TableColumn("Rows").RightAligned()).AddColumn("Outcome").AddColumn(new TableColumn("Time").RightAligned());
        foreach (var a in summary.Attempts)
        {
            var outcome = a.Outcome switch
            {
                WorkerOutcome.Done => "[green]done[/]",
                WorkerOutcome.Busy => "[yellow]busy[/]",
                _ => $"[red]{a.Outcome.ToString().ToLowerInvariant()}[/]: {Markup.Escape(a.Error ?? string.Empty)}",
            };
            table.AddRow(a.WorkspaceId.ToString("D"), Markup.Escape(a.Name), a.Status.ToString(), $"{a.StorageBefore.ToText()} → {a.StorageAfter.ToText()}",
                a.Action, a.Rows.ToString("N0", culture), outcome, $"{a.Duration.TotalSeconds.ToString("F1", culture)} s");
        }

        if (summary.Attempts.Count > 0)
        {
            output.Console.Write(table);
        }

        output.Info(summary.Converged
            ? string.Create(culture, $"[green]All {summary.Workspaces} workspaces are where their status says[/] ({summary.Attempts.Count} moved or checked, {summary.Duration.TotalSeconds:F1} s).")
            : string.Create(culture, $"[red]{summary.Remaining.Count} of {summary.Workspaces} workspaces are not yet where their status says[/]; see the errors above, then run the worker again."));
    }

    /// <summary>A host lifetime with no signal handling of its own: the command line's cancellation stops the host.</summary>
    internal sealed class CommandLineLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
