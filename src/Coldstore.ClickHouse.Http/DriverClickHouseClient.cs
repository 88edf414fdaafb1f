using System.Collections.Frozen;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.ADO.Readers;
using Coldstore.Errors;
using Coldstore.Ports;
using IClickHouseClient = Coldstore.Ports.IClickHouseClient;
using Microsoft.Extensions.Logging;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// <see cref="IClickHouseClient"/> over ClickHouse.Driver's HTTP client. One instance holds one connection
/// pool and is safe to share: the server runs statements concurrently, so nothing is serialized here.
/// </summary>
internal sealed partial class DriverClickHouseClient : IClickHouseClient
{
    private readonly ClickHouseHttpOptions _options;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly ClickHouseClient _driver;
    private int _disposed;

    public DriverClickHouseClient(ClickHouseHttpOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options;
        _logger = logger;

        // Our own HttpClient, so the capture handler can read each response's status and
        // X-ClickHouse-Exception-Code header (the driver's exception keeps only the body), and so the
        // timeout is ours. The driver decodes compressed responses itself, hence no automatic decompression.
        var sockets = new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.Timeout < TimeSpan.FromSeconds(30) ? options.Timeout : TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(new ResponseCaptureHandler(sockets), disposeHandler: true) { Timeout = options.Timeout };

        _driver = new ClickHouseClient(new ClickHouseClientSettings
        {
            Protocol = options.Scheme,
            Host = options.Host,
            Port = checked((ushort)options.Port),
            Username = options.User,
            Password = options.Password,
            Database = options.Database,
            UseCompression = options.Compression,
            // Parameters go in the multipart POST body instead of the URL: URLs end up in proxy and
            // access logs, and secret parameters (credentials for s3()) must not.
            UseFormDataParameters = true,
            Timeout = options.Timeout,
            HttpClient = _http,
            // No LoggerFactory on purpose: the driver logs its exceptions, whose message is the raw server
            // text, and that can quote a secret parameter back. We log our redacted exceptions instead.
        });
    }

    /// <inheritdoc />
    public string Description => _options.Description;

