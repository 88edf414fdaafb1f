namespace Coldstore.ClickHouse.Chdb.Native;

/// <summary>
/// Keeps the .NET runtime's handlers for deadly signals in place around the chDB calls that replace them.
/// </summary>
/// <remarks>
/// Why: .NET turns a SIGSEGV in managed code into <see cref="NullReferenceException"/>, so its SIGSEGV (and
/// SIGFPE, SIGBUS, SIGILL) handlers must stay installed. chDB, left alone, installs its own crash handlers at
/// connect; those log a stack trace and then kill or stall the process, so an ordinary null dereference
/// anywhere in the host would become a crash. Opting out with <c>chdb_set_signal_handlers_enabled(0)</c>
/// stops that, but the same call (and each <c>chdb_connect</c> made after it) resets every deadly signal to
/// SIG_DFL, which would kill the process on the next null dereference instead. So each such call is
/// bracketed: snapshot the host's dispositions, call, restore them. Signal dispositions are process-wide,
/// so for the few microseconds between chDB's reset and our restore another thread's null dereference would
/// still be fatal; connections are opened rarely (once per client) to keep that window small.
/// </remarks>
internal static unsafe class HostSignalHandlers
{
    // Linux x86-64 numbers of the signals chDB resets: SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV,
    // SIGTSTP, SIGSYS.
    private static readonly int[] GuardedSignals = [4, 5, 6, 7, 8, 11, 20, 31];

    // glibc's struct sigaction is 152 bytes on x86-64; a larger opaque buffer is safe on every libc.
    private const int SigActionBufferSize = 256;

    private static readonly Lock Gate = new();

    /// <summary>Runs <paramref name="call"/> and then puts back whatever handlers the host had before it.</summary>
    public static T Preserve<T>(Func<T> call)
    {
        lock (Gate)
        {
            var saved = new byte[GuardedSignals.Length * SigActionBufferSize];
            fixed (byte* buffer = saved)
            {
                for (var i = 0; i < GuardedSignals.Length; i++)
                {
                    Check(LibC.SigAction(GuardedSignals[i], null, buffer + (i * SigActionBufferSize)), "read");
                }

                try
                {
                    return call();
                }
                finally
                {
                    for (var i = 0; i < GuardedSignals.Length; i++)
                    {
                        Check(LibC.SigAction(GuardedSignals[i], buffer + (i * SigActionBufferSize), null), "restore");
                    }
                }
            }
        }
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new InvalidOperationException(
                $"Could not {what} a signal handler around chDB (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }
    }
}
