using System.Runtime.InteropServices;

namespace Coldstore.ClickHouse.Chdb.Native;

/// <summary>
/// The subset of chDB's C API (chdb.h, 26.7) that Coldstore uses. Every entry point is resolved through
/// <see cref="ChdbLibrary"/>, which must have run <see cref="ChdbLibrary.EnsureLoaded"/> first.
/// </summary>
/// <remarks>
/// Pointers stay raw (<see cref="nint"/>) rather than SafeHandles here: ownership is taken one level up
/// (<see cref="ChdbResultHandle"/>, <see cref="ChdbInsertStreamHandle"/>, <see cref="ChdbConnectionHandle"/>)
/// immediately after each call, so the rules for who frees what live in one place.
/// </remarks>
internal static unsafe partial class ChdbNative
{
    internal const string LibraryName = "chdb";

    /// <summary>Returns a pointer to a connection handle (a <c>chdb_connection*</c>), or null on failure.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_connect")]
    internal static partial nint Connect(int argc, byte** argv);

    /// <summary>Closes the connection; closing the last one shuts the engine down.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_close_conn")]
    internal static partial void CloseConnection(nint connectionPointer);

    [LibraryImport(LibraryName, EntryPoint = "chdb_query_n")]
    internal static partial nint Query(nint connection, byte* query, nuint queryLength, byte* format, nuint formatLength);

    [LibraryImport(LibraryName, EntryPoint = "chdb_query_with_params_n")]
    internal static partial nint QueryWithParameters(
        nint connection,
        byte* query,
        nuint queryLength,
        byte* format,
        nuint formatLength,
        byte** names,
        nuint* nameLengths,
        byte** values,
        nuint* valueLengths,
        nuint count);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_buffer")]
    internal static partial byte* ResultBuffer(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_length")]
    internal static partial nuint ResultLength(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_error")]
    internal static partial byte* ResultError(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_rows_written")]
    internal static partial ulong ResultRowsWritten(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_rows_read")]
    internal static partial ulong ResultRowsRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_bytes_read")]
    internal static partial ulong ResultBytesRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_bytes_written")]
    internal static partial ulong ResultBytesWritten(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_elapsed")]
    internal static partial double ResultElapsedSeconds(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_destroy_query_result")]
    internal static partial void DestroyResult(nint result);

    /// <summary>Begins a streaming INSERT; never returns null (check <see cref="InsertStreamError"/>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_insert_n")]
    internal static partial nint StreamInsert(nint connection, byte* query, nuint queryLength, byte* format, nuint formatLength);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_insert_with_params_n")]
    internal static partial nint StreamInsertWithParameters(
        nint connection,
        byte* query,
        nuint queryLength,
        byte* format,
        nuint formatLength,
        byte** names,
        nuint* nameLengths,
        byte** values,
        nuint* valueLengths,
        nuint count);

    /// <summary>Appends a chunk of encoded rows; returns 0 on success.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_append")]
    internal static partial int StreamAppend(nint stream, byte* data, nuint length);

    /// <summary>Commits the insert; the returned result must be destroyed.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_done")]
    internal static partial nint StreamDone(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_insert_error")]
    internal static partial byte* InsertStreamError(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_cancel_insert")]
    internal static partial void CancelInsertStream(nint stream);

    /// <summary>Frees the stream, cancelling it first if it was not finalized.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_destroy_insert_stream")]
    internal static partial void DestroyInsertStream(nint stream);

    /// <summary>Sets whether the engine installs its own deadly-signal handlers; 0 also resets them to SIG_DFL.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_set_signal_handlers_enabled")]
    internal static partial void SetSignalHandlersEnabled(int enabled);

    /// <summary>Stops the engine; refuses (non-zero) while a connection is open.</summary>
    [LibraryImport(LibraryName, EntryPoint = "chdb_shutdown")]
    internal static partial int Shutdown();

    [LibraryImport(LibraryName, EntryPoint = "chdb_version")]
    internal static partial byte* Version();

    /// <summary>Reads a NUL-terminated UTF-8 string owned by the engine, or null for a null pointer.</summary>
    internal static string? ReadString(byte* text) =>
        text is null ? null : Marshal.PtrToStringUTF8((nint)text);
}

/// <summary>The C library's <c>sigaction</c>, used to keep .NET's own signal handlers in place around chDB.</summary>
internal static unsafe partial class LibC
{
    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    internal static partial int SigAction(int signal, byte* newAction, byte* oldAction);
}
