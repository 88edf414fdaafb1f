using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Coldstore.ClickHouse.Chdb;
using Coldstore.ClickHouse.Chdb.Native;

namespace Coldstore.ClickHouseHttp;

/// <summary>What the engine answered to one statement.</summary>
internal sealed record StatementOutcome(
    byte[] Body,
    string Format,
    string? Error,
    int ErrorCode,
    ulong ReadRows,
    ulong ReadBytes,
    ulong WrittenRows,
    ulong WrittenBytes,
    TimeSpan Elapsed);

/// <summary>
/// Runs statements on the embedded engine with server semantics: each on a connection of its own (the engine
/// runs connections side by side), to completion whether or not its client is still there, unless a
/// <c>KILL QUERY</c> ends it. Query ids are unique among running statements, as on a server.
/// </summary>
internal sealed partial class StatementEngine
{
    private readonly ChdbEngine _engine;
    private readonly ConcurrentBag<ChdbConnection> _idle = [];
    private readonly ConcurrentDictionary<string, DateTime> _running = new(StringComparer.Ordinal);

    /// <summary>The text each running statement's client sent, by client query id, for <see cref="StatementText.TextsPath"/>.</summary>
    private readonly ConcurrentDictionary<string, string> _texts = new(StringComparer.Ordinal);
    private readonly bool _verbose;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _defaults;
    private readonly IReadOnlyList<(string User, KeyValuePair<string, string> Setting)> _userDefaults;
    private readonly string? _pretendedVersion;
    private readonly HashSet<string> _hidden;

    /// <param name="dataDirectory">The engine's data directory.</param>
    /// <param name="verbose">Log every statement to stderr.</param>
    /// <param name="defaults">
    /// Settings every client statement gets unless it sets them itself, as a server's default profile gives them
    /// (tests use it to slow S3 transfers down so that a statement is still running when its client dies).
    /// </param>
    /// <param name="userDefaults">
    /// The same for one user's statements only, as a server's per-user profile: a test's first run connects as a
    /// slowed user so the statement it leaves behind outlasts the rerun, which connects as another.
    /// </param>
    /// <param name="pretendedVersion">
    /// The release to answer <c>version()</c> with and to name in errors, or null for the engine's own: tests pretend
    /// to be an older server (a client learns the server's release from <c>version()</c>).
    /// </param>
    /// <param name="hiddenSettings">
    /// Settings to behave as absent, as on a release that predates them: left out of <c>system.settings</c>, and a
    /// statement that sends one fails with code 115 (UNKNOWN_SETTING).
    /// </param>
    /// <param name="configFile">The engine's configuration file (clickhouse-local's <c>--config-file</c>), or null.</param>
    public StatementEngine(
        string dataDirectory, bool verbose, IReadOnlyList<KeyValuePair<string, string>> defaults,
        IReadOnlyList<(string User, KeyValuePair<string, string> Setting)> userDefaults,
        string? pretendedVersion = null, IReadOnlyCollection<string>? hiddenSettings = null, string? configFile = null)
    {
        _engine = ChdbEngine.Start(dataDirectory, configFile);
        _verbose = verbose;
        _pretendedVersion = pretendedVersion;
        _hidden = new HashSet<string>(hiddenSettings ?? [], StringComparer.Ordinal);
        // A server's profile cannot hand out a setting its release lacks.
        _defaults = [.. defaults.Where(d => !_hidden.Contains(d.Key))];
        _userDefaults = [.. userDefaults.Where(u => !_hidden.Contains(u.Setting.Key))];
        var setup = Run(Internal($"CREATE DATABASE IF NOT EXISTS {StatementText.OwnDatabase}"));
        ThrowIfFailed(setup);
        ThrowIfFailed(Run(Internal(StatementText.CreateProcessesView)));
        ThrowIfFailed(Run(Internal(StatementText.CreateSettingsView(_hidden))));
        var zone = Run(Internal("SELECT timezone()"));
        ThrowIfFailed(zone);
        TimeZone = Encoding.UTF8.GetString(zone.Body).Trim();
        EngineVersion = _engine.Version;
        Version = pretendedVersion ?? _engine.Version;
    }

    /// <summary>The release clients see: the pretended one (<c>--server-version</c>) or the engine's, e.g. 26.7.2.1.</summary>
    public string Version { get; }

    /// <summary>The engine's own release.</summary>
    public string EngineVersion { get; }

