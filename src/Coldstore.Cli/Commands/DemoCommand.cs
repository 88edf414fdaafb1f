using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Coldstore.Configuration;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Events;
using Coldstore.Services;
using Coldstore.Sql;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary>
/// <c>coldstore demo [--events N] [--seed S]</c>: the whole story on the configured engines, from nothing. It
/// initializes, creates four workspaces, ingests generated events into each, takes full-row checksums, pauses one and
/// tombstones another (their events go to cold storage), shows where everything is, brings both back, and compares
/// the checksums. Exit 0 only when every workspace is exactly as it was.
/// </summary>
internal static class DemoCommand
{
    /// <summary>Events generated per workspace when <c>--events</c> is not given: enough to see compression, quick on a laptop.</summary>
    public const long DefaultEvents = 25_000;

    public static Command Create(CommandContext context)
    {
        var events = new Option<long>("--events", "-n")
        {
            Description = "Events to generate per workspace",
            HelpName = "count",
            DefaultValueFactory = _ => DefaultEvents,
        };
        var seed = new Option<int>("--seed") { Description = "Seed for the generated events (same seed, same events)", DefaultValueFactory = _ => 1 };
        var command = new Command(
            "demo",
            "Show the round trip from nothing: init, 4 workspaces with generated events, pause one and tombstone another (events to cold storage), bring both back, prove every row came back exactly.")
        {
            events,
            seed,
        };
        // Checked while parsing, so a bad count fails before any engine is opened or any directory is created.
        command.Validators.Add(result =>
        {
            // Only a given value can be wrong; asked about an absent option, a command validator sees 0, not the default.
            if (result.GetResult(events) is { Implicit: false } given && given.GetValueOrDefault<long>() is var count && count < 1)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"--events must be at least 1 (events per workspace), not {count}."));
            }
        });
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(
            parseResult,
            requireInitialized: false,
            (runtime, output) => new DemoRun(runtime, output, parseResult.GetValue(events), parseResult.GetValue(seed), cancellationToken).RunAsync(),
            cancellationToken));
        return command;
    }

    /// <summary>What the demo does with a workspace; the JSON calls it the workspace's <c>role</c>.</summary>
    private enum Role
    {
        Active,
        Paused,
        Tombstoned,
    }

    /// <summary>One of the demo's workspaces, before it exists.</summary>
    private sealed record Tenant(string Label, Role Role, bool HasExternalId);

    /// <summary>A step of the demo and how long it took.</summary>
    private sealed record Phase(string Name, TimeSpan Duration);

    /// <summary>
    /// Work shown as one progress bar of <paramref name="Length"/> units. <paramref name="Run"/> reports units done
    /// (and what it is doing) through its callback and returns a one-line summary, which becomes the bar's final text
    /// or, with no bars, a line of its own.
    /// </summary>
    private sealed record Job(string Label, double Length, Func<Action<double, string>, Task<string>> Run);

    /// <summary>Everything the demo learns about one workspace, filled in phase by phase.</summary>
    private sealed class DemoWorkspace(Tenant tenant, Workspace created)
    {
        public Tenant Tenant { get; } = tenant;

        public Workspace Created { get; } = created;

        public Guid Id => Created.Id;

        public string Name => Created.Name;

        public string Role => Tenant.Role.ToString().ToLowerInvariant();

        public long Rows { get; set; }

        public long RawBytes { get; set; }

        public WorkspaceChecksums? Before { get; set; }

        public WorkspaceChecksums? After { get; set; }

        public WorkspaceReport? Midway { get; set; }

        public bool Match => Before is not null && Before == After;

        /// <summary>Uncompressed size over archive size, for workspaces whose events were archived.</summary>
        public double? CompressionRatio => Midway is { ArchivedBytes: > 0 } m ? Ratio(RawBytes, m.ArchivedBytes) : null;
    }

    /// <summary>Calls back synchronously, so a bar never receives an update after its operation returned.</summary>
    private sealed class Callback<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }

    private sealed class DemoRun(ColdstoreRuntime runtime, CliOutput output, long eventsPerWorkspace, int seed, CancellationToken cancellationToken)
    {
        // Some with an external id, so the tombstone shows Dittofeed's prefix on both name and external id.
        private static readonly Tenant[] Tenants =
        [
            new("acme", Role.Active, HasExternalId: true),
            new("globex", Role.Paused, HasExternalId: false),
            new("initech", Role.Tombstoned, HasExternalId: true),
            new("umbrella", Role.Active, HasExternalId: false),
        ];

        private static readonly int ArchiveSteps = Steps.All.Count(s => s.StartsWith("archive:", StringComparison.Ordinal));
        private static readonly int RestoreSteps = Steps.All.Count(s => s.StartsWith("restore:", StringComparison.Ordinal));

        // A fresh suffix per run, so running the demo again (same engines, same state) never collides with a name.
        private readonly string _suffix = RandomNumberGenerator.GetHexString(6, lowercase: true);
        private readonly List<Phase> _phases = [];
        private readonly Stopwatch _total = Stopwatch.StartNew();
        private List<DemoWorkspace> _workspaces = [];

        private ColdstoreService Service => runtime.Service;

        private IEnumerable<DemoWorkspace> Moved => _workspaces.Where(w => w.Tenant.Role != Role.Active);

        public async Task<int> RunAsync()
        {
            if (!Service.Options.ColdStorageEnabled)
            {
                throw new ConfigurationException(ColdstoreSettings.ColdStorageVariable,
                    $"The demo moves events to cold storage, but {ColdstoreSettings.ColdStorageVariable} is off; unset it (or pass --cold-storage on) to run the demo.");
            }

            Note($"[bold]Coldstore demo[/] (run [bold]{_suffix}[/]) on {Markup.Escape(runtime.ClickHouse.Description)}; state {Markup.Escape(runtime.State.Description)}; archive {Markup.Escape(runtime.Archive.Description)}.");
            await PhaseAsync("init", () => Service.InitializeAsync(cancellationToken)).ConfigureAwait(false);
            await PhaseAsync("create", CreateWorkspacesAsync).ConfigureAwait(false);
            await PhaseAsync("ingest", IngestAsync).ConfigureAwait(false);
            await PhaseAsync("checksum-before", MeasureBeforeAsync).ConfigureAwait(false);
            await PhaseAsync("to-cold", () => MoveAsync(back: false)).ConfigureAwait(false);
            await PhaseAsync("status", ReadMidwayStatusAsync).ConfigureAwait(false);
            ShowStatusTable();
            await PhaseAsync("to-hot", () => MoveAsync(back: true)).ConfigureAwait(false);
            await PhaseAsync("checksum-after", MeasureAfterAsync).ConfigureAwait(false);

            var exact = _workspaces.TrueForAll(w => w.Match);
            if (output.IsJson)
            {
                WriteJson(exact);
            }
            else
            {
                ShowSummary(exact);
            }

            return exact ? ExitCodes.Ok : ExitCodes.Failed;
        }

        private async Task PhaseAsync(string name, Func<Task> body)
        {
            var watch = Stopwatch.StartNew();
            await body().ConfigureAwait(false);
            _phases.Add(new Phase(name, watch.Elapsed));
        }

        private async Task CreateWorkspacesAsync()
        {
            var created = new List<DemoWorkspace>(Tenants.Length);
            foreach (var tenant in Tenants)
            {
                var name = $"demo-{tenant.Label}-{_suffix}";
                var externalId = tenant.HasExternalId ? $"ext-{tenant.Label}-{_suffix}" : null;
                var workspace = await Service.CreateWorkspaceAsync(new NewWorkspace(name, ExternalId: externalId), cancellationToken).ConfigureAwait(false);
                created.Add(new DemoWorkspace(tenant, workspace));
            }

            _workspaces = created;
            Note($"Created {created.Count} workspaces: {string.Join(", ", created.Select(w => Markup.Escape(w.Name)))}.");
        }

        private Task IngestAsync() => RunJobsAsync(_workspaces.Select((w, index) => new Job(
            $"ingest {w.Name}",
            eventsPerWorkspace,
            async report =>
            {
                // One seed per workspace: deterministic for a given --seed, yet every tenant gets different events.
                var messages = SegmentEventGenerator.Generate(eventsPerWorkspace, unchecked(seed + index));
                var result = await Service.IngestAsync(w.Id, messages, new Callback<long>(rows => report(rows, $"ingest {w.Name}")), cancellationToken).ConfigureAwait(false);
                w.Rows = result.Rows;
                return Invariant($"ingest {w.Name}: {result.Rows:N0} events in {Seconds(result.Duration)}");
            })).ToList());

        private async Task MeasureBeforeAsync()
        {
            foreach (var w in _workspaces)
            {
                w.Before = await Service.GetWorkspaceChecksumsAsync(w.Id, cancellationToken).ConfigureAwait(false);
                var row = (await runtime.ClickHouse.QueryAsync(EventSql.WorkspaceRawBytes(Service.Tables, w.Id), cancellationToken).ConfigureAwait(false)).Single();
                w.RawBytes = row.GetInt64("raw_bytes");
            }

            Note(Invariant($"Recorded full-row checksums of {_workspaces.Count} workspaces ({_workspaces.Sum(w => w.Before!.EventRows):N0} events, {_workspaces.Sum(w => w.Before!.InternalEventRows):N0} internal events)."));
        }

        private async Task MeasureAfterAsync()
        {
            foreach (var w in _workspaces)
            {
                w.After = await Service.GetWorkspaceChecksumsAsync(w.Id, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task ReadMidwayStatusAsync()
        {
            foreach (var w in _workspaces)
            {
                w.Midway = (await Service.GetStatusAsync(w.Id, cancellationToken).ConfigureAwait(false)).Single();
            }
        }

        /// <summary>Pauses and tombstones (or resumes and activates) the workspaces that move, one bar each.</summary>
        private Task MoveAsync(bool back) => RunJobsAsync(Moved.Select(w =>
        {
            var transition = (w.Tenant.Role, back) switch
            {
                (Role.Paused, false) => WorkspaceTransition.Pause,
                (Role.Paused, true) => WorkspaceTransition.Resume,
                (Role.Tombstoned, false) => WorkspaceTransition.Tombstone,
                _ => WorkspaceTransition.Activate,
            };
            var label = $"{transition.StepName()} {w.Name}";
            return new Job(label, back ? RestoreSteps : ArchiveSteps, async report =>
            {
                var completed = 0;
                var progress = new Callback<OperationProgress>(p =>
                {
                    // Only named steps advance the bar; the others say what is about to happen.
                    if (Steps.All.Contains(p.Step))
                    {
                        completed++;
                    }

                    report(completed, $"{label}: {Shorten(p.Step, 32)}");
                });
                var result = await Service.ChangeWorkspaceLifecycleAsync(w.Id, transition, moveEvents: true, progress, cancellationToken).ConfigureAwait(false);
                return Describe(label, result);
            });
        }).ToList());

        private static string Describe(string label, LifecycleResult result)
        {
            var operation = result.Reconcile?.Operation;
            return operation is null
                ? $"{label}: no events moved; events {result.Storage.ToText()}"
                : Invariant($"{label}: {operation.Rows:N0} rows {operation.Operation}d → {result.Storage.ToText()} in {Seconds(operation.Duration)}");
        }

        /// <summary>
        /// Runs jobs one after another. A person watching gets a bar per job, all shown from the start; logs and
        /// scripts get the summary line of each job as it finishes.
        /// </summary>
        private async Task RunJobsAsync(IReadOnlyList<Job> jobs)
        {
            if (!output.ShowProgress)
            {
                foreach (var job in jobs)
                {
                    Note(Markup.Escape(await job.Run((_, _) => { }).ConfigureAwait(false)));
                }

                return;
            }

            // Through LiveAsync, so that a warning logged meanwhile is printed under the bars, not into them.
            await output.LiveAsync(() => output.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 24 }, new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async context =>
                {
                    var bars = jobs.Select(job => context.AddTask(Markup.Escape(job.Label), autoStart: false, maxValue: job.Length)).ToList();
                    for (var i = 0; i < jobs.Count; i++)
                    {
                        var bar = bars[i];
                        bar.StartTask();
                        var summary = await jobs[i].Run((value, doing) =>
                        {
                            // A restore of several archives repeats its steps; the bar stops just short of full until it returns.
                            bar.Value = Math.Min(value, bar.MaxValue - 1);
                            bar.Description = Markup.Escape(doing);
                        }).ConfigureAwait(false);
                        bar.Value = bar.MaxValue;
                        bar.Description = Markup.Escape(summary);
                        bar.StopTask();
                    }
                })).ConfigureAwait(false);
        }

        private void ShowStatusTable()
        {
            if (output.IsJson)
            {
                return;
            }

            // Archive and raw are the same columns' bytes, compressed in the archive and uncompressed in memory.
            var table = new Table().Border(TableBorder.Rounded).Title("Midway: where each workspace's events are")
                .AddColumn("Name").AddColumn("Status").AddColumn("Storage")
                .AddColumn(new TableColumn("Hot rows").RightAligned()).AddColumn(new TableColumn("Cold rows").RightAligned())
                .AddColumn(new TableColumn("Archive").RightAligned()).AddColumn(new TableColumn("Raw").RightAligned())
                .AddColumn(new TableColumn("Ratio").RightAligned());
            foreach (var w in _workspaces)
            {
                var m = w.Midway!;
                table.AddRow(
                    Markup.Escape(m.Name), m.Status.ToString(), m.Storage == StorageState.Cold ? "[blue]cold[/]" : m.Storage.ToText(),
                    Invariant($"{m.HotRows:N0}"), Invariant($"{m.ArchivedRows:N0}"), Bytes(m.ArchivedBytes), Bytes(w.RawBytes),
                    w.CompressionRatio is { } ratio ? Invariant($"{ratio:F1}×") : "-");
            }

            output.Console.Write(table);
        }

        private void ShowSummary(bool exact)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("After: full-row checksums compared with before")
                .AddColumn("Name").AddColumn("Role").AddColumn(new TableColumn("Events").RightAligned()).AddColumn(new TableColumn("Internal events").RightAligned())
                .AddColumn(new TableColumn("Events checksum").RightAligned()).AddColumn("Same");
            foreach (var w in _workspaces)
            {
                var checksum = w.Before!.EventChecksum == w.After!.EventChecksum
                    ? Invariant($"{w.After.EventChecksum}")
                    : Invariant($"[red]{w.Before.EventChecksum} → {w.After.EventChecksum}[/]");
                table.AddRow(
                    Markup.Escape(w.Name), w.Role, Invariant($"{w.After.EventRows:N0}"), Invariant($"{w.After.InternalEventRows:N0}"),
                    checksum, w.Match ? "[green]yes[/]" : "[red]no[/]");
            }

            output.Console.Write(table);
            var (workspaces, rows, archived, raw) = MovedTotals();
            Note(Invariant($"Moved {rows:N0} rows of {workspaces} workspaces to cold storage and back: {Bytes(raw)} raw in {Bytes(archived)} of archive ({Ratio(raw, archived):F1}× smaller)."));
            Note("Phases: " + string.Join(" · ", _phases.Select(p => $"{p.Name} {Seconds(p.Duration)}")) + $"; total {Seconds(_total.Elapsed)}.");
            // The verdict is the command's result, so it goes to stdout where it can be captured.
            output.WriteResult(exact
                ? $"Round trip exact: all {_workspaces.Count} workspaces have the same rows and full-row checksums as before."
                : "Round trip NOT exact: " + string.Join("; ", _workspaces.Where(w => !w.Match).Select(Difference)) + ".");
        }

        private static string Difference(DemoWorkspace w) => Invariant(
            $"{w.Name} ({w.Role}) differs: events {w.Before!.EventRows} rows/checksum {w.Before.EventChecksum} -> {w.After!.EventRows}/{w.After.EventChecksum}, internal events {w.Before.InternalEventRows}/{w.Before.InternalEventChecksum} -> {w.After.InternalEventRows}/{w.After.InternalEventChecksum}");

        /// <summary>What the paused and tombstoned workspaces moved, as the midway status saw it.</summary>
        private (int Workspaces, long Rows, long ArchivedBytes, long RawBytes) MovedTotals()
        {
            var moved = Moved.ToList();
            return (moved.Count, moved.Sum(w => w.Midway!.ArchivedRows), moved.Sum(w => w.Midway!.ArchivedBytes), moved.Sum(w => w.RawBytes));
        }

        private void WriteJson(bool exact)
        {
            var (_, rowsMoved, archived, raw) = MovedTotals();
            // Field names are a contract: later versions add fields, never rename them. Checksums are text so that
            // no JSON reader rounds a 64-bit value.
            output.WriteJson(new
            {
                runSuffix = _suffix,
                eventsPerWorkspace,
                seed,
                exact,
                workspaces = _workspaces.Select(w => new
                {
                    id = w.Id,
                    name = w.Name,
                    externalId = w.Created.ExternalId,
                    role = w.Role,
                    rows = w.Rows,
                    before = Checksums(w.Before!),
                    after = Checksums(w.After!),
                    match = w.Match,
                    archivedBytes = w.Midway!.ArchivedBytes,
                    rawBytes = w.RawBytes,
                    compressionRatio = w.CompressionRatio,
                    midway = new
                    {
                        name = w.Midway.Name,
                        status = w.Midway.Status,
                        storage = w.Midway.Storage.ToText(),
                        hotRows = w.Midway.HotRows,
                        archivedRows = w.Midway.ArchivedRows,
                    },
                }),
                totals = new
                {
                    rowsMoved,
                    archivedBytes = archived,
                    rawBytes = raw,
                    compressionRatio = archived > 0 ? Ratio(raw, archived) : (double?)null,
                },
                phases = _phases.Select(p => new { name = p.Name, durationMs = (long)p.Duration.TotalMilliseconds }),
                durationMs = (long)_total.Elapsed.TotalMilliseconds,
            });
        }

        private static object Checksums(WorkspaceChecksums sums) => new
        {
            eventRows = sums.EventRows,
            eventChecksum = sums.EventChecksum.ToString(CultureInfo.InvariantCulture),
            internalEventRows = sums.InternalEventRows,
            internalEventChecksum = sums.InternalEventChecksum.ToString(CultureInfo.InvariantCulture),
        };

        /// <summary>Human progress and notes go to stderr, and only when stdout is not carrying JSON.</summary>
        private void Note(string markup)
        {
            if (!output.IsJson)
            {
                output.Info(markup);
            }
        }
    }

    private static double Ratio(long raw, long archived) => archived == 0 ? 0 : Math.Round((double)raw / archived, 2);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan duration) => Invariant($"{duration.TotalSeconds:F1} s");

    private static string Shorten(string text, int length) => text.Length <= length ? text : string.Concat(text.AsSpan(0, length - 1), "…");

    private static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? Invariant($"{bytes:N0} B") : Invariant($"{value:F1} {units[unit]}");
    }
}
