namespace Coldstore.Events;

/// <summary>One Segment-style message ready to ingest: its id and its raw JSON, exactly as it will be stored.</summary>
/// <param name="MessageId">The <c>messageId</c>, stored as <c>message_id</c>.</param>
/// <param name="Raw">The whole message, stored verbatim as <c>message_raw</c>.</param>
public sealed record SegmentMessage(string MessageId, string Raw);
