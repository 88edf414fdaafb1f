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
using Coldstore.Sql;
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

    /// <summary>
    /// The driver with its JSON modes off: it sends no setting of its own that an old server lacks, so it learns the
    /// server's profile and sends kills, and it runs every statement on a server before 24.10.
    /// </summary>
    private readonly ClickHouseClient _plainDriver;

    /// <summary>Learning the profile runs once per client, whoever sends the first statement.</summary>
    private readonly SemaphoreSlim _profileGate = new(1, 1);

    /// <summary>The driver and profile for statements, once learned (see <see cref="LearnProfileAsync"/>).</summary>
    private volatile Connected? _connected;
    private int _disposed;

    /// <summary>What a statement's request may take beyond its max_execution_time: the answer's way back.</summary>
    private static readonly TimeSpan StatementMargin = TimeSpan.FromSeconds(60);

    /// <summary>How long a KILL QUERY for an abandoned statement may take.</summary>
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

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
        // No client-wide timeout: each request gets its own (RequestTimeout), longer than the statement's
        // max_execution_time, so the server ends a statement before the client gives up on it.
        _http = new HttpClient(new ResponseCaptureHandler(sockets), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };

        _plainDriver = CreateDriver(jsonSettings: false);
    }

    /// <inheritdoc />
    public string Description => _options.Description;

    /// <summary>
    /// A driver over our HttpClient. With <paramref name="jsonSettings"/> false its JSON read and write modes are off, so it
    /// does not add <c>output_format_binary_write_json_as_string</c> and <c>input_format_binary_read_json_as_string</c>
    /// (24.10) to every request: a server before 24.10 refuses unknown settings (code 115). Coldstore reads and writes no
    /// JSON-typed column, so nothing else changes; with it true the driver keeps its own defaults.
    /// </summary>
    private ClickHouseClient CreateDriver(bool jsonSettings)
    {
        return new ClickHouseClient(new ClickHouseClientSettings
        {
            Protocol = _options.Scheme,
            Host = _options.Host,
            Port = checked((ushort)_options.Port),
            Username = _options.User,
            Password = _options.Password,
            Database = _options.Database,
            UseCompression = _options.Compression,
            // Parameters go in the multipart POST body instead of the URL: URLs end up in proxy and
            // access logs, and secret parameters (credentials for s3()) must not.
            UseFormDataParameters = true,
            // The driver refuses an infinite timeout; ours per request (RequestTimeout) is always far shorter.
            Timeout = TimeSpan.FromDays(7),
            HttpClient = _http,
            // No LoggerFactory on purpose: the driver logs its exceptions, whose message is the raw server
            // text, and that can quote a secret parameter back. We log our redacted exceptions instead.
            // Binary and String are the driver's own defaults.
            JsonReadMode = jsonSettings ? JsonReadMode.Binary : JsonReadMode.None,
            JsonWriteMode = jsonSettings ? JsonWriteMode.String : JsonWriteMode.None,
        });
    }

    /// <inheritdoc />
    public Task ExecuteAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync(query, async (driver, q, ct) =>
        {
            await driver.ExecuteNonQueryAsync(q.Sql, ToDriverParameters(q), ToDriverOptions(q), ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ClickHouseRow>> QueryAsync(ClickHouseQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return RunAsync<IReadOnlyList<ClickHouseRow>>(query, async (driver, q, ct) =>
        {
            using var reader = await driver.ExecuteReaderAsync(q.Sql, ToDriverParameters(q), ToDriverOptions(q), ct).ConfigureAwait(false);
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
        return RunAsync(query, async (driver, q, ct) =>
        {
            using var reader = await driver.ExecuteReaderAsync(q.Sql, ToDriverParameters(q), ToDriverOptions(q), ct).ConfigureAwait(false);
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
        return RunAsync(insert, async (driver, q, ct) =>
        {
            // The body is the data, so the statement travels in the URL (the driver puts it in ?query=),
            // and so do its parameters, rendered by us as param_ options.
            var options = ToDriverOptions(q, q.Parameters.Select(p =>
                KeyValuePair.Create("param_" + p.Name, ParameterText.Format(p.Value, p.Type))));

            using var response = await driver.PostStreamAsync(sql, new BorrowedStream(data), isCompressed: false, ct, options).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (_connected is { } connected && !ReferenceEquals(connected.Driver, _plainDriver))
            {
                connected.Driver.Dispose();
            }

            _plainDriver.Dispose();
            _http.Dispose();
            _profileGate.Dispose();
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
            (string Type, object? Value) sent = parameter.Value is DateTime or DateTimeOffset
                ? ("String", ParameterText.Format(parameter.Value, parameter.Type))
                : (parameter.Type, ToDriverValue(parameter.Value));
            collection.Add(new ClickHouseDbParameter { ParameterName = parameter.Name, ClickHouseType = sent.Type, Value = sent.Value });
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

        return new QueryOptions { CustomSettings = settings, QueryId = query.QueryId };
    }

    /// <summary>
    /// How long one request may take: the configured timeout, or longer when the statement itself may run longer
    /// (its <c>max_execution_time</c>) plus a margin, so that the server stops a statement before its client gives up;
    /// a client that gave up first would leave the statement running unseen.
    /// </summary>
    internal static TimeSpan RequestTimeout(ClickHouseQuery query, TimeSpan configured)
    {
        if (query.Settings.TryGetValue("max_execution_time", out var text)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            var statement = TimeSpan.FromSeconds(seconds) + StatementMargin;
            return statement > configured ? statement : configured;
        }

        return configured;
    }

    /// <summary>
    /// Our DateTime parameters are UTC by contract; in an array the driver formats them itself (a single one travels
    /// as our text, above) and sends an unspecified one as wall clock in the placeholder's zone, so mark it UTC.
    /// </summary>
    private static object? ToDriverValue(object? value) => value switch
    {
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

    /// <summary>
    /// Runs a statement on this server: learns the server's profile first if this is the client's first statement,
    /// sends the statement's settings as the profile says (only settings the server has, with equivalents where its
    /// release needs them), on the driver the profile allows.
    /// </summary>
    private async Task<T> RunAsync<T>(ClickHouseQuery query, Func<ClickHouseClient, ClickHouseQuery, CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var connected = _connected ?? await LearnProfileAsync(cancellationToken).ConfigureAwait(false);
        return await SendAsync(connected.Profile.Apply(query), connected.Driver, action, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the server which release it runs and which of the settings Coldstore may send it has, once per client
    /// (concurrent first statements wait for one answer). A failure to reach the server is not remembered: the next
    /// statement asks again. A server Coldstore does not support fails here, before any statement reached it.
    /// </summary>
    /// <exception cref="ConfigurationException">The server is older than 24.8 or lacks a setting Coldstore needs.</exception>
    private async Task<Connected> LearnProfileAsync(CancellationToken cancellationToken)
    {
        await _profileGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connected is { } known)
            {
                return known;
            }

            var row = await SendAsync(ServerProfile.Probe(), _plainDriver, async (driver, q, ct) =>
            {
                using var reader = await driver.ExecuteReaderAsync(q.Sql, ToDriverParameters(q), ToDriverOptions(q), ct).ConfigureAwait(false);
                return await reader.ReadAsync(ct).ConfigureAwait(false)
                    ? new ClickHouseRow(Ordinals(reader), [ReadValue(reader, 0), ReadValue(reader, 1)])
                    : throw new ClickHouseException(0, null, "the server answered the version probe with no row", q.Purpose, isTransient: false);
            }, cancellationToken).ConfigureAwait(false);

            var profile = ServerProfile.FromProbe(row);
            if (profile.Problem(_options.Description) is { } problem)
            {
                throw new ConfigurationException(HttpClickHouseClient.SettingName, problem);
            }

            Log.ProfileLearned(_logger, profile.ReportedVersion, profile.ExistingSettings.Count, ServerProfile.SettingNames.Count, profile.AcceptsDriverJsonSettings);
            if (profile.IsNewerThanTested)
            {
                Log.NewerThanTested(_logger, _options.Description, profile.ReportedVersion, ServerProfile.SupportedRange);
            }

            var connected = new Connected(profile, profile.AcceptsDriverJsonSettings ? CreateDriver(jsonSettings: true) : _plainDriver);
            _connected = connected;
            return connected;
        }
        finally
        {
            _profileGate.Release();
        }
    }

    /// <summary>Sends one statement as it is, turning every failure into our exceptions, and kills it when abandoned.</summary>
    private async Task<T> SendAsync<T>(
        ClickHouseQuery query, ClickHouseClient driver, Func<ClickHouseClient, ClickHouseQuery, CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        var purpose = query.Purpose ?? "statement";

        // Every statement runs under a known query id, so a cancelled or timed-out one can be killed by it.
        query = query.QueryId is null ? query.WithQueryId("coldstore-" + Guid.NewGuid().ToString("N")) : query;
        Log.Running(_logger, purpose, query);

        // Set in this async method, the record flows down into the HTTP handler and is gone when we return.
        var response = new ResponseInfo();
        ResponseCaptureHandler.Current = response;
        var started = Stopwatch.GetTimestamp();
        var timeout = RequestTimeout(query, _options.Timeout);
        using var deadline = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            var result = await action(driver, query, linked.Token).ConfigureAwait(false);
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
            // The caller gave up (Ctrl+C, SIGTERM, a lost lease): the server would run the statement on without it.
            await KillAsync(query).ConfigureAwait(false);
            throw;
        }
        catch (OperationCanceledException e)
        {
            // Our deadline passed with no answer: kill the statement rather than leave it running unseen.
            var killed = await KillAsync(query).ConfigureAwait(false);
            var error = new ClickHouseException(0, null,
                string.Create(CultureInfo.InvariantCulture,
                    $"no answer within {timeout.TotalSeconds:0} s (raise ?timeout= in {HttpClickHouseClient.SettingName}); {(killed ? "the statement was killed on the server" : "the statement may still be running on the server (KILL QUERY failed)")}"),
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

    /// <summary>
    /// Asks the server to cancel a statement its caller no longer waits for; best effort, within a few seconds of its
    /// own. Returns whether the server accepted the request (a statement that already ended is fine too).
    /// </summary>
    private async Task<bool> KillAsync(ClickHouseQuery query)
    {
        var kill = new ClickHouseQuery("KILL QUERY WHERE query_id = {query_id:String} ASYNC")
            .With("query_id", "String", query.QueryId!)
            .WithQueryId("coldstore-kill-" + Guid.NewGuid().ToString("N"))
            .For("cancel an abandoned statement");
        try
        {
            using var wait = new CancellationTokenSource(KillTimeout);
            await _plainDriver.ExecuteNonQueryAsync(kill.Sql, ToDriverParameters(kill), ToDriverOptions(kill), wait.Token).ConfigureAwait(false);
            Log.Killed(_logger, query.Purpose ?? "statement", query.QueryId!);
            return true;
        }
        catch (Exception e) when (e is ClickHouseServerException or HttpRequestException or IOException or OperationCanceledException)
        {
            Log.KillFailed(_logger, query.Purpose ?? "statement", query.QueryId!, e.Message);
            return false;
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

    /// <summary>What the client learned on its first statement: the server's profile and the driver it allows.</summary>
    private sealed record Connected(ServerProfile Profile, ClickHouseClient Driver);
}
