using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Coldstore.ClickHouse.Chdb.Native;
using Coldstore.Configuration;
using Coldstore.Errors;
using Coldstore.Ports;
using Coldstore.Sql;
using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Chdb;

/// <summary>
/// <see cref="IClickHouseClient"/> over one chDB connection. Calls are serialized: each waits for the
/// previous one (the wait honours its <see cref="CancellationToken"/>), but a statement that has reached
/// the engine runs to completion, because chDB cannot interrupt a running call.
/// </summary>
/// <remarks>
/// Per-query settings are applied as <c>SET name = 'value', …</c> on the connection right before the
/// statement and put back with <c>SET name = DEFAULT, …</c> right after it, inside the same turn so no other
/// call sees them. Why not append a <c>SETTINGS</c> clause: where it goes depends on the statement
/// (<c>INSERT INTO t SETTINGS … SELECT</c> versus after the SELECT, after the WHERE of a DELETE, nowhere in
/// some ALTERs, and it clashes with a SETTINGS clause already in the text), whereas SET behaves the same for
/// SELECT, INSERT … SELECT, INSERT INTO FUNCTION, DELETE and ALTER. It costs two extra calls of ~2 ms.
/// </remarks>
internal sealed partial class ChdbClient : IClickHouseClient
{
    private readonly ChdbConnection _connection;
    private readonly string _sessionTimeZone;
    private readonly ServerProfile _profile;
    private readonly ILogger _logger;

    private ChdbClient(ChdbConnection connection, string sessionTimeZone, ServerProfile profile, ILogger logger)
    {
        _connection = connection;
        _sessionTimeZone = sessionTimeZone;
        _profile = profile;
        _logger = logger;
    }

    /// <inheritdoc />
    public string Description => $"chDB {_connection.Engine.Version} at {_connection.Engine.DataDirectory}";

    /// <summary>Opens a connection on the engine and learns its session time zone and its server profile.</summary>
    /// <remarks>
    /// The embedded engine is one known release (26.7), but its statements go through the same
    /// <see cref="ServerProfile"/> as a server's, learned the same way: both engine sets then send the same settings
    /// for the same release, the mapping runs under every embedded test too, and a libchdb.so of another release
    /// (COLDSTORE_LIBCHDB) is handled as a server of that release would be.
    /// </remarks>
    /// <exception cref="ConfigurationException">The engine's release is one Coldstore does not support.</exception>
    public static ChdbClient Open(ChdbEngine engine, ILogger logger)
    {
        var connection = engine.Connect();
        try
        {
            // The zone ClickHouse reads and writes date-times in when a type names none.
            using var result = connection.Query("SELECT timezone()", "TabSeparatedRaw", []);
            var zone = result.Error is null ? Encoding.UTF8.GetString(result.Buffer).Trim() : "UTC";
            zone = zone.Length == 0 ? "UTC" : zone;
            var profile = LearnProfile(connection, zone);
            if (profile.Problem($"chDB at {engine.DataDirectory}") is { } problem)
            {
                throw new ConfigurationException(ColdstoreSettings.ClickHouseVariable, problem);
            }

            logger.ConnectionOpened(engine.Version, engine.DataDirectory);
            return new ChdbClient(connection, zone, profile, logger);
        }
        catch
        {
            connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    /// <summary>Runs <see cref="ServerProfile.Probe"/> on a connection that is not yet shared.</summary>
    private static ServerProfile LearnProfile(ChdbConnection connection, string zone)
    {
        var probe = ServerProfile.Probe();
        var parameters = probe.Parameters.Select(p => KeyValuePair.Create(p.Name, ChdbParameterFormatter.Format(p.Value, p.Type, zone))).ToArray();
        using var answer = connection.Query(probe.Sql, ChdbResultReader.Format, parameters);
        if (answer.Error is { } error)
        {
            throw ChdbErrors.FromEngineText(error, probe, []);
        }

        return ServerProfile.FromProbe(ChdbResultReader.Read(answer.Buffer, zone).Single());
    }

    /// <inheritdoc />
    public Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, "Null", static (_, _) => 0, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, ChdbResultReader.Format, ChdbResultReader.Read, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<object?> ScalarAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        var rows = await QueryAsync(query, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 || rows[0].FieldCount == 0 ? null : rows[0][0];
    }

    /// <inheritdoc />
    public Task InsertAsync(ClickHouseQuery insert, string format, Stream data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(insert);
        ArgumentException.ThrowIfNullOrWhiteSpace(format);
        ArgumentNullException.ThrowIfNull(data);
        insert = _profile.Apply(insert);
        var parameters = BindParameters(insert);
        return _connection.RunAsync(connection =>
        {
            var stopwatch = Stopwatch.StartNew();
            using var settings = ApplySettings(connection, insert);
            using var stream = connection.BeginInsert(insert.Sql, format, parameters);
            ThrowIfFailed(stream.Error, insert);

            var buffer = new byte[1 << 20];
            int read;
            while ((read = data.Read(buffer)) > 0)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    // Blocks already appended may have been committed (ClickHouse has no rollback); the rest is dropped.
                    ChdbNative.CancelInsertStream(stream.DangerousGetHandle());
                    cancellationToken.ThrowIfCancellationRequested();
                }

                if (Append(stream, buffer.AsSpan(0, read)) != 0)
                {
                    ThrowIfFailed(stream.Error ?? "chDB refused the inserted data without saying why.", insert);
                }
            }

            using var result = new ChdbResultHandle(ChdbNative.StreamDone(stream.DangerousGetHandle()));
            ThrowIfFailed(result.IsInvalid ? stream.Error ?? "chDB did not commit the insert." : result.Error, insert);
            _logger.InsertCompleted(result.RowsWritten, insert.Purpose ?? "insert", stopwatch.Elapsed.TotalMilliseconds);
            return 0;
        }, cancellationToken);
    }

