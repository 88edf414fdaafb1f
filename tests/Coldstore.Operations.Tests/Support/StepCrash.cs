using Coldstore.Services;

namespace Coldstore.Operations.Tests.Support;

/// <summary>An operation that stops dead after a step: its step hook throws once, so no later line of it runs.</summary>
public static class StepCrash
{
    /// <summary><paramref name="options"/> whose step hook throws <see cref="SimulatedCrashException"/> once, right after <paramref name="step"/>.</summary>
    public static ColdstoreOptions After(ColdstoreOptions options, string step)
    {
        ArgumentNullException.ThrowIfNull(options);
        var crashed = 0;
        return options with
        {
            StepCompleted = completed =>
            {
                if (completed == step && Interlocked.Exchange(ref crashed, 1) == 0)
                {
                    throw new SimulatedCrashException(step);
                }
            },
        };
    }
}

/// <summary>What <see cref="StepCrash"/> throws.</summary>
public sealed class SimulatedCrashException(string step) : Exception($"Simulated crash after {step}");
