using System.Diagnostics;
using Coldstore.Errors;
using Coldstore.Services;

namespace Coldstore;

/// <summary>
/// Fault injection for proving crash safety: with <c>COLDSTORE_FAILPOINT=&lt;step&gt;</c> the process kills itself
/// (SIGKILL, no cleanup, no flushing) right after the named step completes. Step names are in <see cref="Steps.All"/>.
/// Opt-in: nothing in the library's default path reads the variable; the CLI does, through <see cref="FromEnvironment"/>.
/// </summary>
public static class Failpoints
{
    /// <summary>The environment variable naming the step to die after.</summary>
    public const string Variable = "COLDSTORE_FAILPOINT";

    /// <summary>The step hook <c>COLDSTORE_FAILPOINT</c> asks for, or null when it is not set.</summary>
    /// <exception cref="ConfigurationException">The value names no step.</exception>
    public static Action<string>? FromEnvironment() => FromValue(Environment.GetEnvironmentVariable(Variable));

    /// <summary>The step hook for the given failpoint value, or null when none is set.</summary>
    /// <exception cref="ConfigurationException">The value names no step.</exception>
    public static Action<string>? FromValue(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var step = value.Trim();
        if (!Steps.All.Contains(step))
        {
            throw new ConfigurationException(Variable, $"{Variable}='{step}' names no step; use one of: {string.Join(", ", Steps.All)}.");
        }

        return completed =>
        {
            if (completed == step)
            {
                // Kill, not Exit: a real crash runs no finally blocks, disposals or flushes, and neither must this.
                Process.GetCurrentProcess().Kill();
                Thread.Sleep(Timeout.Infinite);
            }
        };
    }
}
