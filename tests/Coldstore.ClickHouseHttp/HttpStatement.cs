using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Coldstore.ClickHouseHttp;

/// <summary>A request refused before it reached the engine, in ClickHouse's terms (code, name, message).</summary>
internal sealed class RequestRefusedException(int code, string name, string message) : Exception(message)
{
    public int Code { get; } = code;

    public string Name { get; } = name;
}

/// <summary>One statement as a client sent it over HTTP, decoded from the URL, the form and the body.</summary>
internal sealed record HttpStatement
{
    /// <summary>The SQL text (for an insert with a body: the statement without its FORMAT clause).</summary>
    public required string Sql { get; init; }

    /// <summary>For <c>INSERT … FORMAT X</c> with the rows in the body: X; else null.</summary>
    public string? InsertFormat { get; init; }

    /// <summary>The rows of such an insert: the (decompressed) request body.</summary>
    public Stream? InsertData { get; init; }

    /// <summary><c>param_*</c> values as the client sent them (ClickHouse's escaped text form).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; }

    /// <summary>Every URL option that is not one of the interface's own: ClickHouse settings for this statement.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Settings { get; init; }

    public string? Database { get; init; }

    public required string QueryId { get; init; }

    /// <summary>The output format when the SQL names none (<c>default_format</c>, else TabSeparated).</summary>
    public required string DefaultFormat { get; init; }

    /// <summary>True when the client asked for a compressed answer (<c>enable_http_compression=1</c>).</summary>
    public bool CompressResponse { get; init; }

    public required string User { get; init; }

    public string? Password { get; init; }

    public bool IsGet { get; init; }
}

/// <summary>Reads an <see cref="HttpStatement"/> from a request the way ClickHouse's HTTP handler does.</summary>
internal static class HttpStatementReader
{
    /// <summary>URL options the HTTP handler consumes itself; everything else is a setting.</summary>
    private static readonly HashSet<string> OwnOptions = new(StringComparer.Ordinal)
    {
        "query", "database", "query_id", "default_format", "user", "password", "quota_key", "stacktrace",
        "enable_http_compression", "http_zlib_compression_level", "wait_end_of_query", "buffer_size", "compress",
        "decompress", "role", "client_protocol_version", "session_timeout", "session_check",
    };

    public static async Task<HttpStatement> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var isGet = HttpMethods.IsGet(request.Method);
        if (!isGet && !HttpMethods.IsPost(request.Method))
        {
            throw new RequestRefusedException(48, "NOT_IMPLEMENTED", $"HTTP method {request.Method} is not supported; use GET or POST");
        }

        if (request.Query.ContainsKey("session_id"))
        {
            throw new RequestRefusedException(48, "NOT_IMPLEMENTED",
                "sessions (session_id) are not implemented by this HTTP interface over the embedded engine");
        }

        if (request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding)
        {
            request.Body = encoding.Trim().ToLowerInvariant() switch
            {
                "gzip" => new GZipStream(request.Body, CompressionMode.Decompress),
                "deflate" => new ZLibStream(request.Body, CompressionMode.Decompress),
                "br" => new BrotliStream(request.Body, CompressionMode.Decompress),
                _ => throw new RequestRefusedException(48, "NOT_IMPLEMENTED", $"Content-Encoding '{encoding}' is not supported (gzip, deflate, br are)"),
            };
        }

        var parameters = new List<KeyValuePair<string, string>>();
        var settings = new List<KeyValuePair<string, string>>();
        foreach (var (name, values) in request.Query)
        {
            var value = values.ToString();
            if (name.StartsWith("param_", StringComparison.Ordinal))
            {
                parameters.Add(KeyValuePair.Create(name["param_".Length..], value));
            }
            else if (!OwnOptions.Contains(name))
            {
                settings.Add(KeyValuePair.Create(name, value));
            }
        }

