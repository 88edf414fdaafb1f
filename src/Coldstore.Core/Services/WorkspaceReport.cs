using Coldstore.Domain;

namespace Coldstore.Services;

/// <summary>What <c>coldstore status</c> shows for one workspace.</summary>
/// <param name="Id">The workspace id.</param>
/// <param name="Name">Its name.</param>
/// <param name="Status">Its lifecycle status.</param>
/// <param name="Storage">Where its events are.</param>
/// <param name="HotRows">Rows in the hot events table, as they will be once pending deletes apply.</param>
/// <param name="Archives">Archives holding its events (archived, or being restored).</param>
/// <param name="ArchivedRows">Rows in those archives.</param>
/// <param name="ArchivedBytes">Bytes of those archives' data objects.</param>
/// <param name="PendingDeletes">Background deletes of its rows that ClickHouse has not finished yet.</param>
/// <param name="LastError">The error recorded on its most recently changed archive, if that archive's last attempt failed.</param>
public sealed record WorkspaceReport(
    Guid Id, string Name, WorkspaceStatus Status, StorageState Storage, long HotRows, int Archives, long ArchivedRows, long ArchivedBytes, long PendingDeletes,
    string? LastError = null);

/// <summary>What an ingestion did.</summary>
/// <param name="WorkspaceId">The workspace the events went to.</param>
/// <param name="Rows">Rows inserted.</param>
/// <param name="Duration">How long it took.</param>
public sealed record IngestResult(Guid WorkspaceId, long Rows, TimeSpan Duration);

/// <summary>What <c>init</c> did.</summary>
/// <param name="StateMigrations">State-store migration versions now applied.</param>
/// <param name="ClickHouseStatements">How many <c>IF NOT EXISTS</c> statements ran.</param>
public sealed record InitResult(IReadOnlyList<int> StateMigrations, int ClickHouseStatements);