    /// <summary>The settings the interface behaves as lacking (<c>--hide-setting</c>).</summary>
    public IReadOnlyCollection<string> HiddenSettings => _hidden;

    /// <summary>The server's time zone, sent in X-ClickHouse-Timezone.</summary>
    public string TimeZone { get; }

    public string DataDirectory => _engine.DataDirectory;

    /// <summary>Runs a client's statement (a KILL QUERY included) and returns the engine's answer.</summary>
    public StatementOutcome Execute(HttpStatement statement)
    {
        if (statement.IsGet && !StatementText.IsReadOnly(statement.Sql))
        {
            return Refused(164, "READONLY", "Cannot execute query in readonly mode: a GET request may only read (use POST)", statement.DefaultFormat);
        }

        if (statement.Settings.FirstOrDefault(s => _hidden.Contains(s.Key)) is { Key: { } hidden })
        {
            // What a release that predates the setting answers.
            return Refused(115, "UNKNOWN_SETTING",
                $"Setting {hidden} is neither a builtin setting nor started with the prefix 'custom_' registered for user-defined settings", statement.DefaultFormat);
        }

        if (StatementText.ParseKillQuery(statement.Sql) is { } kill)
        {
            return Kill(statement, kill);
        }

        if (!_running.TryAdd(statement.QueryId, DateTime.UtcNow))
        {
            if (!IsTrue(statement.Settings, "replace_running_query"))
            {
                return Refused(216, "QUERY_WITH_SAME_ID_IS_STILL_RUNNING", $"Query with id = {statement.QueryId} is already running.", statement.DefaultFormat);
            }

            KillAndWait([statement.QueryId], TimeSpan.FromSeconds(30));
            if (!_running.TryAdd(statement.QueryId, DateTime.UtcNow))
            {
                return Refused(216, "QUERY_WITH_SAME_ID_IS_STILL_RUNNING", $"Query with id = {statement.QueryId} is still running after it was killed.", statement.DefaultFormat);
            }
        }

        _texts[statement.QueryId] = statement.Sql;
        try
        {
            var outcome = Run(statement with
            {
                Sql = Pretend(StatementText.RewriteProcesses(statement.Sql)),
                Settings = [.. Defaults(statement.User).Where(d => statement.Settings.All(s => s.Key != d.Key)),
                    .. statement.Settings.Where(s => s.Key is not ("replace_running_query" or StatementText.CarrierSetting)),
                    KeyValuePair.Create(StatementText.CarrierSetting, StatementText.Carrier(statement.QueryId))],
            });
            if (_verbose)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{DateTime.UtcNow:HH:mm:ss.fff} {statement.QueryId} {outcome.Elapsed.TotalMilliseconds:0} ms {(outcome.Error is null ? "ok" : "code " + outcome.ErrorCode)}: {OneLine(statement.Sql)}"));
            }

            return outcome;
        }
        finally
        {
            _texts.TryRemove(statement.QueryId, out _);
            _running.TryRemove(statement.QueryId, out _);
        }
    }

    /// <summary>The running statements' client texts, as escaped TabSeparated lines (served at <see cref="StatementText.TextsPath"/>).</summary>
    public string ClientTexts() => string.Concat(_texts.Select(t => StatementText.TabSeparatedLine(t.Key, t.Value)));

    /// <summary>
    /// Once the interface listens at <paramref name="baseUrl"/>, <c>system.processes</c> shows each statement as its
    /// client sent it: chDB's own text has the bound parameters' values (credentials among them) written in, which a
    /// server's does not.
    /// </summary>
    public void ShowClientTexts(string baseUrl) => ThrowIfFailed(Run(Internal(StatementText.CreateProcessesViewWithClientTexts(baseUrl))));

    /// <summary>The statement as the pretended release would see it: its <c>version()</c> and its <c>system.settings</c>.</summary>
    private string Pretend(string sql)
    {
        if (_hidden.Count > 0)
        {
            sql = StatementText.RewriteSettings(sql);
        }

        return _pretendedVersion is { } version ? StatementText.RewriteVersion(sql, version) : sql;
    }

    /// <summary>The profile settings of a user: the user's own over everyone's.</summary>
    private IEnumerable<KeyValuePair<string, string>> Defaults(string user)
    {
        var own = _userDefaults.Where(u => u.User == user).Select(u => u.Setting).ToList();
        return [.. own, .. _defaults.Where(d => own.All(o => o.Key != d.Key))];
    }

    /// <summary>
    /// <c>KILL QUERY WHERE …</c>: the client's condition selects from the view that shows client query ids; the
    /// matching statements are cancelled asynchronously (SYNC on chDB hangs the engine), and SYNC then waits
    /// until they are gone, as a server's SYNC does.
    /// </summary>
    private StatementOutcome Kill(HttpStatement statement, KillQuery kill)
    {
        var status = kill.Mode == "SYNC" ? "finished" : "waiting";
        var listing = Run(statement with
        {
            Sql = StatementText.RewriteProcesses(
                $"SELECT '{status}' AS kill_status, query_id, user, query FROM system.processes WHERE ({kill.Where})"
                + (kill.Format is null ? string.Empty : " FORMAT " + kill.Format)),
        });
        if (listing.Error is not null)
        {
            return listing;
        }

        var ids = Run(statement with
        {
            Sql = StatementText.RewriteProcesses($"SELECT query_id FROM system.processes WHERE ({kill.Where}) FORMAT TabSeparatedRaw"),
            DefaultFormat = "TabSeparatedRaw",
        });
        if (ids.Error is not null)
        {
            return ids;
        }

        var matched = Encoding.UTF8.GetString(ids.Body).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (kill.Mode != "TEST" && matched.Length > 0)
        {
            KillAndWait(matched, kill.Mode == "SYNC" ? TimeSpan.FromSeconds(60) : TimeSpan.Zero);
        }

        return listing;
    }

    /// <summary>Cancels the statements with these client query ids and waits up to <paramref name="wait"/> for them to end.</summary>
    private void KillAndWait(IReadOnlyCollection<string> queryIds, TimeSpan wait)
    {
        var list = string.Join(", ", queryIds.Where(StatementText.IsCarriableQueryId).Select(id => $"'{id}'"));
        if (list.Length == 0)
        {
            return;
        }

        ThrowIfFailed(Run(Internal($"KILL QUERY WHERE {StatementText.ClientQueryIdExpression} IN ({list}) ASYNC")));
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < wait)
        {
            var left = Run(Internal($"SELECT count() FROM {StatementText.ProcessesView} WHERE query_id IN ({list})", "TabSeparatedRaw"));
            ThrowIfFailed(left);
            if (Encoding.UTF8.GetString(left.Body).Trim() == "0")
            {
                return;
            }

            Thread.Sleep(20);
        }
    }

    /// <summary>Runs one statement on an idle connection (or a new one), settings applied for it alone.</summary>
    private StatementOutcome Run(HttpStatement statement)
    {
        var connection = _idle.TryTake(out var idle) ? idle : _engine.Connect();
        var reusable = true;
        var started = Stopwatch.StartNew();
        try
        {
            if (statement.Database is { } database)
            {
                using var use = connection.Query($"USE {QuoteIdentifier(database)}", "Null", []);
                if (use.Error is { } error)
                {
                    return Failed(error, statement.DefaultFormat, started);
                }
            }

            if (statement.Settings.Count > 0)
            {
                if (statement.Settings.FirstOrDefault(s => !SettingStatements.IsName(s.Key)) is { Key: not null } bad)
                {
                    return Refused(115, "UNKNOWN_SETTING", $"Unknown setting '{bad.Key}'", statement.DefaultFormat);
                }

                using var set = connection.Query(SettingStatements.Set(statement.Settings), "Null", []);
                if (set.Error is { } error)
                {
                    return Failed(error, statement.DefaultFormat, started);
                }
            }

            return statement.InsertFormat is { } format && statement.InsertData is { } data
                ? Insert(connection, statement, format, data, started)
                : Query(connection, statement, started);
        }
        finally
        {
            reusable &= Reset(connection, statement);
            if (reusable)
            {
                _idle.Add(connection);
            }
            else
            {
                connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private static StatementOutcome Query(ChdbConnection connection, HttpStatement statement, Stopwatch started)
    {
        using var result = connection.Query(statement.Sql, statement.DefaultFormat, statement.Parameters);
        if (result.Error is { } error)
        {
            return Failed(error, statement.DefaultFormat, started);
        }

        return new StatementOutcome(result.Buffer.ToArray(), StatementText.TrailingFormat(statement.Sql) ?? statement.DefaultFormat, null, 0,
            result.RowsRead, result.BytesRead, result.RowsWritten, result.BytesWritten, started.Elapsed);
    }

    private static unsafe StatementOutcome Insert(ChdbConnection connection, HttpStatement statement, string format, Stream data, Stopwatch started)
    {
        using var stream = connection.BeginInsert(statement.Sql, format, statement.Parameters);
        if (stream.Error is { } opened)
        {
            return Failed(opened, statement.DefaultFormat, started);
        }

        var buffer = new byte[1 << 20];
        try
        {
            int read;
            while ((read = data.Read(buffer)) > 0)
            {
                fixed (byte* chunk = buffer)
                {
                    if (ChdbNative.StreamAppend(stream.DangerousGetHandle(), chunk, (nuint)read) != 0)
                    {
                        return Failed(stream.Error ?? "Code: 27. DB::Exception: the engine refused the inserted data. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)", statement.DefaultFormat, started);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or InvalidDataException)
        {
            // The client went away mid-body: like a server, keep what was committed and drop the rest.
            ChdbNative.CancelInsertStream(stream.DangerousGetHandle());
            return Failed($"Code: 210. DB::Exception: the client stopped sending the data: {e.Message}. (NETWORK_ERROR)", statement.DefaultFormat, started);
        }

        using var done = new ChdbResultHandle(ChdbNative.StreamDone(stream.DangerousGetHandle()));
        if ((done.IsInvalid ? stream.Error ?? "Code: 1001. DB::Exception: the engine did not commit the insert. (STD_EXCEPTION)" : done.Error) is { } error)
        {
            return Failed(error, statement.DefaultFormat, started);
        }

        return new StatementOutcome([], statement.DefaultFormat, null, 0, done.RowsRead, done.BytesRead, done.RowsWritten, done.BytesWritten, started.Elapsed);
    }

    /// <summary>Puts a connection back as it was: default settings and database. False when it cannot be trusted again.</summary>
    private static bool Reset(ChdbConnection connection, HttpStatement statement)
    {
        var ok = true;
        if (statement.Settings.Count > 0)
        {
            var names = statement.Settings.Select(s => s.Key).Where(SettingStatements.IsName).Distinct().ToArray();
            if (names.Length > 0)
            {
                using var reset = connection.Query(SettingStatements.Reset(names), "Null", []);
                // An unknown setting already failed the statement; resetting it fails too, and that is harmless.
                ok &= reset.Error is null || reset.Error.Contains("UNKNOWN_SETTING", StringComparison.Ordinal);
            }
        }

        if (statement.Database is not null)
        {
            using var use = connection.Query("USE default", "Null", []);
            ok &= use.Error is null;
        }

        return ok;
    }

    private static HttpStatement Internal(string sql, string format = "TabSeparated") => new()
    {
        Sql = sql,
        Parameters = [],
        Settings = [],
        QueryId = "internal",
        DefaultFormat = format,
        User = "default",
    };

    private static void ThrowIfFailed(StatementOutcome outcome)
    {
        if (outcome.Error is { } error)
        {
            throw new InvalidOperationException("The interface's own statement failed: " + error);
        }
    }

    private static StatementOutcome Failed(string error, string format, Stopwatch started)
    {
        var match = ErrorCode().Match(error);
        var code = match.Success ? int.Parse(match.Groups["code"].Value, CultureInfo.InvariantCulture) : 1001;
        return new StatementOutcome([], format, error.TrimEnd() + "\n", code, 0, 0, 0, 0, started.Elapsed);
    }

    /// <summary>An error of the interface's own, in the text form the engine uses.</summary>
    public StatementOutcome Refused(int code, string name, string message, string format) =>
        new([], format, string.Create(CultureInfo.InvariantCulture, $"Code: {code}. DB::Exception: {message}. ({name}) (version {Version})\n"),
            code, 0, 0, 0, 0, TimeSpan.Zero);

    private static bool IsTrue(IReadOnlyList<KeyValuePair<string, string>> settings, string name) =>
        settings.Any(s => s.Key == name && s.Value is "1" or "true");

    private static string QuoteIdentifier(string name) => "`" + name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("`", "\\`", StringComparison.Ordinal) + "`";

    private static string OneLine(string sql)
    {
        var flat = string.Join(' ', sql.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return flat.Length <= 160 ? flat : flat[..160] + "…";
    }

    [GeneratedRegex(@"Code: (?<code>\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorCode();
}
