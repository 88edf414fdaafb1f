using Coldstore.State.Postgres;
using Coldstore.State.Sqlite;
using Npgsql;

namespace Coldstore.State.Tests;

/// <summary>Shape checks of the SQL text and pure helpers; no database needed.</summary>
public sealed class StateSqlTests
{
    [Fact]
    public void Migration_versions_ascend_from_one_without_gaps_and_match_between_engines()
    {
        var postgres = PostgresMigrations.All.Select(m => (m.Version, m.Name)).ToList();
        var sqlite = SqliteMigrations.All.Select(m => (m.Version, m.Name)).ToList();

        Assert.Equal(Enumerable.Range(1, postgres.Count), postgres.Select(m => m.Version));
        Assert.Equal(postgres, sqlite);
    }

    [Fact]
    public void Dittofeeds_tables_are_created_only_when_absent()
    {
        Assert.All(PostgresMigrations.All[0].Steps, step => Assert.NotNull(step.SkipWhen));
        Assert.All(SqliteMigrations.All[0].Steps, step => Assert.NotNull(step.SkipWhen));
        Assert.All(PostgresMigrations.All[1].Steps, step => Assert.Contains("coldstoreStorage", step.SkipWhen, StringComparison.Ordinal));
        Assert.All(SqliteMigrations.All[1].Steps, step => Assert.Contains("coldstoreStorage", step.SkipWhen, StringComparison.Ordinal));
    }

    [Fact]
    public void The_lease_upserts_overwrite_only_an_expired_lease_on_the_database_clock()
    {
        Assert.Contains("""ON CONFLICT ("workspaceId") DO UPDATE""", PostgresSql.AcquireLease, StringComparison.Ordinal);
        Assert.Contains("""WHERE l."expiresAt" < now()""", PostgresSql.AcquireLease, StringComparison.Ordinal);
        Assert.Contains("""ON CONFLICT ("workspaceId") DO UPDATE""", SqliteSql.AcquireLease, StringComparison.Ordinal);
        Assert.Contains($"""WHERE "ColdstoreLease"."expiresAt" < {SqliteSql.Now}""", SqliteSql.AcquireLease, StringComparison.Ordinal);
    }

