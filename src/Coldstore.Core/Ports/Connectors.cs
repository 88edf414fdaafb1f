using Microsoft.Extensions.Logging;

namespace Coldstore.Ports;

/// <summary>
/// An adapter's validated settings, which open the adapter when the composition first needs it. Each adapter declares,
/// parses and validates its own settings and implements one of these; the core opens ports through them without
/// knowing which adapters exist.
/// </summary>
public interface IAdapterConnector
{
    /// <summary>Where the adapter points, without secrets (for logs, errors and <c>coldstore status</c>).</summary>
    string Description { get; }
}

/// <summary>Opens a ClickHouse client.</summary>
public interface IClickHouseConnector : IAdapterConnector
{
    /// <summary>Opens the client. Nothing is reached beyond what opening needs (a server is reached by the first statement).</summary>
    /// <param name="loggerFactory">The host's logging.</param>
    IClickHouseClient Connect(ILoggerFactory loggerFactory);
}

/// <summary>Opens a state store.</summary>
public interface IStateStoreConnector : IAdapterConnector
{
    /// <summary>Opens the store; it is created and migrated only by <c>init</c>.</summary>
    /// <param name="loggerFactory">The host's logging.</param>
    IStateStore Connect(ILoggerFactory loggerFactory);
}

/// <summary>Opens an archive store.</summary>
public interface IArchiveStoreConnector : IAdapterConnector
{
    /// <summary>Opens the store.</summary>
    /// <param name="loggerFactory">The host's logging.</param>
    IArchiveStore Connect(ILoggerFactory loggerFactory);
}
