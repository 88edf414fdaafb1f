using System.CommandLine;
using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore archive|restore ID…|--status S</c>, <c>verify|checksum ID</c>: move workspaces' events and prove it.</summary>
internal static class ArchiveCommands
{
    public static Command Archive(CommandContext context) => Operation(
        context,
        "archive",
        "Move the workspace's hot events into a new verified archive, then delete them from the hot tables.",
        (service, id, progress, ct) => service.ColdStoreWorkspaceEventsAsync(id, progress, ct),
        (service, ids, parallel, ct) => service.ColdStoreWorkspacesEventsAsync(ids, null, parallel, ct));

    public static Command Restore(CommandContext context) => Operation(
        context,
        "restore",
        "Bring every archive of the workspace back into the hot tables, verify, then delete the archives.",
        (service, id, progress, ct) => service.RestoreWorkspaceEventsAsync(id, progress, ct),
        (service, ids, parallel, ct) => service.RestoreWorkspacesEventsAsync(ids, null, parallel, ct));

    public static Command Verify(CommandContext context)
    {
        var id = WorkspaceArgument();
        var command = new Command("verify", "Re-read every archive of the workspace and compare it with its manifest and ledger row.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "verify");
            var checks = await runtime.Service.VerifyWorkspaceArchivesAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            var ok = checks.All(c => c.Ok);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    workspaceId,
                    ok,
                    archives = checks.Select(c => new { archiveId = c.ArchiveId, state = c.State.ToText(), rows = c.Rows, bytes = c.Bytes, ok = c.Ok, problem = c.Problem }),
                });
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumn("Archive").AddColumn("State").AddColumn(new TableColumn("Rows").RightAligned())
                    .AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Result");
                foreach (var c in checks)
                {
                    table.AddRow(c.ArchiveId.ToString("D"), c.State.ToText(), c.Rows.ToString("N0", CultureInfo.InvariantCulture),
                        c.Bytes.ToString("N0", CultureInfo.InvariantCulture), c.Ok ? "[green]ok[/]" : $"[red]{Markup.Escape(c.Problem ?? "failed")}[/]");
                }

