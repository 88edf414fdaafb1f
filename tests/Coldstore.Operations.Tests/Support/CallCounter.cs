using System.Collections.Concurrent;
using System.Reflection;
using Coldstore.Ports;

namespace Coldstore.Operations.Tests.Support;

/// <summary>Counts the calls of an interface's methods (not its properties) and forwards them.</summary>
#pragma warning disable CA1852 // DispatchProxy needs an unsealed class with a public constructor.
public class CallCounter : DispatchProxy
#pragma warning restore CA1852
{
    private readonly ConcurrentDictionary<string, int> _byMethod = new(StringComparer.Ordinal);
    private object? _inner;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>How many times the method of that name was called.</summary>
    public int CountOf(string method) => _byMethod.GetValueOrDefault(method);

    public static T Wrap<T>(T inner, out CallCounter counter)
        where T : class
    {
        var proxy = Create<T, CallCounter>();
        counter = (CallCounter)(object)proxy;
        counter._inner = inner;
        return proxy;
    }

    /// <summary>
    /// A counted state store that still tells its changes when <paramref name="inner"/> does (a proxy implements only
    /// the interface it is made for, so a store with a change feed is wrapped as both).
    /// </summary>
    public static IStateStore WrapState(IStateStore inner, out CallCounter counter)
    {
        if (inner is not IWorkspaceChangeFeed)
        {
            return Wrap(inner, out counter);
        }

        // The interface methods are invoked on the store itself, which implements both.
        var proxy = Create<INotifyingStateStore, CallCounter>();
        counter = (CallCounter)(object)proxy;
        counter._inner = inner;
        return proxy;
    }

    /// <summary>A state store with a change feed, as one interface a proxy can implement.</summary>
    public interface INotifyingStateStore : IStateStore, IWorkspaceChangeFeed;

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (!targetMethod.IsSpecialName && targetMethod.Name != nameof(IAsyncDisposable.DisposeAsync))
        {
            Interlocked.Increment(ref _count);
            _byMethod.AddOrUpdate(targetMethod.Name, 1, (_, n) => n + 1);
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