    /// <summary>Closes the connection after any running statement finished.</summary>
    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private static unsafe int Append(ChdbInsertStreamHandle stream, ReadOnlySpan<byte> chunk)
    {
        fixed (byte* data = chunk)
        {
            return ChdbNative.StreamAppend(stream.DangerousGetHandle(), data, (nuint)chunk.Length);
        }
    }

    private Task<T> RunAsync<T>(ClickHouseQuery query, string format, Func<ReadOnlySpan<byte>, string, T> read, CancellationToken cancellationToken)
    {
        // Only settings this release has, with the equivalents it needs (see ServerProfile).
        query = _profile.Apply(query);
        var parameters = BindParameters(query);
        var sessionTimeZone = query.Settings.TryGetValue("session_timezone", out var zone) && zone.Length > 0 ? zone : _sessionTimeZone;
        return _connection.RunAsync(connection =>
        {
            var stopwatch = Stopwatch.StartNew();
            using var settings = ApplySettings(connection, query);
            using var result = connection.Query(query.Sql, format, parameters);
            ThrowIfFailed(result.Error, query);
            var value = read(result.Buffer, sessionTimeZone);
            _logger.StatementCompleted(query.Purpose ?? "a statement", stopwatch.Elapsed.TotalMilliseconds);
            return value;
        }, cancellationToken);
    }

    /// <summary>Formats every parameter for chDB; secrets stay in memory only as long as the call.</summary>
    private KeyValuePair<string, string>[] BindParameters(ClickHouseQuery query)
    {
        var sessionTimeZone = query.Settings.TryGetValue("session_timezone", out var zone) && zone.Length > 0 ? zone : _sessionTimeZone;
        return [.. query.Parameters.Select(parameter =>
        {
            try
            {
                return KeyValuePair.Create(parameter.Name, ChdbParameterFormatter.Format(parameter.Value, parameter.Type, sessionTimeZone));
            }
            catch (ArgumentException) when (parameter.IsSecret)
            {
                // The formatter's message may quote the value; say which parameter without it.
                throw new ArgumentException($"The secret parameter {{{parameter.Name}:{parameter.Type}}} cannot be bound (value withheld).", nameof(query), innerException: null);
            }
            catch (ArgumentException exception)
            {
                throw new ArgumentException($"Parameter {{{parameter.Name}:{parameter.Type}}}: {exception.Message}", nameof(query), exception);
            }
        })];
    }

    private void ThrowIfFailed(string? error, ClickHouseQuery query)
    {
        if (error is null)
        {
            return;
        }

        var secrets = query.Parameters
            .Where(parameter => parameter.IsSecret)
            .SelectMany(parameter => new[] { parameter.Value as string ?? string.Empty, SafeFormat(parameter) });
        var exception = ChdbErrors.FromEngineText(error, query, secrets);
        _logger.StatementFailed(query.Purpose ?? "a statement", exception.Code, exception.CodeName);
        throw exception;
    }

    private string SafeFormat(ClickHouseParameter parameter)
    {
        try
        {
            return ChdbParameterFormatter.Format(parameter.Value, parameter.Type, _sessionTimeZone);
        }
        catch (ArgumentException)
        {
            return string.Empty;
        }
    }

    /// <summary>Applies the query's settings to the connection; disposing the scope puts the defaults back.</summary>
    private SettingsScope ApplySettings(ChdbConnection connection, ClickHouseQuery query)
    {
        if (query.Settings.IsEmpty)
        {
            return new SettingsScope(this, connection, query, []);
        }

        var names = query.Settings.Keys.Order(StringComparer.Ordinal).ToArray();
        string set;
        try
        {
            set = SettingStatements.Set(names.Select(name => KeyValuePair.Create(name, query.Settings[name])));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(e.Message, nameof(query), e);
        }

        using (var result = connection.Query(set, "Null", []))
        {
            ThrowIfFailed(result.Error, query);
        }

        return new SettingsScope(this, connection, query, names);
    }

    /// <summary>Resets the settings a statement changed, even when the statement failed.</summary>
    private readonly struct SettingsScope(ChdbClient client, ChdbConnection connection, ClickHouseQuery query, string[] names) : IDisposable
    {
        public void Dispose()
        {
            if (names is not { Length: > 0 })
            {
                return;
            }

            using var result = connection.Query(SettingStatements.Reset(names), "Null", []);
            if (result.Error is { } error)
            {
                client._logger.SettingsNotReset(string.Join(", ", names), query.Purpose ?? "a statement",
                    new InvalidOperationException(error));
            }
        }
    }
}