                output.Console.Write(table);
                output.Info(checks.Count == 0 ? "No archives to verify." : ok ? "[green]Every archive matches its manifest.[/]" : "[red]Some archives do not match.[/]");
            }

            return ok ? ExitCodes.Ok : ExitCodes.Failed;
        }, cancellationToken));
        return command;
    }

    public static Command Archives(CommandContext context)
    {
        var id = WorkspaceArgument();
        var command = new Command("archives", "List every archive of the workspace: state, cutoff, chunk, months, objects and sizes, rows, checksum.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "archives");
            var archives = await runtime.Service.DescribeArchivesAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            var hold = (await runtime.Service.ListHoldsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(h => h.WorkspaceId == workspaceId);
            var erasures = await runtime.Service.ListErasuresAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<Guid> ErasuresOf(Guid archiveId) => [.. erasures.Where(e => e.Progress.Of(archiveId) is not null).Select(e => e.ErasureId)];
            if (output.IsJson)
            {
                // Field names are a contract: later versions add fields, never rename them.
                output.WriteJson(new
                {
                    workspaceId,
                    hold = hold is null ? null : new { reason = hold.Reason, placedAt = hold.PlacedAt },
                    erasures = erasures.Select(EraseCommand.Describe),
                    archives = archives.Select(a => new
                    {
                        archiveId = a.Record.ArchiveId,
                        state = a.Record.State.ToText(),
                        cutoff = a.Record.Cutoff,
                        chunk = a.Record.Chunk is { } chunk ? new { from = chunk.From, until = chunk.Until, bucket = chunk.Bucket, buckets = chunk.Buckets } : null,
                        months = a.Months,
                        objects = a.Objects.Select(o => new { key = a.Record.ObjectPrefix + o.Key, size = o.Size }),
                        rows = a.Record.RowCount,
                        internalEventRows = a.Record.InternalEventRows,
                        bytes = a.Record.Bytes,
                        checksum = a.Record.Checksum?.ToString(CultureInfo.InvariantCulture),
                        createdAt = a.Record.CreatedAt,
                        updatedAt = a.Record.UpdatedAt,
                        lastError = a.Record.LastError,
                        problem = a.Problem,
                        erasures = ErasuresOf(a.Record.ArchiveId),
                    }),
                });
                return ExitCodes.Ok;
            }

            var table = new Table().Border(TableBorder.Rounded).AddColumn("Archive").AddColumn("State").AddColumn("Cutoff (UTC)").AddColumn("Chunk")
                .AddColumn("Months").AddColumn(new TableColumn("Objects").RightAligned()).AddColumn(new TableColumn("Rows").RightAligned())
                .AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Checksum");
            foreach (var a in archives)
            {
                var r = a.Record;
                table.AddRow(r.ArchiveId.ToString("D"), r.State.ToText(), r.Cutoff.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
                    Markup.Escape(r.Chunk?.ToString() ?? "all"), Markup.Escape(string.Join(", ", a.Months)),
                    a.Problem is null ? a.Objects.Count.ToString(CultureInfo.InvariantCulture) : $"[red]{Markup.Escape(a.Problem)}[/]",
                    (r.RowCount ?? 0).ToString("N0", CultureInfo.InvariantCulture), (r.Bytes ?? 0).ToString("N0", CultureInfo.InvariantCulture),
                    r.Checksum?.ToString(CultureInfo.InvariantCulture) ?? "");
            }

            output.Console.Write(table);
            output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                $"{archives.Count} archives; {archives.Count(a => a.Record.State == ArchiveState.Archived)} archived, holding {archives.Where(a => a.Record.State == ArchiveState.Archived).Sum(a => a.Record.RowCount ?? 0)} rows"));
            output.WriteResult(hold is null ? "Hold: none" : string.Create(CultureInfo.InvariantCulture, $"Hold: {hold.Reason} (since {hold.PlacedAt:yyyy-MM-dd HH:mm} UTC)"));
            foreach (var e in erasures)
            {
                output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                    $"Erasure {e.ErasureId}: {e.State.ToText()}, requested by {e.RequestedBy} at {e.RequestedAt:yyyy-MM-dd HH:mm} UTC; {e.Progress.ArchivedRowsErased} archived rows erased from {e.Progress.Archives.Count} archives"));
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Checksum(CommandContext context)
    {
        var id = WorkspaceArgument();
        var command = new Command("checksum", "Print full-row checksums of the workspace's rows in user_events_v2 and internal_events.") { id };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(id), "checksum");
            var sums = await runtime.Service.GetWorkspaceChecksumsAsync(workspaceId, cancellationToken).ConfigureAwait(false);
            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    workspaceId,
                    eventRows = sums.EventRows,
                    eventChecksum = sums.EventChecksum.ToString(CultureInfo.InvariantCulture),
                    internalEventRows = sums.InternalEventRows,
                    internalEventChecksum = sums.InternalEventChecksum.ToString(CultureInfo.InvariantCulture),
                });
            }
            else
            {
                output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                    $"user_events_v2: {sums.EventRows} rows, checksum {sums.EventChecksum}; internal_events: {sums.InternalEventRows} rows, checksum {sums.InternalEventChecksum}"));
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    internal static Argument<string> WorkspaceArgument() => new("id") { Description = "The workspace id" };

    /// <summary>
    /// <c>archive|restore ID…</c> or <c>--status S</c>: one workspace as before (one JSON object, a live step display),
    /// or several, each on its own: one failing never stops or undoes the others. Every id is parsed before anything
    /// runs, so a typo changes nothing.
    /// </summary>
    private static Command Operation(
        CommandContext context,
        string name,
        string description,
        Func<ColdstoreService, Guid, IProgress<OperationProgress>, CancellationToken, Task<OperationResult>> run,
        Func<ColdstoreService, IReadOnlyList<Guid>, int, CancellationToken, Task<IReadOnlyList<WorkspaceOutcome>>>? many = null)
    {
        var ids = new Argument<string[]>("id") { Description = "The workspace ids (or none, with --status)", Arity = ArgumentArity.ZeroOrMore };
        var status = new Option<string?>("--status") { Description = "Every workspace in this status: Active, Paused or Tombstoned", HelpName = "status" };
        var concurrency = new Option<int>("--concurrency") { Description = "Workspaces moved alone at a time, of those a batch leaves (1 to 64; default 2)", DefaultValueFactory = _ => 2 };
        var command = new Command(name, description) { ids, status, concurrency };
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var given = parseResult.GetValue(ids) ?? [];
            var statusText = parseResult.GetValue(status);
            var parallel = parseResult.GetValue(concurrency);
            if ((given.Length == 0) == (statusText is null) || parallel is < 1 or > 64)
            {
                throw new WorkspaceOperationException(null, name, parallel is < 1 or > 64
                    ? string.Create(CultureInfo.InvariantCulture, $"--concurrency {parallel} is out of range: use 1 to 64.")
                    : $"Give one or more workspace ids, or --status Active|Paused|Tombstoned, not {(given.Length == 0 ? "neither" : "both")}.", WorkspaceErrorKind.InvalidInput);
            }

            if (statusText is null && given.Length == 1)
            {
                var workspaceId = ColdstoreService.ParseWorkspaceId(given[0], name);
                var result = await output.WithProgressAsync($"{name} {workspaceId}", progress => run(runtime.Service, workspaceId, progress, cancellationToken)).ConfigureAwait(false);
                Print(output, result);
                return ExitCodes.Ok;
            }

            var workspaceIds = statusText is null
                ? [.. given.Select(text => ColdstoreService.ParseWorkspaceId(text, name)).Distinct()]
                : await WorkspacesInStatusAsync(runtime.Service, ParseStatus(statusText, name), cancellationToken).ConfigureAwait(false);
            var outcomes = many is null
                ? await RunEachAsync(workspaceIds, parallel, id => run(runtime.Service, id, new Progress<OperationProgress>(), cancellationToken), output, cancellationToken).ConfigureAwait(false)
                : Report(await many(runtime.Service, workspaceIds, parallel, cancellationToken).ConfigureAwait(false), output);
            if (output.IsJson)
            {
                output.WriteJson(outcomes.Select(o => o.Result is { } r ? (object)Summary(r) : new
                {
                    workspaceId = o.WorkspaceId,
                    operation = name,
                    ok = false,
                    exitCode = CommandContext.ToExitCode(o.Error!),
                    error = CommandContext.Describe(o.Error!),
                }));
            }
            else
            {
                var failed = outcomes.Count(o => o.Error is not null);
                output.Info(string.Create(CultureInfo.InvariantCulture,
                    $"{name}: {outcomes.Count - failed} of {outcomes.Count} workspaces done{(failed > 0 ? $", [red]{failed} failed[/] (rerun them; each resumes where it stopped)" : string.Empty)}."));
            }

            return ExitCodeOf(outcomes.Where(o => o.Error is not null).Select(o => o.Error!).ToList());
        }, cancellationToken));
        return command;
    }

    /// <summary>One workspace's outcome in a run over several: its result, or the error it stopped with.</summary>
    private sealed record Outcome(Guid WorkspaceId, OperationResult? Result, Exception? Error);

    /// <summary>
    /// Runs the operation on each workspace, at most <paramref name="parallel"/> at a time, reporting each as it ends.
    /// Failures are kept per workspace; only the caller's cancellation stops the rest.
    /// </summary>
    private static async Task<List<Outcome>> RunEachAsync(IReadOnlyList<Guid> workspaceIds, int parallel, Func<Guid, Task<OperationResult>> run, CliOutput output, CancellationToken cancellationToken)
    {
        var outcomes = new Outcome[workspaceIds.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, workspaceIds.Count), new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken }, async (index, _) =>
        {
            var id = workspaceIds[index];
            try
            {
                var result = await run(id).ConfigureAwait(false);
                outcomes[index] = new Outcome(id, result, null);
                if (!output.IsJson)
                {
                    output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                        $"{result.Operation} {id}: {result.Rows} rows, {result.Bytes} bytes; storage {result.Storage.ToText()} ({result.Duration.TotalSeconds:F1} s)"));
                }
            }
            catch (Exception error) when (!cancellationToken.IsCancellationRequested && error is not OperationCanceledException)
            {
                outcomes[index] = new Outcome(id, null, error);
                output.Error(CommandContext.Describe(error));
            }
        }).ConfigureAwait(false);
        return [.. outcomes];
    }

    /// <summary>Reports each workspace's outcome of a batched operation, as <see cref="RunEachAsync"/> does when each ends.</summary>
    private static List<Outcome> Report(IReadOnlyList<WorkspaceOutcome> outcomes, CliOutput output)
    {
        foreach (var outcome in outcomes)
        {
            if (outcome.Error is { } error)
            {
                output.Error(CommandContext.Describe(error));
            }
            else if (!output.IsJson && outcome.Result is { } result)
            {
                output.WriteResult(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Operation} {outcome.WorkspaceId}: {result.Rows} rows, {result.Bytes} bytes; storage {result.Storage.ToText()} ({result.Duration.TotalSeconds:F1} s)"));
            }
        }

        return [.. outcomes.Select(o => new Outcome(o.WorkspaceId, o.Result, o.Error))];
    }

    /// <summary>0 when every workspace succeeded; 3 when every failure was a conflict (a busy workspace); otherwise 1.</summary>
    private static int ExitCodeOf(List<Exception> errors) =>
        errors.Count == 0 ? ExitCodes.Ok
        : errors.All(e => CommandContext.ToExitCode(e) == ExitCodes.Conflict) ? ExitCodes.Conflict
        : ExitCodes.Failed;

    private static WorkspaceStatus ParseStatus(string text, string step)
    {
        try
        {
            return WorkspaceStatusText.Parse(text.Trim());
        }
        catch (FormatException e)
        {
            throw new WorkspaceOperationException(null, step, $"--status {e.Message}", WorkspaceErrorKind.InvalidInput, e);
        }
    }

    private static async Task<IReadOnlyList<Guid>> WorkspacesInStatusAsync(ColdstoreService service, WorkspaceStatus status, CancellationToken cancellationToken) =>
        [.. (await service.ListWorkspacesAsync(cancellationToken).ConfigureAwait(false)).Where(w => w.Status == status).Select(w => w.Id)];

    internal static void Print(CliOutput output, OperationResult result)
    {
        if (output.IsJson)
        {
            output.WriteJson(Summary(result));
            return;
        }

        var table = new Table().Border(TableBorder.Simple).AddColumn("Step").AddColumn(new TableColumn("Time").RightAligned()).AddColumn("Detail");
        foreach (var step in result.Steps)
        {
            table.AddRow(Markup.Escape(step.Name), $"{step.Duration.TotalSeconds:F2} s", Markup.Escape(step.Detail ?? string.Empty));
        }

        output.Console.Write(table);
        output.Info(string.Create(CultureInfo.InvariantCulture,
            $"[green]{result.Operation}[/] {result.WorkspaceId}: {result.Rows:N0} rows, {result.Bytes:N0} bytes, checksum {result.Checksum}; storage now [bold]{result.Storage.ToText()}[/] ({result.Duration.TotalSeconds:F1} s)."));
    }

    /// <summary>The JSON form of a result: camelCase fields, checksums as text so no JSON reader rounds them.</summary>
    private static object Summary(OperationResult result) => new
    {
        workspaceId = result.WorkspaceId,
        operation = result.Operation,
        ok = true,
        rows = result.Rows,
        bytes = result.Bytes,
        checksum = result.Checksum.ToString(CultureInfo.InvariantCulture),
        storage = result.Storage.ToText(),
        durationMs = (long)result.Duration.TotalMilliseconds,
        archives = result.Archives.Select(a => new
        {
            archiveId = a.ArchiveId,
            state = a.State.ToText(),
            cutoff = a.Cutoff,
            rows = a.Rows,
            bytes = a.Bytes,
            checksum = a.Checksum.ToString(CultureInfo.InvariantCulture),
            internalEventRows = a.InternalEventRows,
            objectPrefix = a.ObjectPrefix,
        }),
        steps = result.Steps.Select(s => new { name = s.Name, durationMs = (long)s.Duration.TotalMilliseconds, detail = s.Detail }),
    };
}
