using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using Coldstore.ClickHouseHttp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// ClickHouse's HTTP interface over the embedded engine (test infrastructure; see README.md beside this file).
// Usage: Coldstore.ClickHouseHttp --dir D [--port P] [--host 127.0.0.1] [--user U --password P] [--setting NAME=VALUE]…
//        [--user-setting USER:NAME=VALUE]… [--server-version V] [--hide-setting NAME]… [--config-file F] [--parent-pid N] [--verbose]
var options = InterfaceOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("usage: clickhouse-http --dir DATA_DIR [--port PORT (0 picks one)] [--host 127.0.0.1] [--user U --password P] " +
        "[--setting NAME=VALUE (a default for every statement, like a server profile; repeatable)] " +
        "[--user-setting USER:NAME=VALUE (a default for one user's statements)] " +
        "[--server-version V (answer version() with V, e.g. 24.12.6.70)] [--hide-setting NAME (behave as a release without it; repeatable)] " +
        "[--config-file FILE (the engine's configuration)] [--parent-pid PID] [--verbose]");
    return 2;
}

StatementEngine engine;
try
{
    engine = new StatementEngine(options.Directory, options.Verbose, options.DefaultSettings, options.UserSettings, options.ServerVersion, options.HiddenSettings, options.ConfigFile);
}
catch (Exception e) when (e is InvalidOperationException or Coldstore.Errors.ColdstoreException)
{
    Console.Error.WriteLine($"clickhouse-http: the engine did not start on {options.Directory}: {e.Message}");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
// Logs go to stderr: stdout carries only the "listening on" line the test fixtures wait for.
builder.Logging.AddSimpleConsole(console => console.SingleLine = true)
    .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
    .SetMinimumLevel(LogLevel.Warning);
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(2));
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
    kestrel.Limits.MaxRequestBodySize = null;
    // Insert bodies are read on the statement's own thread, synchronously, as the engine consumes them.
    kestrel.AllowSynchronousIO = true;
    kestrel.Limits.MinRequestBodyDataRate = null;
    kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
});
builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(form =>
{
    form.ValueLengthLimit = int.MaxValue;
    form.MultipartBodyLengthLimit = long.MaxValue;
});

var app = builder.Build();
app.Run(async context =>
{
    var request = context.Request;
    if (request.Path == "/ping" || (request.Path == "/" && HttpMethods.IsGet(request.Method) && !request.Query.ContainsKey("query")))
    {
        // A server's health answer: ClickHouse.Driver and load balancers probe it.
        context.Response.ContentType = "text/plain; charset=UTF-8";
        await context.Response.WriteAsync("Ok.\n");
        return;
    }

    if (request.Path == StatementText.TextsPath)
    {
        // Read by the engine itself, from the processes view (url() table function).
        context.Response.ContentType = "text/tab-separated-values; charset=UTF-8";
        await context.Response.WriteAsync(engine.ClientTexts());
        return;
    }

    await Serve(context, engine, options);
});

