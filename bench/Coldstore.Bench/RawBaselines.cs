using System.Globalization;
using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// What ClickHouse alone needs to move the same rows, with no Coldstore around it: the denominators of the ratios.
/// Each baseline uses the same settings as the Coldstore statement it stands for (Parquet codec and row groups on
/// export, block sizes and threads on insert), so a ratio measures Coldstore's protocol, not a different setting.
/// </summary>
internal sealed class RawBaselines(IClickHouseClient clickHouse, EventTables tables, string parquetPath)
{
    private static readonly string Columns = ArchiveSql.StoredColumnList;

    /// <summary>
    /// Baseline A: copy the workspace's stored columns to one Parquet file, then verify the copy the cheapest way
    /// that still proves it: count and checksum of the file against the same of the hot rows.
    /// </summary>
    /// <exception cref="BenchmarkFailedException">The copy does not match the hot rows.</exception>
    public async Task CopyAndVerifyAsync(Guid workspaceId)
    {
        await clickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO FUNCTION file({path:String}, 'Parquet')
                SELECT {{Columns}}
                FROM {{tables.QualifiedEvents}}
                WHERE workspace_id = {workspace_id:String}
                """)
            .With("path", "String", parquetPath)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .WithSettings(ArchiveSql.ExportSettings)
            .WithSetting("engine_file_truncate_on_insert", "1")
            .For("bench: baseline copy to parquet"));

        var copy = await SummaryAsync(new ClickHouseQuery($"SELECT count() AS rows, sum({ArchiveSql.RowHash}) AS checksum FROM file({{path:String}}, 'Parquet')")
            .With("path", "String", parquetPath)
            .WithSettings(ArchiveSql.ReadArchiveSettings)
            .For("bench: baseline read back"));
        var hot = await SummaryAsync(new ClickHouseQuery($"SELECT count() AS rows, sum({ArchiveSql.RowHash}) AS checksum FROM {tables.QualifiedEvents} WHERE workspace_id = {{workspace_id:String}}")
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("bench: baseline hot summary"));
        if (copy != hot || copy.Rows == 0)
        {
            throw new BenchmarkFailedException($"The baseline Parquet copy does not match the hot rows (file {copy}, hot {hot}).");
        }
    }

    /// <summary>
    /// Baseline B: insert the baseline file's rows into the events table under another workspace id (so they sit
    /// beside nothing of the measured workspace), the same insert a restore runs, without its checks.
    /// </summary>
    public Task InsertAsync(Guid scratchWorkspaceId) =>
        clickHouse.ExecuteAsync(new ClickHouseQuery($$"""
                INSERT INTO {{tables.QualifiedEvents}} ({{Columns}})
                SELECT message_raw, processing_time, {scratch:String}, message_id, server_time
                FROM file({path:String}, 'Parquet')
                """)
            .With("scratch", "String", EventSql.WorkspaceIdText(scratchWorkspaceId))
            .With("path", "String", parquetPath)
            .WithSettings(ArchiveSql.RestoreSettings)
            .For("bench: baseline insert from parquet"));

    /// <summary>Rows of a workspace in the events table.</summary>
    public async Task<long> CountAsync(Guid workspaceId) =>
        (await SummaryAsync(new ClickHouseQuery($"SELECT count() AS rows, toUInt64(0) AS checksum FROM {tables.QualifiedEvents} WHERE workspace_id = {{workspace_id:String}}")
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("bench: count rows"))).Rows;

    /// <summary>Removes a scratch workspace's rows from both tables and waits until they are gone, so the next phase starts from the same table.</summary>
    public Task RemoveAsync(Guid scratchWorkspaceId) => BareDelete.RunAsync(clickHouse, tables, [scratchWorkspaceId], "bench: remove scratch rows");

    /// <summary>Waits until ClickHouse has applied every delete of the workspace (what Coldstore's archive leaves running).</summary>
    public async Task WaitForDeletesAsync(Guid workspaceId)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while ((await clickHouse.QueryAsync(ArchiveSql.PendingDeletes(tables, workspaceId))).Single().GetInt64("pending") > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new BenchmarkFailedException($"The deletes of workspace {workspaceId} did not finish within 10 minutes.");
            }

            // Short, so the measured time overshoots the real completion by at most this much.
            await Task.Delay(10);
        }
    }

    private Task<Summary> SummaryAsync(ClickHouseQuery query) => Summary.ReadAsync(clickHouse, query);
}

/// <summary>Count and checksum of some rows: a query's <c>rows</c> and <c>checksum</c> columns.</summary>
internal sealed record Summary(long Rows, ulong Checksum)
{
    public static async Task<Summary> ReadAsync(IClickHouseClient clickHouse, ClickHouseQuery query)
    {
        var row = (await clickHouse.QueryAsync(query)).Single();
        return new Summary(row.GetInt64("rows"), row.GetUInt64("checksum"));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rows} rows, checksum {Checksum}");
}

/// <summary>
/// ClickHouse alone taking workspaces out: an unbounded lightweight delete of every row of them from both tables (the
/// view's rows would otherwise be doubled by an insert back), waited for until applied.
/// </summary>
internal static class BareDelete
{
    public static async Task RunAsync(IClickHouseClient clickHouse, EventTables tables, IEnumerable<Guid> workspaceIds, string purpose)
    {
        var workspaces = workspaceIds.Select(EventSql.WorkspaceIdText).ToArray();
        foreach (var table in new[] { tables.QualifiedEvents, tables.QualifiedInternalEvents })
        {
            await clickHouse.ExecuteAsync(new ClickHouseQuery($"DELETE FROM {table} WHERE workspace_id IN {{workspaces:Array(String)}}")
                .With("workspaces", "Array(String)", workspaces)
                .WithSetting("lightweight_deletes_sync", "2")
                .WithSetting("mutations_sync", "2")
                .For(purpose));
        }
    }
}

/// <summary>The benchmark saw a wrong result; it reports that instead of a timing.</summary>
internal sealed class BenchmarkFailedException(string message) : Exception(message);
