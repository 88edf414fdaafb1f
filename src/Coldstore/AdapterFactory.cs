using Coldstore.Archive.FileSystem;
using Coldstore.Archive.S3;
using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Http;
using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Microsoft.Extensions.Logging;

namespace Coldstore;

/// <summary>Turns each setting into its adapter. Kept apart from the runtime so the mapping reads as one table.</summary>
internal static class AdapterFactory
{
    public static IStateStore OpenState(StateTarget target, ILoggerFactory loggerFactory) => target switch
    {
        StateTarget.Sqlite sqlite => SqliteStateStore.Open(sqlite.Path, loggerFactory),
        StateTarget.Postgres postgres => PostgresStateStore.Create(postgres.ConnectionString, loggerFactory),
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, "Unknown state target."),
    };

    public static IClickHouseClient OpenClickHouse(ClickHouseTarget target, ILoggerFactory loggerFactory)
    {
        try
        {
            return target switch
            {
                ClickHouseTarget.Embedded embedded => ChdbClickHouseClient.Open(embedded.Directory, loggerFactory.CreateLogger("Coldstore.ClickHouse.Chdb")),
                ClickHouseTarget.Server server => HttpClickHouseClient.Create(server.Url, loggerFactory),
                _ => throw new ArgumentOutOfRangeException(nameof(target), target, "Unknown ClickHouse target."),
            };
        }
        catch (Exception e) when (e is DllNotFoundException or InvalidOperationException or IOException)
        {
            throw new EngineUnavailableException(ColdstoreSettings.ClickHouseVariable, $"{ColdstoreSettings.ClickHouseVariable}: {e.Message}", e);
        }
    }

    public static IArchiveStore OpenArchive(ColdstoreSettings settings, ILoggerFactory loggerFactory) => settings.Archive switch
    {
        ArchiveTarget.LocalDirectory local => FileSystemArchiveStore.Open(local.Path),
        ArchiveTarget.S3 s3 => S3ArchiveStore.Create(
            new S3ArchiveOptions
            {
                Bucket = s3.Bucket,
                Prefix = s3.Prefix,
                ServiceUrl = settings.S3Endpoint,
                ClickHouseEndpoint = settings.S3EndpointForClickHouse,
                NamedCollection = settings.S3NamedCollection,
                Region = settings.S3Region,
                OutageBound = settings.S3OutageBound,
            },
            loggerFactory),
        _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Archive, "Unknown archive target."),
    };

    /// <summary>Reaches ClickHouse and the state store once, so a wrong setting fails at start with the setting's name.</summary>
    public static async Task ProbeAsync(IClickHouseClient clickHouse, IStateStore state, CancellationToken cancellationToken)
    {
        try
        {
            await clickHouse.ScalarAsync(new ClickHouseQuery("SELECT 1").For("connectivity check"), cancellationToken).ConfigureAwait(false);
        }
        catch (ClickHouseException e) when (e.Code == 0 || e.IsTransient)
        {
            throw new EngineUnavailableException(ColdstoreSettings.ClickHouseVariable,
                $"{ColdstoreSettings.ClickHouseVariable}: cannot reach ClickHouse at {clickHouse.Description}: {e.EngineMessage}", e);
        }

        // Listing migrations reads the database, which proves it is reachable without changing anything.
        await state.AppliedMigrationsAsync(cancellationToken).ConfigureAwait(false);
    }
}
