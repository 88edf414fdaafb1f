using System.Globalization;
using System.Text;
using Coldstore.Domain;
using Coldstore.Events;
using Coldstore.Ports;
using Coldstore.Services;
using Coldstore.Sql;
using Coldstore.Testing;

namespace Coldstore.Operations.Tests.Support;

/// <summary>
/// One event row chosen by a test, inserted through raw SQL so that any bytes (invalid UTF-8, NUL) and any
/// <c>processing_time</c> can be stored.
/// </summary>
/// <param name="MessageId">The <c>message_id</c>.</param>
/// <param name="Raw">The bytes of <c>message_raw</c>, verbatim.</param>
/// <param name="ServerTime">The <c>server_time</c> (UTC).</param>
/// <param name="ProcessingTime">The <c>processing_time</c> (UTC), or null for the server's <c>now64(3)</c>.</param>
public sealed record RawEvent(string MessageId, byte[] Raw, DateTime ServerTime, DateTime? ProcessingTime)
{
    public static RawEvent Of(string messageId, string raw, DateTime? processingTime = null, DateTime? serverTime = null) =>
        new(messageId, Encoding.UTF8.GetBytes(raw), serverTime ?? new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc), processingTime);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"RawEvent({Printable(MessageId)}, {Raw.Length} bytes: {Printable(Encoding.UTF8.GetString(Raw[..Math.Min(Raw.Length, 80)]))}, processing {ProcessingTime?.ToString("O", CultureInfo.InvariantCulture) ?? "now"})");

    private static string Printable(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
}

