using System.Text;
using Coldstore.ClickHouse.Chdb.Native;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// One chDB connection. Runs one statement at a time: callers queue on a semaphore (cancellable while
/// waiting); once a native call has started it runs to the end, because chDB offers no way to interrupt
/// the call that is producing a result.
/// </summary>
internal sealed class ChdbConnection : IAsyncDisposable
{
    private readonly ChdbEngine _engine;
    private readonly ChdbConnectionHandle _handle;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private bool _closed;

    public ChdbConnection(ChdbEngine engine, ChdbConnectionHandle handle)
    {
        _engine = engine;
        _handle = handle;
    }

    public ChdbEngine Engine => _engine;

    /// <summary>
    /// Waits for this connection's turn, then runs <paramref name="work"/> on a thread of its own so a long
    /// statement does not hold a thread-pool thread. <paramref name="cancellationToken"/> cancels the wait
    /// and is checked once more just before the work starts.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<ChdbConnection, T> work, CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            cancellationToken.ThrowIfCancellationRequested();
            return await Task.Factory.StartNew(
                () => work(this),
                CancellationToken.None,
                TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach,
                TaskScheduler.Default).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Runs one statement with bound parameters and returns its result, which the caller disposes.</summary>
    /// <param name="sql">The statement.</param>
    /// <param name="format">The output format, e.g. <c>JSONCompact</c>.</param>
    /// <param name="parameters">Placeholder names and their values already in ClickHouse's escaped text form.</param>
    public unsafe ChdbResultHandle Query(string sql, string format, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        var sqlBytes = Encoding.UTF8.GetBytes(sql);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        nint result;
        fixed (byte* sqlPointer = sqlBytes)
        fixed (byte* formatPointer = formatBytes)
        {
            if (parameters.Count == 0)
            {
                result = ChdbNative.Query(_handle.Connection, sqlPointer, (nuint)sqlBytes.Length, formatPointer, (nuint)formatBytes.Length);
            }
            else
            {
                using var names = new NativeUtf8Strings([.. parameters.Select(p => p.Key)]);
                using var values = new NativeUtf8Strings([.. parameters.Select(p => p.Value)]);
                result = ChdbNative.QueryWithParameters(
                    _handle.Connection, sqlPointer, (nuint)sqlBytes.Length, formatPointer, (nuint)formatBytes.Length,
                    names.Pointers, names.Lengths, values.Pointers, values.Lengths, names.Count);
            }
        }

        return result == nint.Zero
            ? throw new InvalidOperationException("chDB returned no result for a statement (the connection may be closed).")
            : new ChdbResultHandle(result);
    }

    /// <summary>Begins a streaming INSERT; the caller appends, commits and disposes the stream.</summary>
    public unsafe ChdbInsertStreamHandle BeginInsert(string insert, string format, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        var sqlBytes = Encoding.UTF8.GetBytes(insert);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        nint stream;
        fixed (byte* sqlPointer = sqlBytes)
        fixed (byte* formatPointer = formatBytes)
        {
            if (parameters.Count == 0)
            {
                stream = ChdbNative.StreamInsert(_handle.Connection, sqlPointer, (nuint)sqlBytes.Length, formatPointer, (nuint)formatBytes.Length);
            }
            else
            {
                using var names = new NativeUtf8Strings([.. parameters.Select(p => p.Key)]);
                using var values = new NativeUtf8Strings([.. parameters.Select(p => p.Value)]);
                stream = ChdbNative.StreamInsertWithParameters(
                    _handle.Connection, sqlPointer, (nuint)sqlBytes.Length, formatPointer, (nuint)formatBytes.Length,
                    names.Pointers, names.Lengths, values.Pointers, values.Lengths, names.Count);
            }
        }

        return stream == nint.Zero
            ? throw new InvalidOperationException("chDB returned no insert stream (the connection may be closed).")
            : new ChdbInsertStreamHandle(stream);
    }

    /// <summary>Waits for any running statement, then closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            Close();
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Closes the connection if it is not running a statement; used at process exit.</summary>
    internal bool TryCloseIdle()
    {
        if (!_turn.Wait(0))
        {
            return false;
        }

        try
        {
            Close();
            return true;
        }
        finally
        {
            _turn.Release();
        }
    }

    private void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _handle.Dispose();
        _engine.Forget(this);
    }
}
