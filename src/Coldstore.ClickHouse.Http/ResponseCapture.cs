using System.Net;

namespace Coldstore.ClickHouse.Http;

/// <summary>
/// What the server's HTTP answer said beyond its body. The driver's exception keeps only the body text;
/// the status and <c>X-ClickHouse-Exception-Code</c> header tell a ClickHouse error from a proxy's 502.
/// </summary>
internal sealed class ResponseInfo
{
    public HttpStatusCode? Status { get; set; }

    public string? ExceptionCode { get; set; }
}

/// <summary>
/// Records each response's status and ClickHouse exception header into the <see cref="ResponseInfo"/> the
/// calling statement put in <see cref="Current"/>. An AsyncLocal holding a mutable object works here because
/// the handler runs inside the statement's async flow: it sees the caller's object and fills it in.
/// </summary>
internal sealed class ResponseCaptureHandler : DelegatingHandler
{
    private static readonly AsyncLocal<ResponseInfo?> CurrentSlot = new();

    public ResponseCaptureHandler(HttpMessageHandler inner) : base(inner)
    {
    }

    /// <summary>The statement's record, or null outside a statement.</summary>
    public static ResponseInfo? Current
    {
        get => CurrentSlot.Value;
        set => CurrentSlot.Value = value;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (Current is { } info)
        {
            info.Status = response.StatusCode;
            info.ExceptionCode = response.Headers.TryGetValues("X-ClickHouse-Exception-Code", out var values)
                ? values.FirstOrDefault()
                : null;
        }

        return response;
    }
}