    [Fact]
    public void Renew_and_release_are_fenced_by_the_token()
    {
        foreach (var sql in new[] { PostgresSql.RenewLease, PostgresSql.ReleaseLease, SqliteSql.RenewLease, SqliteSql.ReleaseLease })
        {
            Assert.Contains("""
                "token" = @token
                """.Trim(), sql, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Statements_bind_values_instead_of_formatting_them()
    {
        var statements = new[]
        {
            PostgresSql.InsertWorkspace, PostgresSql.SetStorage, PostgresSql.InsertArchive, PostgresSql.UpdateArchive, PostgresSql.AcquireLease,
            PostgresSql.SelectWorkspaceForUpdate, PostgresSql.UpdateWorkspaceStatus,
            SqliteSql.InsertWorkspace, SqliteSql.SetStorage, SqliteSql.InsertArchive, SqliteSql.UpdateArchive, SqliteSql.AcquireLease,
            SqliteSql.UpdateWorkspaceStatus,
        };

        Assert.All(statements, sql =>
        {
            Assert.DoesNotContain("{", sql, StringComparison.Ordinal);
            Assert.Contains("@", sql, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void A_lifecycle_change_locks_the_row_it_reads_and_stamps_the_update_time_from_the_database_clock()
    {
        Assert.EndsWith("FOR UPDATE", PostgresSql.SelectWorkspaceForUpdate, StringComparison.Ordinal);
        Assert.Contains("\"updatedAt\" = now() AT TIME ZONE 'UTC'", PostgresSql.UpdateWorkspaceStatus, StringComparison.Ordinal);
        Assert.Contains($"\"updatedAt\" = {SqliteSql.Now}", SqliteSql.UpdateWorkspaceStatus, StringComparison.Ordinal);
    }

    [Fact]
    public void The_notify_migration_replaces_its_objects_and_notifies_only_inserts_and_real_status_changes()
    {
        var notify = Assert.Single(PostgresMigrations.All, m => m.Version == 5);
        var sql = string.Join('\n', notify.Steps.Select(step => step.Sql));

        Assert.All(notify.Steps, step => Assert.StartsWith("CREATE OR REPLACE ", step.Sql, StringComparison.Ordinal));
        Assert.Contains("pg_notify('coldstore_workspace', NEW.\"id\"::text)", sql, StringComparison.Ordinal);
        Assert.Contains("AFTER INSERT ON \"Workspace\"", sql, StringComparison.Ordinal);
        Assert.Contains("WHEN (OLD.\"status\" IS DISTINCT FROM NEW.\"status\")", sql, StringComparison.Ordinal);
        Assert.Equal("LISTEN coldstore_workspace", PostgresSql.ListenWorkspaceChanges);
        Assert.Empty(Assert.Single(SqliteMigrations.All, m => m.Version == 5).Steps);
    }

    [Theory]
    [InlineData(1, 0.0, 125)]
    [InlineData(1, 1.0, 250)]
    [InlineData(2, 1.0, 500)]
    [InlineData(4, 0.5, 1_500)]
    [InlineData(8, 1.0, 30_000)]
    [InlineData(1_000, 0.0, 15_000)]
    [InlineData(int.MaxValue, 1.0, 30_000)]
    public void The_feed_backs_off_exponentially_with_jitter_up_to_a_cap(int failures, double jitter, int expectedMilliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), PostgresStore.ReconnectDelay(failures, jitter));
    }

    [Fact]
    public void The_feed_listens_on_an_unpooled_kept_alive_connection_named_for_operators()
    {
        var plain = PostgresStore.FeedSettings(new NpgsqlConnectionStringBuilder("Host=db;Username=cs;Password=hunter2-secret"));
        var configured = PostgresStore.FeedSettings(new NpgsqlConnectionStringBuilder("Host=db;Application Name=worker;Keepalive=5"));

        Assert.False(plain.Pooling);
        Assert.True(plain.TcpKeepAlive);
        Assert.Equal(PostgresStore.FeedKeepAliveSeconds, plain.KeepAlive);
        Assert.Equal("coldstore-workspace-feed", plain.ApplicationName);
        Assert.Equal("hunter2-secret", plain.Password); // It still has to log in.
        Assert.Equal(5, configured.KeepAlive);
        Assert.Equal("worker-workspace-feed", configured.ApplicationName);
    }

    [Theory]
    [InlineData(1500, "+1.500 seconds")]
    [InlineData(1, "+0.001 seconds")]
    [InlineData(86_400_000, "+86400.000 seconds")]
    public void A_lease_duration_becomes_a_sqlite_date_modifier(int milliseconds, string expected)
    {
        Assert.Equal(expected, Coldstore.State.Sqlite.StateTime.Modifier(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Fact]
    public void Instants_are_stored_as_fixed_width_utc_text_truncated_to_the_millisecond()
    {
        var instant = new DateTime(2025, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc).AddTicks(9_999);

        var text = Coldstore.State.Sqlite.StateTime.ToText(instant);
        var back = Coldstore.State.Sqlite.StateTime.FromText(text);

        Assert.Equal("2025-01-02 03:04:05.678", text);
        Assert.Equal(DateTimeKind.Utc, back.Kind);
        Assert.Equal(new DateTime(2025, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), back);
    }

    [Theory]
    [InlineData("Workspace_pkey", "the id is taken")]
    [InlineData("Workspace_parentWorkspaceId_externalId_key", "(parentWorkspaceId, externalId)")]
    [InlineData("Workspace_parentWorkspaceId_name_key", "(parentWorkspaceId, name)")]
    [InlineData("something_else", "something_else")]
    public void A_unique_constraint_names_its_workspace_rule(string constraint, string expected)
    {
        Assert.Contains(expected, PostgresErrors.WorkspaceRule(constraint), StringComparison.Ordinal);
    }

    [Fact]
    public void The_postgres_description_never_includes_the_password()
    {
        var settings = new NpgsqlConnectionStringBuilder("Host=db.internal;Port=6543;Database=dittofeed;Username=cs;Password=hunter2-secret;Search Path=tenant");

        var description = PostgresStore.Describe(settings);

        Assert.Equal("Postgres db.internal:6543/dittofeed as cs, search path tenant", description);
    }

    [Theory]
    [InlineData("08006", true)]
    [InlineData("28P01", true)]
    [InlineData("3D000", true)]
    [InlineData("57P03", true)]
    [InlineData("23505", false)]
    [InlineData("42P01", false)]
    public void Only_connection_level_sqlstates_mean_the_store_is_unavailable(string sqlState, bool unavailable)
    {
        Assert.Equal(unavailable, PostgresErrors.IsUnavailableSqlState(sqlState));
    }
}