if (options.ParentPid is { } parent)
{
    // Test runs start this program; it must not outlive them, even when the parent is killed outright.
    _ = Task.Run(async () =>
    {
        while (ProcessIsAlive(parent))
        {
            await Task.Delay(500);
        }

        Console.Error.WriteLine($"clickhouse-http: parent process {parent} is gone; stopping.");
        Environment.Exit(0);
    });
}

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
engine.ShowClientTexts(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
var pretending = engine.Version == engine.EngineVersion && engine.HiddenSettings.Count == 0
    ? string.Empty
    : $", pretending ClickHouse {engine.Version}{(engine.HiddenSettings.Count == 0 ? string.Empty : " without " + string.Join(", ", engine.HiddenSettings))}";
Console.Out.WriteLine($"clickhouse-http listening on {address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)} (chDB {engine.EngineVersion}{pretending}, data {engine.DataDirectory})");
Console.Out.Flush();
await app.WaitForShutdownAsync();
return 0;

static bool ProcessIsAlive(int pid)
{
    // /proc/PID disappears when the process is reaped; a zombie parent still counts as gone.
    var stat = $"/proc/{pid}/stat";
    try
    {
        var text = File.ReadAllText(stat);
        var afterName = text.LastIndexOf(')');
        return afterName < 0 || afterName + 2 >= text.Length || text[afterName + 2] != 'Z';
    }
    catch (IOException)
    {
        return false;
    }
    catch (UnauthorizedAccessException)
    {
        return true;
    }
}

static async Task Serve(HttpContext context, StatementEngine engine, InterfaceOptions options)
{
    // Server semantics: the statement runs to its end whatever the client does, so nothing below watches
    // context.RequestAborted while the engine works; a vanished client only loses the answer.
    HttpStatement statement;
    try
    {
        statement = await HttpStatementReader.ReadAsync(context.Request, CancellationToken.None);
    }
    catch (RequestRefusedException e)
    {
        await WriteAsync(context, engine.Refused(e.Code, e.Name, e.Message, "TabSeparated"), null, false);
        return;
    }
    catch (Exception e) when (e is IOException or InvalidDataException or BadHttpRequestException)
    {
        await WriteAsync(context, engine.Refused(210, "NETWORK_ERROR", "the request could not be read: " + e.Message, "TabSeparated"), null, false);
        return;
    }

    if (options.Password is not null && (statement.User != options.User || statement.Password != options.Password))
    {
        await WriteAsync(context, engine.Refused(516, "AUTHENTICATION_FAILED",
            $"{statement.User}: Authentication failed: password is incorrect, or there is no user with such name", statement.DefaultFormat), statement.QueryId, false);
        return;
    }

    StatementOutcome outcome;
    try
    {
        outcome = await Task.Factory.StartNew(() => engine.Execute(statement), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }
    catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
    {
        outcome = engine.Refused(1001, "STD_EXCEPTION", "the HTTP interface failed: " + e.Message, statement.DefaultFormat);
    }

    await WriteAsync(context, outcome, statement.QueryId, statement.CompressResponse);

    async Task WriteAsync(HttpContext http, StatementOutcome result, string? queryId, bool compress)
    {
        var response = http.Response;
        if (queryId is not null)
        {
            response.Headers["X-ClickHouse-Query-Id"] = queryId;
        }

        response.Headers["X-ClickHouse-Server-Display-Name"] = "coldstore-clickhouse-http";
        response.Headers["X-ClickHouse-Timezone"] = engine.TimeZone;
        response.Headers["X-ClickHouse-Summary"] = string.Create(CultureInfo.InvariantCulture,
            $$"""{"read_rows":"{{result.ReadRows}}","read_bytes":"{{result.ReadBytes}}","written_rows":"{{result.WrittenRows}}","written_bytes":"{{result.WrittenBytes}}","total_rows_to_read":"{{result.ReadRows}}","result_rows":"0","result_bytes":"{{result.Body.Length}}","elapsed_ns":"{{(long)(result.Elapsed.TotalMilliseconds * 1_000_000)}}"}""");
        byte[] body;
        if (result.Error is { } error)
        {
            response.StatusCode = HttpStatusFor(result.ErrorCode);
            response.Headers["X-ClickHouse-Exception-Code"] = result.ErrorCode.ToString(CultureInfo.InvariantCulture);
            response.ContentType = "text/plain; charset=UTF-8";
            body = Encoding.UTF8.GetBytes(error);
        }
        else
        {
            response.StatusCode = 200;
            response.Headers["X-ClickHouse-Format"] = result.Format;
            response.ContentType = ContentTypeFor(result.Format);
            body = result.Body;
        }

        try
        {
            var encoding = compress ? PickEncoding(http.Request.Headers.AcceptEncoding.ToString()) : null;
            if (encoding is null)
            {
                response.ContentLength = body.Length;
                await response.Body.WriteAsync(body);
                return;
            }

            response.Headers.ContentEncoding = encoding;
            await using Stream compressed = encoding switch
            {
                "gzip" => new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true),
                "deflate" => new ZLibStream(response.Body, CompressionLevel.Fastest, leaveOpen: true),
                _ => new BrotliStream(response.Body, CompressionLevel.Fastest, leaveOpen: true),
            };
            await compressed.WriteAsync(body);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone; the statement has already run to its end, which is the point.
        }
    }
}

static string? PickEncoding(string acceptEncoding)
{
    var offered = acceptEncoding.Split(',').Select(part => part.Split(';')[0].Trim().ToLowerInvariant()).ToHashSet();
    return offered.Contains("gzip") ? "gzip" : offered.Contains("deflate") ? "deflate" : offered.Contains("br") ? "br" : null;
}

static string ContentTypeFor(string format) => format switch
{
    _ when format.StartsWith("JSON", StringComparison.Ordinal) => "application/json; charset=UTF-8",
    _ when format.StartsWith("TabSeparated", StringComparison.Ordinal) || format.StartsWith("TSV", StringComparison.Ordinal) =>
        "text/tab-separated-values; charset=UTF-8",
    _ when format.StartsWith("CSV", StringComparison.Ordinal) => "text/csv; charset=UTF-8",
    _ => "application/octet-stream",
};

// Approximately ClickHouse's own mapping from exception codes to HTTP statuses (HTTPHandler).
static int HttpStatusFor(int code) => code switch
{
    194 => 401, // REQUIRED_PASSWORD
    192 or 193 or 516 or 497 or 164 => 403, // UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED, ACCESS_DENIED, READONLY
    6 or 25 or 26 or 27 or 38 or 41 or 62 or 72 or 117 or 53 or 376 or 36 or 69 or 167 or 168 => 400, // parse errors, syntax, bad arguments
    46 or 47 or 50 or 56 or 60 or 63 or 73 or 81 or 115 => 404, // unknown function, identifier, type, storage, table, format, database, setting
    48 => 501, // NOT_IMPLEMENTED
    209 => 503, // SOCKET_TIMEOUT
    _ => 500,
};

/// <summary>The command line.</summary>
internal sealed record InterfaceOptions(
    string Directory, int Port, string Host, string User, string? Password, int? ParentPid, bool Verbose,
    IReadOnlyList<KeyValuePair<string, string>> DefaultSettings, IReadOnlyList<(string User, KeyValuePair<string, string> Setting)> UserSettings,
    string? ServerVersion, IReadOnlyList<string> HiddenSettings)
{
    /// <summary>A ClickHouse configuration file for the engine (<c>--config-file</c>: macros, a test keeper), or null.</summary>
    public string? ConfigFile { get; init; }

    public static InterfaceOptions? Parse(string[] args)
    {
        string? configFile = null;
        string? directory = null, user = "default", password = null, host = "127.0.0.1";
        var port = 8123;
        int? parent = null;
        var verbose = false;
        var defaults = new List<KeyValuePair<string, string>>();
        var userDefaults = new List<(string, KeyValuePair<string, string>)>();
        string? serverVersion = null;
        var hidden = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--dir": directory = Next(); break;
                    case "--port": port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--host": host = Next(); break;
                    case "--user": user = Next(); break;
                    case "--password": password = Next(); break;
                    case "--parent-pid": parent = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--verbose": verbose = true; break;
                    case "--config-file": configFile = Next(); break;
                    case "--setting":
                        var pair = Next();
                        var equals = pair.IndexOf('=', StringComparison.Ordinal);
                        if (equals <= 0)
                        {
                            throw new ArgumentException($"--setting '{pair}' is not NAME=VALUE");
                        }

                        defaults.Add(KeyValuePair.Create(pair[..equals], pair[(equals + 1)..]));
                        break;
                    case "--user-setting":
                        var spec = Next();
                        var colon = spec.IndexOf(':', StringComparison.Ordinal);
                        var assign = spec.IndexOf('=', StringComparison.Ordinal);
                        if (colon <= 0 || assign <= colon + 1)
                        {
                            throw new ArgumentException($"--user-setting '{spec}' is not USER:NAME=VALUE");
                        }

                        userDefaults.Add((spec[..colon], KeyValuePair.Create(spec[(colon + 1)..assign], spec[(assign + 1)..])));
                        break;
                    case "--server-version":
                        serverVersion = Next();
                        if (!StatementText.IsVersion(serverVersion))
                        {
                            throw new ArgumentException($"--server-version '{serverVersion}' is not a release such as 24.12.6.70");
                        }

                        break;
                    case "--hide-setting":
                        var name = Next();
                        if (!StatementText.IsSettingName(name))
                        {
                            throw new ArgumentException($"--hide-setting '{name}' is not a setting name");
                        }

                        hidden.Add(name);
                        break;
                    default: return null;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine("clickhouse-http: " + e.Message);
                return null;
            }
        }

        return directory is null || port is < 0 or > 65535 ? null : new InterfaceOptions(directory, port, host, user, password, parent, verbose, defaults, userDefaults, serverVersion, hidden) { ConfigFile = configFile };
    }
}
