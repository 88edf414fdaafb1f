using System.Runtime.InteropServices;

namespace Coldstore.ClickHouse.Chdb.Native;

/// <summary>Owns a <c>chdb_connection*</c> from <c>chdb_connect</c>; releasing it closes the connection.</summary>
internal sealed class ChdbConnectionHandle : SafeHandle
{
    public ChdbConnectionHandle(nint connectionPointer) : base(nint.Zero, ownsHandle: true) => SetHandle(connectionPointer);

    public override bool IsInvalid => handle == nint.Zero;

    /// <summary>The <c>chdb_connection</c> the query functions take: the value the handle points at.</summary>
    public unsafe nint Connection => *(nint*)handle;

    protected override bool ReleaseHandle()
    {
        ChdbNative.CloseConnection(handle);
        return true;
    }
}

/// <summary>Owns a <c>chdb_result*</c>; releasing it calls <c>chdb_destroy_query_result</c>.</summary>
internal sealed class ChdbResultHandle : SafeHandle
{
    public ChdbResultHandle(nint result) : base(nint.Zero, ownsHandle: true) => SetHandle(result);

    public override bool IsInvalid => handle == nint.Zero;

    /// <summary>The engine's error text, or null when the statement succeeded.</summary>
    public unsafe string? Error => ChdbNative.ReadString(ChdbNative.ResultError(handle));

    /// <summary>The output bytes, valid until the handle is disposed.</summary>
    public unsafe ReadOnlySpan<byte> Buffer
    {
        get
        {
            var length = checked((int)ChdbNative.ResultLength(handle));
            var buffer = ChdbNative.ResultBuffer(handle);
            return buffer is null || length == 0 ? [] : new ReadOnlySpan<byte>(buffer, length);
        }
    }

    public ulong RowsWritten => ChdbNative.ResultRowsWritten(handle);

    public ulong RowsRead => ChdbNative.ResultRowsRead(handle);

    public ulong BytesRead => ChdbNative.ResultBytesRead(handle);

    public ulong BytesWritten => ChdbNative.ResultBytesWritten(handle);

    public double ElapsedSeconds => ChdbNative.ResultElapsedSeconds(handle);

    protected override bool ReleaseHandle()
    {
        ChdbNative.DestroyResult(handle);
        return true;
    }
}

/// <summary>Owns a <c>chdb_insert_stream</c>; releasing it destroys the stream (cancelling it if not committed).</summary>
internal sealed class ChdbInsertStreamHandle : SafeHandle
{
    public ChdbInsertStreamHandle(nint stream) : base(nint.Zero, ownsHandle: true) => SetHandle(stream);

    public override bool IsInvalid => handle == nint.Zero;

    public unsafe string? Error => ChdbNative.ReadString(ChdbNative.InsertStreamError(handle));

    protected override bool ReleaseHandle()
    {
        ChdbNative.DestroyInsertStream(handle);
        return true;
    }
}
