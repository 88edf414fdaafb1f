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

    /// <summary>
    /// Streams rows encoded in a ClickHouse input format into an INSERT. Used for ingestion, where the
    /// events really do come from the client; archive and restore never use it.
    /// </summary>
    /// <param name="insert">The statement without FORMAT or data, e.g. <c>INSERT INTO db.t (a, b)</c>, with its settings.</param>
    /// <param name="format">The input format of <paramref name="data"/>, e.g. <c>JSONEachRow</c>.</param>
    /// <param name="data">The encoded rows; read to its end.</param>
    /// <param name="cancellationToken">Cancels the insert; rows already committed stay.</param>
    Task InsertAsync(ClickHouseQuery insert, string format, Stream data, CancellationToken cancellationToken = default);
}
