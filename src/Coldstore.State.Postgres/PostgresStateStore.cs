using Coldstore.Errors;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Coldstore.State.Postgres;

/// <summary>Creates the Postgres <see cref="IStateStore"/>: Dittofeed's own database, or any Postgres 15+.</summary>
public static class PostgresStateStore
{
    /// <summary>
    /// Creates a store over the database named by an Npgsql connection string. Does not connect: the first call
    /// does, and throws <see cref="EngineUnavailableException"/> (setting <c>COLDSTORE_STATE</c>) if the server
    /// cannot be used. Tables are found through the connection's search path (<c>Search Path=...</c>).
    /// </summary>
    /// <param name="connectionString">An Npgsql connection string, e.g. <c>Host=db;Port=5432;Database=dittofeed;Username=coldstore;Password=...</c>.</param>
    /// <param name="loggerFactory">Where to log; null for no logging.</param>
    /// <exception cref="ConfigurationException">The connection string is empty or malformed; the message never quotes it.</exception>
    public static IStateStore Create(string connectionString, ILoggerFactory? loggerFactory = null)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ConfigurationException(PostgresErrors.Setting,
                $"{PostgresErrors.Setting} is empty; expected an Npgsql connection string such as Host=localhost;Port=5432;Database=dittofeed;Username=postgres;Password=...");
        }

        NpgsqlConnectionStringBuilder settings;
        try
        {
            settings = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            // The builder's messages name the bad keyword, not the values, so they are safe to show.
            throw new ConfigurationException(PostgresErrors.Setting,
                $"{PostgresErrors.Setting} is not a valid Npgsql connection string: {e.Message}", e);
        }

        if (string.IsNullOrWhiteSpace(settings.Host))
        {
            throw new ConfigurationException(PostgresErrors.Setting,
                $"{PostgresErrors.Setting} names no Host; expected e.g. Host=localhost;Port=5432;Database=dittofeed;Username=postgres");
        }

        return new PostgresStore(settings, loggerFactory ?? NullLoggerFactory.Instance);
    }
}