    /// <inheritdoc />
    public Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, async ct =>
        {
            await _driver.ExecuteNonQueryAsync(query.Sql, ToDriverParameters(query), ToDriverOptions(query), ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync<IReadOnlyList<ClickHouseRow>>(query, async ct =>
        {
            using var reader = await _driver.ExecuteReaderAsync(query.Sql, ToDriverParameters(query), ToDriverOptions(query), ct).ConfigureAwait(false);
            var ordinals = Ordinals(reader);
            var rows = new List<ClickHouseRow>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var values = new object?[reader.FieldCount];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = ReadValue(reader, i);
                }

                rows.Add(new ClickHouseRow(ordinals, values));
            }

            return rows;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<object?> ScalarAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, async ct =>
        {
            using var reader = await _driver.ExecuteReaderAsync(query.Sql, ToDriverParameters(query), ToDriverOptions(query), ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) && reader.FieldCount > 0 ? ReadValue(reader, 0) : null;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task InsertAsync(ClickHouseQuery insert, string format, Stream data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(insert);
        ArgumentNullException.ThrowIfNull(data);
        if (string.IsNullOrEmpty(format) || !FormatPattern().IsMatch(format))
        {
            throw new ArgumentException($"'{format}' is not a ClickHouse input format name (letters, digits and underscores, e.g. JSONEachRow).", nameof(format));
        }

        var sql = $"{insert.Sql.TrimEnd().TrimEnd(';').TrimEnd()} FORMAT {format}";
        return RunAsync(insert, async ct =>
        {
            // The body is the data, so the statement travels in the URL (the driver puts it in ?query=),
            // and so do its parameters, rendered by us as param_ options.
            var options = ToDriverOptions(insert, insert.Parameters.Select(p =>
                KeyValuePair.Create("param_" + p.Name, ParameterText.Format(p.Value, p.Type))));

            using var response = await _driver.PostStreamAsync(sql, new BorrowedStream(data), isCompressed: false, ct, options).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _driver.Dispose();
            _http.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Converts our parameters for the driver, naming each placeholder's type so it formats by it.</summary>
    internal static ClickHouseParameterCollection? ToDriverParameters(ClickHouseQuery query)
    {
        if (query.Parameters.IsEmpty)
        {
            return null;
        }

        var collection = new ClickHouseParameterCollection();
        foreach (var parameter in query.Parameters)
        {
            // A date-time travels as our own text (see ParameterText): the driver writes UTC wall-clock text,
            // which a server reads in its session's zone, so a zone-less placeholder would shift the instant.
            // Sent as a String, the text reaches the placeholder unchanged and the server parses it by its type.
            collection.Add(parameter.Value is DateTime or DateTimeOffset
                ? new ClickHouseDbParameter
                {
                    ParameterName = parameter.Name,
                    ClickHouseType = "String",
                    Value = ParameterText.Format(parameter.Value, parameter.Type),
                }
                : new ClickHouseDbParameter
                {
                    ParameterName = parameter.Name,
                    ClickHouseType = parameter.Type,
                    Value = ToDriverValue(parameter.Value),
                });
        }

        return collection;
    }

    /// <summary>Per-query settings become URL options, where ClickHouse reads settings for one request.</summary>
    internal static QueryOptions ToDriverOptions(ClickHouseQuery query, IEnumerable<KeyValuePair<string, string>>? extra = null)
    {
        var settings = query.Settings.ToDictionary(s => s.Key, s => (object)s.Value, StringComparer.Ordinal);
        foreach (var (name, value) in extra ?? [])
        {
            settings[name] = value;
        }

        return new QueryOptions { CustomSettings = settings };
    }

    /// <summary>
    /// Our DateTime parameters are UTC by contract; the driver sends an unspecified one as wall clock in the
    /// placeholder's zone, so mark it UTC to keep the instant whatever zone the placeholder names.
    /// </summary>
    private static object? ToDriverValue(object? value) => value switch
    {
        DateTime { Kind: DateTimeKind.Unspecified } d => DateTime.SpecifyKind(d, DateTimeKind.Utc),
        DateTime[] dates => dates.Select(d => d.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(d, DateTimeKind.Utc) : d).ToArray(),
        _ => value,
    };

    private static FrozenDictionary<string, int> Ordinals(ClickHouseDataReader reader)
    {
        var ordinals = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < reader.FieldCount; i++)
        {
            // A duplicated column name keeps its first ordinal, like ADO.NET's GetOrdinal.
            ordinals.TryAdd(reader.GetName(i), i);
        }

        return ordinals.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static object? ReadValue(ClickHouseDataReader reader, int ordinal) =>
        RowValues.Normalize(reader.GetValue(ordinal), () => reader.GetDateTimeOffset(ordinal));

    private async Task<T> RunAsync<T>(ClickHouseQuery query, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var purpose = query.Purpose ?? "statement";
        Log.Running(_logger, purpose, query);

        // Set in this async method, the record flows down into the HTTP handler and is gone when we return.
        var response = new ResponseInfo();
        ResponseCaptureHandler.Current = response;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await action(cancellationToken).ConfigureAwait(false);
            var elapsed = ElapsedMs(started);
            Log.Finished(_logger, purpose, elapsed);
            return result;
        }
        catch (ClickHouseServerException e)
        {
            var error = ClickHouseErrors.FromServer(e.Message, response.ExceptionCode, response.Status, query, e);
            throw Failed(error, purpose, started);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException e)
        {
            // Not our token: HttpClient.Timeout elapsed. The server may still be running the statement.
            var error = new ClickHouseException(0, null,
                string.Create(CultureInfo.InvariantCulture,
                    $"no answer within {_options.Timeout.TotalSeconds:0} s (raise ?timeout= in {HttpClickHouseClient.SettingName}); the statement may still be running on the server"),
                query.Purpose, isTransient: true, e);
            throw Failed(error, purpose, started);
        }
        catch (HttpRequestException e)
        {
            var error = new EngineUnavailableException(HttpClickHouseClient.SettingName,
                $"{_options.Description} cannot be reached ({purpose}): {e.Message}", e);
            throw Failed(error, purpose, started);
        }
        catch (IOException e)
        {
            // The connection broke after the server answered (a restart, a proxy idle timeout).
            var error = new ClickHouseException(0, null, $"the connection broke while reading the answer: {e.Message}",
                query.Purpose, isTransient: true, e);
            throw Failed(error, purpose, started);
        }
    }

    /// <summary>Logs a failure once, with the exception we throw (already free of secrets), and returns it.</summary>
    private ColdstoreException Failed(ColdstoreException error, string purpose, long started)
    {
        var elapsed = ElapsedMs(started);
        if (error is ClickHouseException clickHouse)
        {
            Log.Failed(_logger, purpose, elapsed, clickHouse.Code, clickHouse.CodeName, clickHouse.IsTransient, clickHouse);
        }
        else
        {
            Log.Unreachable(_logger, purpose, elapsed, error);
        }

        return error;
    }

    private static long ElapsedMs(long started) => (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex FormatPattern();
}
