using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Web;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>One request as the fake server received it, with the URL options, form fields and body decoded.</summary>
internal sealed record RecordedRequest(
    string Method,
    string Path,
    IReadOnlyDictionary<string, string> Query,
    IReadOnlyDictionary<string, string> Form,
    string? ContentType,
    string? Authorization,
    byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>The SQL, wherever the driver put it: the form, the URL, or the body.</summary>
    public string Sql => Form.TryGetValue("query", out var f) ? f : Query.TryGetValue("query", out var q) ? q : BodyText;

    /// <summary>The raw URL and body together, to assert a value appears nowhere.</summary>
    public string Everything { get; init; } = string.Empty;
}

/// <summary>What the fake server answers.</summary>
internal sealed record FakeReply(int Status, byte[] Body, IReadOnlyDictionary<string, string>? Headers = null, TimeSpan Delay = default)
{
    public static FakeReply Ok(byte[] body) => new(200, body);

    public static FakeReply Empty() => new(200, []);

    /// <summary>An error the way ClickHouse sends one: status, exception-code header and the text body.</summary>
    public static FakeReply Error(int status, int code, string text) =>
        new(status, Encoding.UTF8.GetBytes(text + "\n"), new Dictionary<string, string> { ["X-ClickHouse-Exception-Code"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
}

/// <summary>
/// A tiny stand-in for ClickHouse's HTTP interface on 127.0.0.1, so the real driver's request path runs
/// without a server. Loopback only; it stops on dispose and by itself after a minute at most.
/// </summary>
internal sealed class FakeClickHouseServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _lifetime = new(TimeSpan.FromSeconds(60));
    private readonly Func<RecordedRequest, FakeReply> _respond;
    private readonly Task _loop;

    private FakeClickHouseServer(HttpListener listener, int port, Func<RecordedRequest, FakeReply> respond)
    {
        _listener = listener;
        Port = port;
        _respond = respond;
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public RecordedRequest Single => Assert.Single(Requests);

    /// <summary>A server URL for the adapter, with credentials and options.</summary>
    public string Url(string userInfo = "tester:s3cret", string database = "analytics", string options = "?compression=false&timeout=5") =>
        $"http://{userInfo}@127.0.0.1:{Port}/{database}{options}";

    public static FakeClickHouseServer Start(Func<RecordedRequest, FakeReply> respond)
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = FreeLoopbackPort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return new FakeClickHouseServer(listener, port, respond);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another process took the port between probing and binding; try another.
                listener.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync();
        _listener.Close();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is ObjectDisposedException or HttpListenerException or OperationCanceledException or TimeoutException)
        {
        }

        _lifetime.Dispose();
    }

    private static int FreeLoopbackPort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task LoopAsync()
    {
        using var stop = _lifetime.Token.Register(() => _listener.Close());
        while (!_lifetime.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is ObjectDisposedException or HttpListenerException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            var request = await RecordAsync(context.Request);
            // A client's first statement is preceded by its server-profile probe; answer it as a 26.7 server with every
            // setting, and keep it out of Requests so each test sees only its own statements.
            var reply = IsProfileProbe(request) ? ProfileReply : null;
            if (reply is null)
            {
                Requests.Enqueue(request);
                reply = _respond(request);
            }

            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, _lifetime.Token);
            }

            context.Response.StatusCode = reply.Status;
            foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            context.Response.ContentLength64 = reply.Body.Length;
            await context.Response.OutputStream.WriteAsync(reply.Body, _lifetime.Token);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The client gave up (a timeout test) or the server is stopping.
        }
    }

    /// <summary>The probe's answer: a 26.7 server that has every setting Coldstore may send.</summary>
    private static FakeReply ProfileReply { get; } = FakeReply.Ok(RowBinary.Encode(
        [("version", "String"), ("settings", "String")], ["26.7.2.1", string.Join(",", Coldstore.Sql.ServerProfile.SettingNames)]));

    private static bool IsProfileProbe(RecordedRequest request) =>
        request.Sql.Contains("version()", StringComparison.Ordinal) && request.Sql.Contains("FROM system.settings", StringComparison.Ordinal);

    private static async Task<RecordedRequest> RecordAsync(HttpListenerRequest request)
    {
        using var buffer = new MemoryStream();
        await request.InputStream.CopyToAsync(buffer);
        var body = buffer.ToArray();
        if (string.Equals(request.Headers["Content-Encoding"], "gzip", StringComparison.OrdinalIgnoreCase))
        {
            using var gzip = new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gzip.CopyToAsync(plain);
            body = plain.ToArray();
        }

        var rawQuery = request.Url!.Query;
        var parsed = HttpUtility.ParseQueryString(rawQuery);
        var query = parsed.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => parsed[k]!, StringComparer.Ordinal);
        var form = ParseMultipart(request.ContentType, body);

        return new RecordedRequest(request.HttpMethod, request.Url.AbsolutePath, query, form, request.ContentType,
            request.Headers["Authorization"], body)
        {
            Everything = Uri.UnescapeDataString(request.RawUrl ?? string.Empty) + "\n" + request.RawUrl + "\n" + Encoding.UTF8.GetString(body),
        };
    }

    private static Dictionary<string, string> ParseMultipart(string? contentType, byte[] body)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        const string marker = "boundary=";
        var at = contentType?.IndexOf(marker, StringComparison.OrdinalIgnoreCase) ?? -1;
        if (contentType is null || at < 0)
        {
            return fields;
        }

        var boundary = "--" + contentType[(at + marker.Length)..].Trim('"');
        var text = Encoding.UTF8.GetString(body);
        foreach (var part in text.Split(boundary, StringSplitOptions.None))
        {
            var split = part.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (split < 0)
            {
                continue;
            }

            var headers = part[..split];
            var nameAt = headers.IndexOf("name=", StringComparison.Ordinal);
            if (nameAt < 0)
            {
                continue;
            }

            var name = headers[(nameAt + 5)..].Split(';', '\r', '\n')[0].Trim('"');
            var value = part[(split + 4)..];
            fields[name] = value.EndsWith("\r\n", StringComparison.Ordinal) ? value[..^2] : value;
        }

        return fields;
    }
}