        var urlQuery = request.Query.TryGetValue("query", out var q) ? q.ToString() : null;
        string sql;
        string? insertFormat = null;
        Stream? insertData = null;
        // Only multipart bodies are forms to ClickHouse; any other body (curl's urlencoded default too) is SQL or data.
        if (request.HasFormContentType && request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            // ClickHouse.Driver sends the statement and its parameters as multipart form fields, so that values
            // (credentials among them) never sit in a URL.
            var form = await request.ReadFormAsync(cancellationToken);
            foreach (var (name, values) in form)
            {
                if (name.StartsWith("param_", StringComparison.Ordinal))
                {
                    parameters.Add(KeyValuePair.Create(name["param_".Length..], values.ToString()));
                }
            }

            sql = Join(urlQuery, form.TryGetValue("query", out var f) ? f.ToString() : null);
        }
        else if (urlQuery is not null && !isGet && StatementText.SplitInsertFormat(urlQuery) is { } insert)
        {
            // INSERT … FORMAT X in the URL: the body is the data, streamed into the engine as it arrives.
            sql = insert.Insert;
            insertFormat = insert.Format;
            insertData = request.Body;
        }
        else
        {
            string? body = null;
            if (!isGet)
            {
                using var reader = new StreamReader(request.Body, Encoding.UTF8);
                body = await reader.ReadToEndAsync(cancellationToken);
            }

            sql = Join(urlQuery, body);
        }

        if (string.IsNullOrWhiteSpace(sql))
        {
            throw new RequestRefusedException(62, "SYNTAX_ERROR", "Empty query");
        }

        var queryId = request.Query.TryGetValue("query_id", out var id) && id.ToString().Length > 0 ? id.ToString() : Guid.NewGuid().ToString("D");
        if (!StatementText.IsCarriableQueryId(queryId))
        {
            throw new RequestRefusedException(36, "BAD_ARGUMENTS",
                $"query_id '{queryId}' holds characters this HTTP interface cannot carry (it allows letters, digits and . _ : @ -, at most 200)");
        }

        var (user, password) = Credentials(request);
        return new HttpStatement
        {
            Sql = sql,
            InsertFormat = insertFormat,
            InsertData = insertData,
            Parameters = parameters,
            Settings = settings,
            Database = request.Query.TryGetValue("database", out var db) && db.ToString().Length > 0 ? db.ToString()
                : request.Headers.TryGetValue("X-ClickHouse-Database", out var hdb) && hdb.ToString().Length > 0 ? hdb.ToString() : null,
            QueryId = queryId,
            DefaultFormat = request.Query.TryGetValue("default_format", out var format) && format.ToString().Length > 0 ? format.ToString()
                : request.Headers.TryGetValue("X-ClickHouse-Format", out var hformat) && hformat.ToString().Length > 0 ? hformat.ToString() : "TabSeparated",
            CompressResponse = request.Query.TryGetValue("enable_http_compression", out var compress) && compress.ToString() is "1" or "true" or "True",
            User = user,
            Password = password,
            IsGet = isGet,
        };
    }

    /// <summary>ClickHouse runs the URL's query followed by the body's text.</summary>
    private static string Join(string? urlQuery, string? body) =>
        (urlQuery, body) switch
        {
            (null, _) => body ?? string.Empty,
            (_, null or "") => urlQuery,
            _ => urlQuery + "\n" + body,
        };

    private static (string User, string? Password) Credentials(HttpRequest request)
    {
        if (request.Headers.Authorization.ToString() is { Length: > 6 } authorization
            && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? (decoded, null) : (decoded[..colon], decoded[(colon + 1)..]);
            }
            catch (FormatException)
            {
                throw new RequestRefusedException(516, "AUTHENTICATION_FAILED", "the Basic Authorization header is not valid base64");
            }
        }

        var user = request.Headers.TryGetValue("X-ClickHouse-User", out var u) ? u.ToString()
            : request.Query.TryGetValue("user", out var qu) ? qu.ToString() : "default";
        var password = request.Headers.TryGetValue("X-ClickHouse-Key", out var k) ? k.ToString()
            : request.Query.TryGetValue("password", out var qp) ? qp.ToString() : null;
        return (user.Length == 0 ? "default" : user, password);
    }
}
