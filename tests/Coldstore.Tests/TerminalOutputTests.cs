using System.Text.RegularExpressions;
using Coldstore.Cli;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Coldstore.Tests;

/// <summary>
/// What a person sees on a terminal: live progress displays (drawn into captured stderr as on a real ANSI terminal)
/// never have log lines printed into them; one-shot commands print no info logs without <c>--verbose</c>; warnings
/// still appear, once the display has ended.
/// </summary>
public sealed partial class TerminalOutputTests(SqliteAndLocalDirectoryTarget target) : IClassFixture<SqliteAndLocalDirectoryTarget>
{
    // Spectre.Console hides the cursor when a live display starts and shows it again when the display has ended.
    private const string LiveStart = "\u001b[?25l";
    private const string LiveEnd = "\u001b[?25h";

    [GeneratedRegex(@"\d\d:\d\d:\d\d\.\d{3} (trce|dbug|info|warn|fail|crit): ")]
    private static partial Regex LogLine();

    /// <summary>stderr cut into what was drawn while a live display ran, and what was printed outside any.</summary>
    private sealed record Screen(IReadOnlyList<string> Live, IReadOnlyList<string> Outside)
    {
        public static Screen Of(string stderr)
        {
            var live = new List<string>();
            var outside = new List<string>();
            var position = 0;
            while (true)
            {
                var start = stderr.IndexOf(LiveStart, position, StringComparison.Ordinal);
                if (start < 0)
                {
                    outside.Add(stderr[position..]);
                    return new Screen(live, outside);
                }

                outside.Add(stderr[position..start]);
                var end = stderr.IndexOf(LiveEnd, start, StringComparison.Ordinal);
                Assert.True(end > start, $"a live display started at {start} and never ended:\n{stderr[start..]}");
                live.Add(stderr[start..end]);
                position = end + LiveEnd.Length;
            }
        }
    }

    [Fact]
    public async Task Without_verbose_the_demo_draws_its_bars_and_prints_no_log_lines_at_all()
    {
        var demo = await Cli.RunOnTerminalAsync(target.Args(["demo", "--events", "300"], target.NewDatabase(), await target.NewStateAsync()));

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("Round trip exact", demo.Stdout, StringComparison.Ordinal);
        var screen = Screen.Of(demo.Stderr);
        // Ingest, to cold and back to hot: one display of bars each.
        Assert.Equal(3, screen.Live.Count);
        Assert.Contains("ingest demo-", screen.Live[0], StringComparison.Ordinal);
        Assert.Contains("pause demo-", screen.Live[1], StringComparison.Ordinal);
        Assert.Contains("resume demo-", screen.Live[2], StringComparison.Ordinal);
        Assert.DoesNotMatch(LogLine(), demo.Stderr);
    }

    [Fact]
    public async Task With_verbose_the_demo_logs_but_each_line_waits_until_the_display_it_was_logged_in_has_ended()
    {
        var demo = await Cli.RunOnTerminalAsync(target.Args(["demo", "--events", "300", "--verbose"], target.NewDatabase(), await target.NewStateAsync()));

        Assert.True(demo.ExitCode == 0, demo.ToString());
        var screen = Screen.Of(demo.Stderr);
        Assert.Equal(3, screen.Live.Count);
        Assert.All(screen.Live, live => Assert.DoesNotMatch(LogLine(), live));
        // Each workspace's ingest is logged during the first display and printed right after it, before the next
        // display starts (outside[0] precedes the first display, outside[1] lies between the first and the second).
        var ingested = Regex.Matches(screen.Outside[1], @"info: Coldstore\.Services\.ColdstoreService\[1002\] Ingested");
        Assert.True(ingested.Count == 4, $"expected the four ingests logged between the first and second display:\n{screen.Outside[1]}");
        Assert.DoesNotMatch(@"\[1002\] Ingested", screen.Outside[0] + screen.Outside[2] + screen.Outside[3]);
    }

    [Fact]
    public async Task Archive_and_restore_on_a_terminal_show_a_spinner_and_no_log_lines_without_verbose_and_only_after_it_with_verbose()
    {
        var created = await target.RunAsync("workspace", "create", "--name", $"term-{Guid.NewGuid():N}");
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = created.Stdout.Trim();
        var ingest = await target.RunAsync("ingest", "--workspace", id, "--generate", "200", "--seed", "3");
        Assert.True(ingest.ExitCode == 0, ingest.ToString());

        var archive = await Cli.RunOnTerminalAsync(target.Args(["archive", id]));
        var restore = await Cli.RunOnTerminalAsync(target.Args(["restore", id, "--verbose"]));

        Assert.True(archive.ExitCode == 0, archive.ToString());
        Assert.Single(Screen.Of(archive.Stderr).Live);
        Assert.DoesNotMatch(LogLine(), archive.Stderr);
        Assert.Contains("storage now", archive.Stderr, StringComparison.Ordinal);

        Assert.True(restore.ExitCode == 0, restore.ToString());
        var screen = Screen.Of(restore.Stderr);
        var live = Assert.Single(screen.Live);
        Assert.DoesNotMatch(LogLine(), live);
        Assert.Matches(LogLine(), screen.Outside[1]);
    }