/// <summary>
/// A service instance over its own ClickHouse client and its own state and archive adapters (sharing the test's
/// stores), plus the probes tests use to look at the engines directly.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    private Harness(IClickHouseClient clickHouse, IStateStore state, IArchiveStore archive, EventTables tables, ColdstoreOptions options)
    {
        ClickHouse = clickHouse;
        State = state;
        Archive = archive;
        Tables = tables;
        Service = new ColdstoreService(clickHouse, state, archive, tables, options);
    }

    public IClickHouseClient ClickHouse { get; }

    public IStateStore State { get; }

    public IArchiveStore Archive { get; }

    public EventTables Tables { get; }

    public ColdstoreService Service { get; }

    public static async Task<Harness> OpenAsync(IClickHouseClient clickHouse, IEngines engines, EventTables tables, ColdstoreOptions options)
    {
        var harness = new Harness(clickHouse, engines.OpenState(), engines.OpenArchive(), tables, options);
        try
        {
            await harness.Service.InitializeAsync();
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>The archive-store prefix under which every archive of a workspace lives.</summary>
    public static string WorkspacePrefix(Guid workspaceId) => $"workspace_id={workspaceId:D}/";

    public static long Millis(DateTime utc) => (long)(DateTime.SpecifyKind(utc, DateTimeKind.Utc) - DateTime.UnixEpoch).TotalMilliseconds;

    public async Task<Guid> NewWorkspaceAsync() =>
        (await Service.CreateWorkspaceAsync(new NewWorkspace($"ops-{Guid.NewGuid():N}"))).Id;

    public async Task<IngestResult> IngestAsync(Guid workspaceId, int count, int seed) =>
        await Service.IngestAsync(workspaceId, SegmentEventGenerator.Generate(count, seed));

    /// <summary>Inserts rows exactly as given: message_raw as bytes (hex on the wire), explicit processing_time when set.</summary>
    public async Task InsertAsync(Guid workspaceId, IReadOnlyCollection<RawEvent> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var query = new ClickHouseQuery($$"""
                INSERT INTO {{Tables.QualifiedEvents}} (message_raw, processing_time, workspace_id, message_id, server_time)
                SELECT unhex(r.1), if(r.2 < 0, now64(3, 'UTC'), fromUnixTimestamp64Milli(r.2, 'UTC')), {workspace_id:String}, unhex(r.3), fromUnixTimestamp64Milli(r.4, 'UTC')
                FROM (SELECT arrayJoin(arrayZip({raws:Array(String)}, {processing:Array(Int64)}, {ids:Array(String)}, {server:Array(Int64)})) AS r)
                """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .With("raws", "Array(String)", rows.Select(r => Convert.ToHexString(r.Raw)).ToArray())
            .With("processing", "Array(Int64)", rows.Select(r => r.ProcessingTime is { } t ? Millis(t) : -1L).ToArray())
            .With("ids", "Array(String)", rows.Select(r => Convert.ToHexString(Encoding.UTF8.GetBytes(r.MessageId))).ToArray())
            .With("server", "Array(Int64)", rows.Select(r => Millis(r.ServerTime)).ToArray())
            .WithSettings(EventSql.InsertSettings)
            .WithSetting("insert_deduplicate", "0")
            .For("test: insert chosen rows");
        await ClickHouse.ExecuteAsync(query);
    }

    public Task<WorkspaceChecksums> ChecksumsAsync(Guid workspaceId) => Service.GetWorkspaceChecksumsAsync(workspaceId);

    /// <summary>Hot rows as status reports them (pending deletes already applied).</summary>
    public async Task<long> HotRowsAsync(Guid workspaceId) => (await Service.GetStatusAsync(workspaceId)).Single().HotRows;

    public async Task<StorageState> StorageAsync(Guid workspaceId) =>
        (await State.GetWorkspaceAsync(workspaceId) ?? throw new InvalidOperationException($"No workspace {workspaceId}.")).Storage;

    public Task<IReadOnlyList<ArchiveRecord>> LedgerAsync(Guid workspaceId) => State.ListArchivesAsync(workspaceId);

    public Task<IReadOnlyList<ArchiveObject>> ObjectsAsync(Guid workspaceId) => Archive.ListAsync(WorkspacePrefix(workspaceId));

    /// <summary>Count and sum of the five-column row hash (the archive's own checksum) of every hot row of the workspace.</summary>
    public async Task<(long Rows, ulong Checksum)> StoredColumnsSummaryAsync(Guid workspaceId)
    {
        var row = (await ClickHouse.QueryAsync(
            ArchiveSql.HotSummary(Tables, workspaceId, new DateTime(2100, 1, 1, 0, 0, 0, DateTimeKind.Utc)))).Single();
        return (row.GetInt64("rows"), row.GetUInt64("checksum"));
    }

    /// <summary>Waits (bounded) until no mutation of the test database is unfinished; fails on a mutation error.</summary>
    public async Task WaitForMutationsAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var row = (await ClickHouse.QueryAsync(new ClickHouseQuery("""
                    SELECT count() AS pending, any(latest_fail_reason) AS reason
                    FROM system.mutations WHERE database = {database:String} AND is_done = 0
                    """)
                .With("database", "String", Tables.Database)
                .For("test: pending mutations"))).Single();
            if (row.GetInt64("pending") == 0)
            {
                return;
            }

            var reason = row.IsNull("reason") ? "" : row.GetString("reason");
            if (reason.Length > 0)
            {
                throw new InvalidOperationException($"A mutation in {Tables.Database} failed: {reason}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{row.GetInt64("pending")} mutations in {Tables.Database} did not finish within 90 s.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Rows physically left in both tables once every mutation has finished (no on-the-fly view).</summary>
    public async Task<(long Events, long InternalEvents)> RowsAfterDeletesAsync(Guid workspaceId)
    {
        await WaitForMutationsAsync();
        var row = (await ClickHouse.QueryAsync(new ClickHouseQuery($$"""
                SELECT
                    (SELECT count() FROM {{Tables.QualifiedEvents}} WHERE workspace_id = {workspace_id:String}) AS events,
                    (SELECT count() FROM {{Tables.QualifiedInternalEvents}} WHERE workspace_id = {workspace_id:String}) AS internal
                """)
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("test: rows left"))).Single();
        return (row.GetInt64("events"), row.GetInt64("internal"));
    }

    /// <summary>The message ids of the workspace's hot rows, with multiplicity, once every delete has finished.</summary>
    public async Task<List<string>> HotMessageIdsAsync(Guid workspaceId)
    {
        await WaitForMutationsAsync();
        return (await ClickHouse.QueryAsync(new ClickHouseQuery($"SELECT message_id FROM {Tables.QualifiedEvents} WHERE workspace_id = {{workspace_id:String}}")
            .With("workspace_id", "String", EventSql.WorkspaceIdText(workspaceId))
            .For("test: hot message ids")))
            .Select(r => r.GetString("message_id"))
            .ToList();
    }

    /// <summary>The message ids stored in an archive's data objects, with multiplicity, read by ClickHouse from the store.</summary>
    public async Task<List<string>> ArchivedMessageIdsAsync(string objectPrefix)
    {
        var source = Archive.TableFunction(objectPrefix + "*.parquet", "Parquet", "read");
        return (await ClickHouse.QueryAsync(new ClickHouseQuery($"SELECT message_id FROM {source.Sql}")
                .With(source.Parameters)
                .WithSetting("use_hive_partitioning", "0")
                .For("test: archived message ids")))
            .Select(r => r.GetString("message_id"))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await ClickHouse.DisposeAsync();
        await State.DisposeAsync();
        (Archive as IDisposable)?.Dispose();
    }
}
