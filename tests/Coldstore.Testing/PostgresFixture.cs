using System.Collections.Concurrent;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// An xunit class fixture (<c>IClassFixture&lt;PostgresFixture&gt;</c>): gives the test class its own schema and can
/// make more (for example one per test); drops them all when the class is done. Fails, never skips, when the test
/// server is missing.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private readonly ConcurrentBag<PostgresSchema> _schemas = [];
    private PostgresSchema? _schema;

    /// <summary>The class's schema.</summary>
    public PostgresSchema Schema => _schema ?? throw new InvalidOperationException("The fixture is not initialised yet.");

    /// <summary>A connection string scoped to the class's schema (its search path).</summary>
    public string ConnectionString => Schema.ConnectionString;

    /// <summary>Another unique schema, dropped with the fixture at the latest.</summary>
    public async Task<PostgresSchema> CreateSchemaAsync(string label, CancellationToken cancellationToken = default)
    {
        var schema = await PostgresTestServer.CreateSchemaAsync(label, cancellationToken).ConfigureAwait(false);
        _schemas.Add(schema);
        return schema;
    }

    /// <inheritdoc />
    public async Task InitializeAsync() => _schema = await CreateSchemaAsync("class").ConfigureAwait(false);

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (var schema in _schemas)
        {
            await schema.DisposeAsync().ConfigureAwait(false);
        }
    }
}