    [Fact]
    public async Task A_warning_logged_while_a_display_is_live_is_printed_once_after_it_and_info_is_not_printed()
    {
        using var captured = new StringWriter { NewLine = "\n" };
        var stderr = TextWriter.Synchronized(captured);
        var output = new CliOutput(TextWriter.Null, stderr, json: false, new CliTerminal());
        using var loggers = CommandContext.CreateLoggerFactory(output, verbose: false, LogLevel.None);
        var service = loggers.CreateLogger("Coldstore.Services.ColdstoreService");
        var driver = loggers.CreateLogger("Coldstore.ClickHouse.Chdb.ChdbClient");

        await output.LiveAsync(() => output.Console.Progress().StartAsync(async context =>
        {
            var bar = context.AddTask("archive something", maxValue: 10);
            for (var i = 0; i < 10; i++)
            {
                bar.Increment(1);
                if (i == 5)
                {
                    // From another thread, as a lease renewal would, while the bars keep redrawing around it.
                    await Task.Run(() =>
                    {
                        LeaseRenewalFailed(service, "connection reset");
                        Archived(service, 10);
                        StatementRan(driver, "a statement");
                    });
                }

                await Task.Delay(40);
            }
        }));
        output.Info("after the display");
        SomethingFailed(service);

        var text = captured.ToString();
        var screen = Screen.Of(text);
        var live = Assert.Single(screen.Live);
        Assert.Contains("archive something", live, StringComparison.Ordinal);
        Assert.DoesNotMatch(LogLine(), live);
        var warning = Assert.Single(Regex.Matches(text, @"warn: Coldstore\.Services\.ColdstoreService\[1101\] Renewing the lease failed: connection reset"));
        Assert.True(warning.Index > text.LastIndexOf(LiveEnd, StringComparison.Ordinal), text);
        Assert.True(warning.Index < text.IndexOf("after the display", StringComparison.Ordinal), "held lines are printed as soon as the display ends:\n" + text);
        // Outside a display a line is printed at once, in order.
        Assert.True(text.IndexOf("fail: Coldstore.Services.ColdstoreService[1300] Something failed", StringComparison.Ordinal) > text.IndexOf("after the display", StringComparison.Ordinal), text);
        Assert.DoesNotContain("Archived 10 rows", text, StringComparison.Ordinal);
        Assert.DoesNotContain("chDB ran", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_error_with_an_exception_waits_for_the_outcome_dropped_when_the_command_fails_printed_when_it_succeeds()
    {
        using var captured = new StringWriter { NewLine = "\n" };
        var output = new CliOutput(TextWriter.Null, captured, json: false) { HoldFailureLogs = true };
        using var loggers = CommandContext.CreateLoggerFactory(output, verbose: false, LogLevel.None);
        var store = loggers.CreateLogger("Coldstore.State.Postgres.PostgresStateStore");

        StoreUnavailable(store, new IOException("connection refused"));
        Assert.Empty(captured.ToString());
        output.DropFailureLogs();
        output.FlushFailureLogs();
        Assert.Empty(captured.ToString());

        StoreUnavailable(store, new IOException("connection reset"));
        SomethingFailed(store);
        // An error without an exception is not the command's own failure: it is printed at once.
        Assert.Contains("[1300] Something failed after the display", captured.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("connection reset", captured.ToString(), StringComparison.Ordinal);
        output.FlushFailureLogs();
        var line = Assert.Single(captured.ToString().Split('\n'), l => l.Contains("[3005]", StringComparison.Ordinal));
        Assert.Matches(LogLine(), line);
        Assert.Contains("State store is unavailable System.IO.IOException: connection reset", line, StringComparison.Ordinal);
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "State store is unavailable")]
    private static partial void StoreUnavailable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Renewing the lease failed: {Reason}")]
    private static partial void LeaseRenewalFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Archived {Rows} rows")]
    private static partial void Archived(ILogger logger, int rows);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "chDB ran {Purpose}")]
    private static partial void StatementRan(ILogger logger, string purpose);

    [LoggerMessage(EventId = 1300, Level = LogLevel.Error, Message = "Something failed after the display")]
    private static partial void SomethingFailed(ILogger logger);

    [Theory]
    // The worker (no live display) reports its own work at Information without --verbose, not its drivers' chatter.
    [InlineData("Coldstore.Services.ColdstoreWorker", LogLevel.Information, false, LogLevel.Information, true)]
    [InlineData("Coldstore.Services.ColdstoreWorker", LogLevel.Debug, false, LogLevel.Information, false)]
    [InlineData("Coldstore.ClickHouse.Chdb.ChdbClient", LogLevel.Information, false, LogLevel.Information, false)]
    [InlineData("Coldstore.ClickHouse.Chdb.ChdbClient", LogLevel.Warning, false, LogLevel.Information, true)]
    // One-shot commands (demo, archive, restore, lifecycle) print no info without --verbose; warnings and errors still.
    [InlineData("Coldstore.Services.ColdstoreService", LogLevel.Information, false, LogLevel.None, false)]
    [InlineData("Coldstore.Services.ColdstoreService", LogLevel.Warning, false, LogLevel.None, true)]
    [InlineData("Coldstore.State.Sqlite.SqliteStateStore", LogLevel.Error, false, LogLevel.None, true)]
    // --verbose shows everything, drivers' statements included.
    [InlineData("Coldstore.ClickHouse.Chdb.ChdbClient", LogLevel.Debug, true, LogLevel.None, true)]
    [InlineData("Coldstore.Services.ColdstoreService", LogLevel.None, true, LogLevel.None, false)]
    public void Which_log_entries_are_printed(string category, LogLevel level, bool verbose, LogLevel commandDefault, bool printed) =>
        Assert.Equal(printed, CommandContext.ShouldLog(category, level, verbose, commandDefault));
}
