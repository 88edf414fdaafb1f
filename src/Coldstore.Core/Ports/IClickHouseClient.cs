namespace Coldstore.Ports;

/// <summary>
/// The ClickHouse port. Every statement Coldstore runs goes through it, so the same SQL runs on a server
/// (over HTTP) and on embedded chDB. Implementations serialize what their engine cannot run concurrently,
/// turn engine errors into <see cref="Errors.ClickHouseException"/>, and never log parameter values
/// marked secret.
/// </summary>
public interface IClickHouseClient : IAsyncDisposable
{
    /// <summary>A human description of the engine and where it is, free of credentials (e.g. "chDB 26.7.3 at /data").</summary>
    string Description { get; }

    /// <summary>Runs a statement that returns no rows (DDL, INSERT … SELECT, DELETE).</summary>
    Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default);

    /// <summary>Runs a query and returns all its rows. Meant for small results: data never flows through .NET in bulk.</summary>
    Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default);

    /// <summary>Runs a query and returns the first column of its first row, or null when it returned no rows.</summary>
    Task<object?> ScalarAsync(ClickHouseQuery query, CancellationToken cancellationToken = default);
}
