using Coldstore.Configuration;
using Coldstore.Ports;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Coldstore.State.Postgres;

/// <summary>
/// The Postgres state store's settings: a URL (<c>postgres://user:password@host:5432/database?sslmode=require</c>, as
/// Dittofeed's <c>DATABASE_URL</c>) or an Npgsql connection string (<c>Host=…;Database=…;Username=…</c>), read into one
/// connection string. Neither <see cref="Description"/> nor <see cref="ToString"/> shows the password.
/// </summary>
public sealed record PostgresStateConnector : IStateStoreConnector
{
    /// <summary>The forms this adapter accepts, for help and for errors that list every form.</summary>
    public const string AcceptedForm =
        "a Postgres URL postgres://user:password@host:5432/database, or an Npgsql connection string Host=…;Database=…;Username=…";

    private PostgresStateConnector(string connectionString) => ConnectionString = connectionString;

    /// <summary>The Npgsql connection string, password included: never print it.</summary>
    public string ConnectionString { get; }

    /// <inheritdoc />
    public string Description => $"Postgres {PostgresErrors.Endpoint(new NpgsqlConnectionStringBuilder(ConnectionString))}";

    /// <summary>Whether <paramref name="value"/> is this adapter's (a <c>postgres(ql)://</c> URL or a connection string naming a host).</summary>
    public static bool Claims(string value) =>
        value is not null
        && (value.StartsWith("postgres://", StringComparison.Ordinal) || value.StartsWith("postgresql://", StringComparison.Ordinal)
            || value.Contains("Host=", StringComparison.OrdinalIgnoreCase) || value.Contains("Server=", StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads a value <see cref="Claims"/> accepted.</summary>
    /// <exception cref="Errors.ConfigurationException">The URL or connection string is malformed; the message never quotes its password.</exception>
    public static PostgresStateConnector Read(SettingValue value)
    {
        var text = value.Text;
        try
        {
            return new PostgresStateConnector(text.Contains("://", StringComparison.Ordinal)
                ? FromUrl(value)
                : new NpgsqlConnectionStringBuilder(text).ConnectionString);
        }
        catch (ArgumentException e)
        {
            // The builder's messages name the bad keyword, never a value.
            throw SettingSource.Invalid(value, $"{e.Message.ReplaceLineEndings(" ")} Use {AcceptedForm}.", SettingText.MaskConnectionString(text));
        }
    }

    /// <inheritdoc />
    public IStateStore Connect(ILoggerFactory loggerFactory) => PostgresStateStore.Create(ConnectionString, loggerFactory);

    /// <inheritdoc />
    public override string ToString() => Description;

    private static string FromUrl(SettingValue value)
    {
        if (!Uri.TryCreate(value.Text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw SettingSource.Invalid(value, "it is not a valid Postgres URL: use postgres://user:password@host:5432/database.", SettingText.MaskUrlPassword(value.Text));
        }

        var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (uri.Port > 0)
        {
            builder.Port = uri.Port;
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && pair[..eq].Equals("sslmode", StringComparison.OrdinalIgnoreCase))
            {
                builder["SSL Mode"] = Uri.UnescapeDataString(pair[(eq + 1)..]);
            }
        }

        return builder.ConnectionString;
    }
}
