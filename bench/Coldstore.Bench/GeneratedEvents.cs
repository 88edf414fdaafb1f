using Coldstore.Ports;
using Coldstore.Sql;

namespace Coldstore.Bench;

/// <summary>
/// Generates events inside ClickHouse, for sizes where sending them from .NET (<c>IngestAsync</c>) would take longer
/// than what is measured: one INSERT … SELECT FROM numbers() that writes the columns ingestion writes
/// (<c>message_id</c>, <c>message_raw</c>, <c>workspace_id</c>, <c>server_time</c>) so the server fills
/// <c>processing_time</c> and every derived column through the table's defaults, and the view fills internal events,
/// as for real writes.
/// </summary>
/// <remarks>
/// Messages are shaped as <see cref="Events.SegmentEventGenerator"/> shapes them (identify, track, page and screen
/// events, a sixth of them Dittofeed's <c>DF…</c> track events with the ids the view extracts, a tenth anonymous, a
/// tenth with a timestamp without offset), about 450 to 600 bytes each. Message ids are random UUIDs: every check
/// compares a table with itself before and after, never with a fixed expectation.
/// </remarks>
internal static class GeneratedEvents
{
    /// <summary>
    /// Inserts <paramref name="perWorkspace"/> events for each of <paramref name="workspaceIds"/>, the first
    /// workspace's rows first.
    /// </summary>
    public static ClickHouseQuery Insert(EventTables tables, IReadOnlyList<Guid> workspaceIds, long perWorkspace) =>
        new ClickHouseQuery($$"""
            INSERT INTO {{tables.QualifiedEvents}} (message_id, message_raw, workspace_id, server_time)
            WITH
                cityHash64(number, 42) AS h,
                toString(generateUUIDv4(number)) AS id,
                concat('user-', toString(1 + h % 4999)) AS user,
                toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond((number % {per_workspace:UInt64}) * 1000 + bitShiftRight(h, 10) % 1000) AS at,
                replaceOne(toString(at), ' ', 'T') AS local_time,
                if(bitShiftRight(h, 20) % 10 = 0, local_time, concat(local_time, 'Z')) AS timestamp,
                if(bitShiftRight(h, 24) % 10 = 0,
                    concat('"anonymousId":"', toString(generateUUIDv4(number + 1)), '"'),
                    concat('"userId":"', user, '"')) AS who,
                bitShiftRight(h, 28) % 6 AS kind,
                ['Email', 'Sms', 'MobilePush', 'Webhook'][1 + bitShiftRight(h, 32) % 4] AS channel,
                multiIf(
                    kind = 0, concat(
                        '"type":"track","event":"',
                        ['DFEmailSent', 'DFEmailDelivered', 'DFEmailOpened', 'DFEmailClicked', 'DFSmsSent', 'DFInternalMessageSent'][1 + bitShiftRight(h, 36) % 6],
                        '","properties":{"workspaceId":"generated","journeyId":"', toString(generateUUIDv4(number + 2)),
                        '","templateId":"', toString(generateUUIDv4(number + 3)), '"',
                        if(bitShiftRight(h, 40) % 3 = 0, concat(',"broadcastId":"', toString(generateUUIDv4(number + 4)), '"'), ''),
                        ',"messageId":"', toString(generateUUIDv4(number + 5)),
                        '","triggeringMessageId":"', toString(generateUUIDv4(number + 6)),
                        '","variant":{"type":"', channel, '","to":"',
                        if(channel = 'Sms', '+15555550123', concat(user, '@example.com')),
                        '","from":"hello@coldstore.example"}', '}'),
                    kind = 1, concat(
                        '"type":"identify","traits":{"email":"', user, '@example.com","plan":"',
                        ['free', 'starter', 'growth', 'enterprise'][1 + bitShiftRight(h, 36) % 4],
                        '","logins":', toString(1 + bitShiftRight(h, 40) % 399),
                        ',"firstName":"', if(bitShiftRight(h, 48) % 8 = 0, 'Zoë 🚀', 'Ada'), '"}'),
                    kind = 2, concat(
                        '"type":"page","name":"Docs","properties":{"path":"',
                        ['/', '/pricing', '/docs/getting-started', '/blog/cold-storage', '/account/settings'][1 + bitShiftRight(h, 36) % 5],
                        '","referrer":"https://www.example.org/"}'),
                    kind = 3, concat(
                        '"type":"screen","name":"', ['Home', 'Checkout', 'Profile', 'Search', 'Settings'][1 + bitShiftRight(h, 36) % 5],
                        '","properties":{"durationMs":', toString(50 + bitShiftRight(h, 40) % 89950), '}'),
                    concat(
                        '"type":"track","event":"',
                        ['Order Completed', 'Product Viewed', 'Signed Up', 'Cart Abandoned', 'Subscription Renewed'][1 + bitShiftRight(h, 36) % 5],
                        '","properties":{"revenue":', toString((bitShiftRight(h, 40) % 50000) / 100),
                        ',"currency":"EUR","sku":"SKU-', leftPad(toString(bitShiftRight(h, 44) % 100000), 6, '0'), '"}')) AS body
            SELECT
                id,
                concat(
                    '{"messageId":"', id, '",', who, ',', body,
                    ',"context":{"ip":"10.', toString(bitShiftRight(h, 8) % 256), '.', toString(bitShiftRight(h, 16) % 256), '.', toString(bitShiftRight(h, 50) % 256),
                    '","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",',
                    '"library":{"name":"analytics-node","version":"6.2.0"}',
                    if(bitShiftRight(h, 58) % 20 = 0, ',"hidden":true', ''),
                    '},"timestamp":"', timestamp, '"}'),
                {workspaces:Array(String)}[1 + intDiv(number, {per_workspace:UInt64})],
                now64(3)
            FROM numbers({rows:UInt64})
            """)
            .With("workspaces", "Array(String)", workspaceIds.Select(EventSql.WorkspaceIdText).ToArray())
            .With("per_workspace", "UInt64", (ulong)perWorkspace)
            .With("rows", "UInt64", (ulong)(perWorkspace * workspaceIds.Count))
            .WithSettings(EventSql.InsertSettings)
            // Blocks of 64k rows (~35 MB of messages) keep generation's memory small; the parts merge afterwards.
            .WithSetting("max_block_size", "65536")
            .WithSetting("min_insert_block_size_rows", "65536")
            .For("bench: generate events");
}
