using System.Globalization;
using Coldstore.Domain;
using Coldstore.Errors;
using Microsoft.Extensions.Logging;

namespace Coldstore.Services;

/// <summary>
/// The retention rule: archives of workspaces Tombstoned longer than <see cref="ColdstoreOptions.PurgeTombstonedAfter"/>
/// (their row's last change, which the tombstone made), and of workspaces whose row the application deleted (their
/// archives' last change), are purged, unless the workspace is under a legal hold: the ledger row is marked purged
/// (counts and dates kept) before the objects are deleted, so a crash in between leaves only objects that the next
/// purge (or restore) removes, never an archive the ledger still promises.
/// </summary>
#pragma warning disable CA1001 // See WorkspaceArchiver.cs: the tagger wraps the engine client without owning it.
internal sealed partial class WorkspaceArchiver
#pragma warning restore CA1001
{
    private const string PurgeStep = "purge";

    /// <summary>
    /// Put on an archived archive whose workspace row is gone, the first time a purge sees it: the write stamps the row's
    /// update time, from which the period then counts (the ledger cannot know when the application deleted the row).
    /// </summary>
    internal const string RowGoneMarker = "The workspace's row is gone (deleted by the application); the retention period counts from when Coldstore first saw that, this row's update time.";

    public async Task<IReadOnlyList<PurgeOutcome>> PurgeAsync(TimeSpan after, bool dryRun, DateTime now, CancellationToken ct)
    {
        if (!dryRun)
        {
            await StartRowGoneClocksAsync(ct).ConfigureAwait(false);
        }

        var due = await DueForPurgeAsync(after, now, ct).ConfigureAwait(false);
        if (dryRun)
        {
            return [.. due.SelectMany(d => d.Archives.Select(a => d.Outcome(a, false, null)))];
        }

        var outcomes = new List<PurgeOutcome>();
        foreach (var workspace in due)
        {
            try
            {
                var purged = workspace.RowExists
                    ? await HoldingLeaseAsync(workspace.WorkspaceId, PurgeStep, options.LeaseWait, session => PurgeHoldingLeaseAsync(workspace.WorkspaceId, after, now, session.Token), ct).ConfigureAwait(false)
                    : await PurgeOrphanedAsync(workspace, ct).ConfigureAwait(false);
                outcomes.AddRange(purged.Select(a => workspace.Outcome(a, true, null)));
            }
            catch (ColdstoreException e) when (!ct.IsCancellationRequested)
            {
                LogPurgeFailed(logger, workspace.WorkspaceId, e.Message);
                outcomes.AddRange(workspace.Archives.Select(a => workspace.Outcome(a, false, e.Message)));
            }
        }

        return outcomes;
    }

    /// <summary>The workspaces whose archived archives the rule purges now, from one read of workspaces, holds and the ledger.</summary>
    private async Task<List<DuePurge>> DueForPurgeAsync(TimeSpan after, DateTime now, CancellationToken ct)
    {
        var workspaces = (await state.ListWorkspacesAsync(ct).ConfigureAwait(false)).ToDictionary(w => w.Id);
        var held = (await state.ListHoldsAsync(ct).ConfigureAwait(false)).Select(h => h.WorkspaceId).ToHashSet();
        var due = new List<DuePurge>();
        foreach (var group in (await state.ListAllArchivesAsync(ct).ConfigureAwait(false)).Where(a => a.State == ArchiveState.Archived).GroupBy(a => a.WorkspaceId))
        {
            if (held.Contains(group.Key))
            {
                continue;
            }

            if (workspaces.TryGetValue(group.Key, out var workspace))
            {
                if (TombstonedLongEnough(workspace, group, after, now))
                {
                    due.Add(new DuePurge(group.Key, true, [.. group], string.Create(CultureInfo.InvariantCulture, $"tombstoned since {workspace.UpdatedAt:yyyy-MM-dd HH:mm:ss}Z")));
                }
            }
            else
            {
                var last = group.Max(a => a.UpdatedAt);
                if (group.All(a => a.LastError == RowGoneMarker) && last <= now - after)
                {
                    due.Add(new DuePurge(group.Key, false, [.. group], string.Create(CultureInfo.InvariantCulture, $"its workspace row was deleted; first seen gone at {last:yyyy-MM-dd HH:mm:ss}Z")));
                }
            }
        }

        return due;
    }

    /// <summary>Starts the period of every archived archive whose workspace row is gone and that has no clock yet.</summary>
    private async Task StartRowGoneClocksAsync(CancellationToken ct)
    {
        var rows = (await state.ListWorkspacesAsync(ct).ConfigureAwait(false)).Select(w => w.Id).ToHashSet();
        foreach (var archive in (await state.ListAllArchivesAsync(ct).ConfigureAwait(false))
            .Where(a => a.State == ArchiveState.Archived && a.LastError != RowGoneMarker && !rows.Contains(a.WorkspaceId)))
        {
            await state.UpdateArchiveAsync(archive with { LastError = RowGoneMarker }, ct).ConfigureAwait(false);
        }
    }

    /// <remarks>
    /// The row's last change is taken for the tombstone's time (Dittofeed does not edit a tombstoned workspace). An
    /// application that sets the status with a bare UPDATE leaves that time as it was, so the archives must be that old
    /// too: a workspace archived when it was tombstoned keeps them for the whole period whatever the row says.
    /// </remarks>
    private static bool TombstonedLongEnough(Workspace workspace, IEnumerable<ArchiveRecord> archived, TimeSpan after, DateTime now) =>
        workspace.Status == WorkspaceStatus.Tombstoned && workspace.UpdatedAt <= now - after && archived.All(a => a.UpdatedAt <= now - after);

    /// <summary>Whether the workspace (its row, or only its archives) is under a legal hold now.</summary>
    private async Task<bool> IsHeldAsync(Guid workspaceId, CancellationToken ct) =>
        (await state.ListHoldsAsync(ct).ConfigureAwait(false)).Any(h => h.WorkspaceId == workspaceId);

    /// <summary>Under the lease, with the workspace and its hold read again: a workspace activated or held meanwhile keeps its archives.</summary>
    private async Task<IReadOnlyList<ArchiveRecord>> PurgeHoldingLeaseAsync(Guid workspaceId, TimeSpan after, DateTime now, CancellationToken ct)
    {
        var archived = (await _ledger.ListAsync(workspaceId, ct).ConfigureAwait(false)).Where(a => a.State == ArchiveState.Archived).ToList();
        if (!await StillDueAsync().ConfigureAwait(false))
        {
            return [];
        }

        // Every archive is marked first (a few fenced writes, milliseconds), and only then are objects deleted (which
        // can take minutes on a large prefix): an activation or a hold that arrives meanwhile finds the ledger decided.
        var purged = new List<ArchiveRecord>();
        foreach (var archive in archived)
        {
            purged.Add(await _ledger.PurgedAsync(archive, ct).ConfigureAwait(false));
        }

        // An activation does not wait for this lease to change the status, and a hold takes no lease: read both again
        // now that the marks are written. Either one committed before this read undoes the marks (nothing is deleted
        // yet); one that commits after it comes after the purge, which had decided while the rule held.
        if (!await StillDueAsync().ConfigureAwait(false))
        {
            foreach (var archive in purged)
            {
                await _ledger.UnpurgedAsync(archive, ct).ConfigureAwait(false);
            }

            return [];
        }

        await DeleteObjectsAsync(workspaceId, purged, ct).ConfigureAwait(false);
        return purged;

        async Task<bool> StillDueAsync() =>
            await state.GetWorkspaceAsync(workspaceId, ct).ConfigureAwait(false) is { } workspace
            && TombstonedLongEnough(workspace, archived, after, now)
            && !await IsHeldAsync(workspaceId, ct).ConfigureAwait(false);
    }

    /// <summary>Deletes the objects of archives already marked purged (the mark comes first: see the class summary).</summary>
    private async Task DeleteObjectsAsync(Guid workspaceId, IReadOnlyList<ArchiveRecord> purged, CancellationToken ct)
    {
        foreach (var archive in purged)
        {
            await store.DeletePrefixAsync(archive.ObjectPrefix, ct).ConfigureAwait(false);
            LogPurged(logger, workspaceId, archive.ArchiveId, archive.RowCount ?? 0, archive.Bytes ?? 0);
        }
    }

    /// <summary>
    /// Archives of a workspace whose row is gone: no lease can be taken (leases belong to rows), and nothing else acts on
    /// them; the hold is read again right before.
    /// </summary>
    private async Task<IReadOnlyList<ArchiveRecord>> PurgeOrphanedAsync(DuePurge due, CancellationToken ct)
    {
        if (await IsHeldAsync(due.WorkspaceId, ct).ConfigureAwait(false))
        {
            return [];
        }

        // A row re-created with the same id makes these archives its own again: leave them to that workspace.
        if (await state.GetWorkspaceAsync(due.WorkspaceId, ct).ConfigureAwait(false) is not null)
        {
            return [];
        }

        var purged = new List<ArchiveRecord>();
        foreach (var archive in due.Archives)
        {
            var current = await state.GetArchiveAsync(archive.ArchiveId, ct).ConfigureAwait(false);
            if (current is not { State: ArchiveState.Archived })
            {
                continue;
            }

            var marked = current with { State = ArchiveState.Purged, LastError = null };
            await state.UpdateArchiveAsync(marked, ct).ConfigureAwait(false);
            purged.Add(marked);
        }

        await DeleteObjectsAsync(due.WorkspaceId, purged, ct).ConfigureAwait(false);
        return purged;
    }

    private sealed record DuePurge(Guid WorkspaceId, bool RowExists, IReadOnlyList<ArchiveRecord> Archives, string Reason)
    {
        public PurgeOutcome Outcome(ArchiveRecord archive, bool purged, string? error) =>
            new(WorkspaceId, archive.ArchiveId, archive.RowCount ?? 0, archive.Bytes ?? 0, Reason, purged, error);
    }

    [LoggerMessage(EventId = 1230, Level = LogLevel.Information, Message = "Purged archive {ArchiveId} of workspace {WorkspaceId} by the retention rule: {Rows} rows, {Bytes} bytes")]
    private static partial void LogPurged(ILogger logger, Guid workspaceId, Guid archiveId, long rows, long bytes);

    [LoggerMessage(EventId = 1231, Level = LogLevel.Warning, Message = "Workspace {WorkspaceId}: the retention purge stopped: {Reason}")]
    private static partial void LogPurgeFailed(ILogger logger, Guid workspaceId, string reason);
}
