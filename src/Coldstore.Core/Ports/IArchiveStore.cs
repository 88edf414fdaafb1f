namespace Coldstore.Ports;

/// <summary>An object in the archive store.</summary>
/// <param name="Key">The key relative to the store's root (forward slashes, no leading slash).</param>
/// <param name="Size">Its size in bytes.</param>
public sealed record ArchiveObject(string Key, long Size);

/// <summary>
/// A ClickHouse table-function expression (<c>s3(…)</c> or <c>file(…)</c>) that reads or writes objects of an
/// archive store, with the parameters its placeholders need. Splice <see cref="Sql"/> into a statement and add
/// <see cref="Parameters"/> to the query; secrets travel only as parameters marked secret, or stay inside a
/// ClickHouse named collection.
/// </summary>
/// <param name="Sql">The expression, e.g. <c>s3({cs_url:String}, 'Parquet')</c>.</param>
/// <param name="Parameters">The parameters the expression references.</param>
/// <param name="WriteSettings">
/// Settings an <c>INSERT INTO FUNCTION</c> through this expression needs so that a rerun replaces the same
/// objects instead of failing or adding files (e.g. <c>s3_truncate_on_insert = 1</c>).
/// </param>
public sealed record TableFunctionExpression(
    string Sql,
    IReadOnlyList<ClickHouseParameter> Parameters,
    IReadOnlyDictionary<string, string> WriteSettings)
{
    /// <summary>
    /// Settings every statement that reads or writes through this expression carries, whatever it does: for S3 the
    /// connect and idle timeouts and bounded retry counts that make an outage fail the statement within the store's
    /// bound instead of ClickHouse retrying for most of an hour. Empty for stores that need none (a local directory).
    /// </summary>
    public IReadOnlyDictionary<string, string> AccessSettings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// The archive-store port: where cold objects live. Data objects are written and read by ClickHouse through
/// the table-function expressions this port produces; Coldstore itself only moves small objects (manifests)
/// and lists or deletes keys.
/// </summary>
public interface IArchiveStore
{
    /// <summary>A human description of the store, free of credentials (e.g. "s3://bucket/prefix at http://localhost:9000").</summary>
    string Description { get; }

    /// <summary>Lists every object whose key starts with <paramref name="prefix"/>, with sizes, ordered by key.</summary>
    Task<IReadOnlyList<ArchiveObject>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Reads a small object whole, or returns null when it does not exist.</summary>
    Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Writes (or replaces) a small object whole; readers see the old or the new content, never a part.</summary>
    Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>Deletes every object whose key starts with <paramref name="prefix"/>; returns how many were deleted. Idempotent.</summary>
    Task<int> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>
    /// The table-function expression through which ClickHouse reads or writes objects at <paramref name="keyPattern"/>
    /// (a key, or a key with ClickHouse globs such as <c>*</c>, or <c>{_partition_id}</c> when writing partitioned).
    /// </summary>
    /// <param name="keyPattern">The key or pattern relative to the store's root.</param>
    /// <param name="format">The ClickHouse format name, e.g. <c>Parquet</c>.</param>
    /// <param name="parameterPrefix">A prefix for placeholder names so several expressions can share one query.</param>
    /// <param name="columns">
    /// For reads: the columns and types to read (<c>a String, b DateTime64(3)</c>), so nothing depends on the server's
    /// schema inference (24.12 infers Nullable columns from Parquet, and then <c>sum()</c> over no rows is NULL).
    /// Letters, digits, spaces, commas, parentheses and underscores only. Null for writes.
    /// </param>
    TableFunctionExpression TableFunction(string keyPattern, string format, string parameterPrefix = "store", string? columns = null);
}
