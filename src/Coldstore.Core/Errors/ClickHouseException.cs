namespace Coldstore.Errors;

/// <summary>
/// ClickHouse refused or failed a statement. Carries the server's numeric error code and name
/// (e.g. 60 / UNKNOWN_TABLE) and the purpose of the query, never parameter values.
/// </summary>
public sealed class ClickHouseException : ColdstoreException
{
    /// <summary>Creates the exception from a parsed engine error.</summary>
    public ClickHouseException(int code, string? codeName, string message, string? purpose, bool isTransient, Exception? inner = null)
        : base(Compose(code, codeName, message, purpose), inner)
    {
        Code = code;
        CodeName = codeName;
        EngineMessage = message;
        Purpose = purpose;
        IsTransient = isTransient;
    }

    /// <summary>ClickHouse's numeric error code, or 0 when the failure happened before the engine answered.</summary>
    public int Code { get; }

    /// <summary>ClickHouse's error name such as <c>UNKNOWN_TABLE</c>, when known.</summary>
    public string? CodeName { get; }

    /// <summary>The engine's own message.</summary>
    public string EngineMessage { get; }

    /// <summary>What the query was for, as given by <see cref="Ports.ClickHouseQuery.Purpose"/>.</summary>
    public string? Purpose { get; }

    /// <inheritdoc />
    public override bool IsTransient { get; }

    private static string Compose(int code, string? codeName, string message, string? purpose)
    {
        var what = purpose is null ? "ClickHouse" : $"ClickHouse ({purpose})";
        var name = codeName is null ? $"code {code}" : $"code {code} {codeName}";
        return $"{what} failed with {name}: {message}";
    }
}
