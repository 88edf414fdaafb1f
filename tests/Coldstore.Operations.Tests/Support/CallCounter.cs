using System.Reflection;

namespace Coldstore.Operations.Tests.Support;

/// <summary>Counts the calls of an interface's methods (not its properties) and forwards them.</summary>
#pragma warning disable CA1852 // DispatchProxy needs an unsealed class with a public constructor.
public class CallCounter : DispatchProxy
#pragma warning restore CA1852
{
    private object? _inner;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public static T Wrap<T>(T inner, out CallCounter counter)
        where T : class
    {
        var proxy = Create<T, CallCounter>();
        counter = (CallCounter)(object)proxy;
        counter._inner = inner;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (!targetMethod.IsSpecialName && targetMethod.Name != nameof(IAsyncDisposable.DisposeAsync))
        {
            Interlocked.Increment(ref _count);
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }
}
