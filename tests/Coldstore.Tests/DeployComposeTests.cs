using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Coldstore.Cli;
using Coldstore.Archive.S3;
using Coldstore.ClickHouse.Http;
using Coldstore.Configuration;
using Coldstore.State.Postgres;
using Coldstore.Testing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Coldstore.Tests;

/// <summary>
/// deploy/docker-compose.coldstore.yaml and deploy/Dockerfile cannot run here (no Docker), so what can be wrong in
/// them without running is checked instead: the YAML, the services and their order, that every COLDSTORE_ variable
/// is one Coldstore reads, that Dittofeed's variables reach Coldstore's settings (resolved as Compose would, then
/// read by <see cref="ColdstoreConfiguration.Read(SettingSource)"/>), that no secret is written out, and that the Dockerfile builds the
/// CLI project on the repository's target framework.
/// </summary>
public sealed class DeployComposeTests
{
    // Dittofeed's service names, as github.com/dittofeed/dittofeed spells them in docker-compose.yaml,
    // docker-compose.lite.yaml and docker-compose.ee.yaml (all three alike; read at commit 52b2bee9, 2026-03-27).
    private const string DittofeedClickHouse = "clickhouse-server";
    private const string DittofeedPostgres = "postgres";
    private const string DittofeedMinio = "blob-storage";

    // The host ports Dittofeed's ClickHouse publishes in those files (HTTP, native, interserver).
    private static readonly string[] DittofeedClickHouseHostPorts = ["8123", "9000", "9009"];

    // The variables of Dittofeed this file may read: those its compose files interpolate (docker-compose.lite.yaml:
    // DATABASE_*, CLICKHOUSE_*, POSTGRES_VERSION) and the environment names of its backend's settings
    // (packages/backend-lib/src/config.ts; a setting's variable is its key in CONSTANT_CASE: clickhouseDatabase is
    // CLICKHOUSE_DATABASE, blobStorageInternalEndpoint BLOB_STORAGE_INTERNAL_ENDPOINT, databaseName DATABASE_NAME).
    private static readonly HashSet<string> DittofeedVariables = new(StringComparer.Ordinal)
    {
        "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DATABASE",
        "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD",
        "BLOB_STORAGE_INTERNAL_ENDPOINT", "BLOB_STORAGE_ACCESS_KEY_ID", "BLOB_STORAGE_SECRET_ACCESS_KEY", "BLOB_STORAGE_REGION",
        "POSTGRES_VERSION",
    };

    // The development secrets Dittofeed's compose files write out (CLICKHOUSE_PASSWORD, POSTGRES_PASSWORD and
    // MINIO_ROOT_PASSWORD "password", MINIO_ROOT_USER "admin"): the only literal a default may hold.
    private static readonly string[] DittofeedDevelopmentSecrets = ["password", "admin"];

    /// <summary>This file's own knobs (build context, image, wait), named apart from Coldstore's settings.</summary>
    private const string KnobPrefix = "CS_";

    private const string Init = "coldstore-init";
    private const string Worker = "coldstore-worker";
    private const string WaitForDittofeed = "coldstore-wait-for-dittofeed";
    private const string Bucket = "coldstore-bucket";

    private static readonly string Root = Repository.Root;

    private static readonly string ComposePath = Path.Combine(Root, "deploy", "docker-compose.coldstore.yaml");

    private static readonly YamlMappingNode Compose = LoadCompose();

    private static YamlMappingNode Services => Map(Compose, "services");

    [Fact]
    public void The_file_is_YAML_that_adds_the_coldstore_services_and_only_extends_Dittofeeds()
    {
        Assert.Superset(new HashSet<string>([Init, Worker, WaitForDittofeed, Bucket], StringComparer.Ordinal), Keys(Services).ToHashSet(StringComparer.Ordinal));

        foreach (var name in new[] { DittofeedClickHouse, DittofeedPostgres, DittofeedMinio })
        {
            // Named here only to be extended: an image or build would replace Dittofeed's service.
            var service = Map(Services, name);
            Assert.False(service.Children.ContainsKey(Key("image")), $"{name} must stay Dittofeed's (no image here)");
            Assert.False(service.Children.ContainsKey(Key("build")), $"{name} must stay Dittofeed's (no build here)");
        }

        // Compose interpolates $NAME and ${NAME} when it reads the file: a shell's own $ must be written $$.
        var bare = Scalars(Compose).Where(text => Regex.IsMatch(text.Replace("$$", string.Empty, StringComparison.Ordinal), @"\$(?!\{)")).ToList();
        Assert.True(bare.Count == 0, $"a lone $ that Compose would interpolate, in: {string.Join(" | ", bare)}");
        // And every ${…} is a form Compose reads the same way as these tests (ParseReference fails on any other).
        Assert.NotEmpty(Scalars(Compose).SelectMany(References).ToList());
    }

    [Fact]
    public void The_worker_starts_after_init_completed_and_after_Dittofeeds_ClickHouse_Postgres_and_MinIO()
    {
        var worker = DependsOn(Worker);
        Assert.Equal("service_completed_successfully", worker[Init]);
        Assert.Equal("service_completed_successfully", worker[Bucket]);
        foreach (var name in new[] { DittofeedClickHouse, DittofeedPostgres, DittofeedMinio })
        {
            Assert.True(worker.TryGetValue(name, out var condition), $"the worker does not depend on Dittofeed's {name}");
            Assert.Contains(condition, new[] { "service_started", "service_healthy" });
        }

        var init = DependsOn(Init);
        Assert.Equal("service_completed_successfully", init[WaitForDittofeed]);
        Assert.Equal("service_completed_successfully", init[Bucket]);
        Assert.True(init.ContainsKey(DittofeedClickHouse) && init.ContainsKey(DittofeedPostgres), "init needs ClickHouse and Postgres");
        Assert.True(DependsOn(Bucket).ContainsKey(DittofeedMinio), "the bucket is made in Dittofeed's MinIO");

        // Every dependency names a service of this file or one of Dittofeed's by its exact name.
        var known = Keys(Services).ToHashSet(StringComparer.Ordinal);
        foreach (var service in Keys(Services).Where(name => Map(Services, name).Children.ContainsKey(Key("depends_on"))))
        {
            Assert.All(DependsOn(service).Keys, dependency => Assert.Contains(dependency, known));
        }
    }

    [Fact]
    public void Init_and_the_worker_run_the_image_of_deploy_Dockerfile_one_shot_and_restarted_with_a_stop_grace_above_the_workers_bound()
    {
        foreach (var (service, command) in new[] { (Init, new[] { "init" }), (Worker, ["worker", "--listen", "0.0.0.0:9464"]) })
        {
            var node = Map(Services, service);
            Assert.Equal("deploy/Dockerfile", Text(Map(node, "build"), "dockerfile"));
            Assert.Equal(command, Seq(node, "command").Children.Select(c => ((YamlScalarNode)c).Value));
        }

        // The port the worker listens on is the one it exposes to the network (a Prometheus there scrapes it).
        Assert.Equal(["9464"], Seq(Map(Services, Worker), "expose").Children.Select(c => ((YamlScalarNode)c).Value));

        Assert.True(File.Exists(Path.Combine(Root, "deploy", "Dockerfile")));
        Assert.Equal(Text(Map(Services, Init), "image"), Text(Map(Services, Worker), "image"));
        Assert.Equal("no", Text(Map(Services, Init), "restart"));
        Assert.Contains(Text(Map(Services, Worker), "restart"), new[] { "always", "unless-stopped", "on-failure" });

        // The worker ends on its own within CliApp.ShutdownBound of SIGTERM; Compose must not kill it sooner.
        var grace = Duration(Text(Map(Services, Worker), "stop_grace_period"));
        Assert.True(grace > CliApp.ShutdownBound, $"stop_grace_period {grace} is not above {CliApp.ShutdownBound}");
    }

    [Fact]
    public void Every_COLDSTORE_variable_in_the_file_is_one_Coldstore_reads()
    {
        var read = VariablesColdstoreReads();
        Assert.Contains(ColdstoreSettings.ClickHouseVariable, read);
        Assert.Contains(ColdstoreSettings.StateVariable, read);

        var named = Regex.Matches(File.ReadAllText(ComposePath), @"\bCOLDSTORE_[A-Z0-9_]+\b").Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(named);
        var unknown = named.Where(name => !read.Contains(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unknown.Count == 0, $"named in the compose file but read by no Coldstore code: {string.Join(", ", unknown)}");

        // Each COLDSTORE_ setting handed to the worker is the operator's own value first, derived only when unset.
        foreach (var (name, value) in Environment(Worker).Where(e => e.Key.StartsWith("COLDSTORE_", StringComparison.Ordinal)))
        {
            Assert.Matches($@"^\$\{{{name}(:-.*)?\}}$", value);
        }
    }

    [Fact]
    public void With_Dittofeeds_defaults_the_settings_are_valid_and_point_at_Dittofeeds_services()
    {
        var environment = Resolve(Environment(Worker), new Dictionary<string, string>());
        var settings = ColdstoreConfiguration.Read(Nullable(environment), null, "/");
        var s3 = Assert.IsType<S3ArchiveOptions>(settings.Archive);

        var clickHouse = new Uri(Assert.IsType<ClickHouseHttpConnector>(settings.ClickHouse).Url);
        Assert.Equal((DittofeedClickHouse, 8123), (clickHouse.Host, clickHouse.Port));
        Assert.Equal("dittofeed", settings.Settings.Tables.Database);
        var state = new Npgsql.NpgsqlConnectionStringBuilder(Assert.IsType<PostgresStateConnector>(settings.State).ConnectionString);
        Assert.Equal((DittofeedPostgres, 5432, "dittofeed"), (state.Host, state.Port, state.Database));
        Assert.Equal(DittofeedMinio, s3.ServiceUrl?.Host);
        Assert.Equal(DittofeedMinio, s3.ClickHouseEndpoint?.Host);
        Assert.Null(s3.NamedCollection);
        Assert.Null(settings.Settings.PurgeTombstonedAfter);
        Assert.True(settings.Settings.ColdStorageEnabled);
        AssertTheWaitReads(state, Resolve(Environment(WaitForDittofeed), new Dictionary<string, string>()));

        Assert.Equal(Environment(Worker), Environment(Init));
    }

    [Fact]
    public void Dittofeeds_variables_reach_the_settings_and_the_one_shots_use_the_same_database_and_bucket()
    {
        var dittofeed = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["CLICKHOUSE_USER"] = "ch_user",
            ["CLICKHOUSE_PASSWORD"] = "ch-pass",
            ["CLICKHOUSE_DATABASE"] = "events_db",
            ["DATABASE_HOST"] = "pg.internal",
            ["DATABASE_PORT"] = "6543",
            ["DATABASE_NAME"] = "df_main",
            ["DATABASE_USER"] = "pg_user",
            ["DATABASE_PASSWORD"] = "pg-pass",
            ["BLOB_STORAGE_INTERNAL_ENDPOINT"] = "http://minio.internal:9100",
            ["BLOB_STORAGE_ACCESS_KEY_ID"] = "key-id",
            ["BLOB_STORAGE_SECRET_ACCESS_KEY"] = "secret-key",
            ["BLOB_STORAGE_REGION"] = "eu-west-1",
        };
        var worker = Resolve(Environment(Worker), dittofeed);
        var settings = ColdstoreConfiguration.Read(Nullable(worker), null, "/");
        var s3 = Assert.IsType<S3ArchiveOptions>(settings.Archive);

        var clickHouse = new Uri(Assert.IsType<ClickHouseHttpConnector>(settings.ClickHouse).Url);
        Assert.Equal("ch_user:ch-pass", clickHouse.UserInfo);
        Assert.Equal("events_db", settings.Settings.Tables.Database);
        var state = new Npgsql.NpgsqlConnectionStringBuilder(Assert.IsType<PostgresStateConnector>(settings.State).ConnectionString);
        Assert.Equal(("pg.internal", 6543, "df_main", "pg_user", "pg-pass"), (state.Host, state.Port, state.Database, state.Username, state.Password));
        Assert.Equal(new Uri("http://minio.internal:9100"), s3.ServiceUrl);
        Assert.Equal(new Uri("http://minio.internal:9100"), s3.ClickHouseEndpoint);
        Assert.Equal("eu-west-1", s3.Region);
        Assert.Equal(("key-id", "secret-key"), (worker["AWS_ACCESS_KEY_ID"], worker["AWS_SECRET_ACCESS_KEY"]));

        AssertTheWaitReads(state, Resolve(Environment(WaitForDittofeed), dittofeed));

        // The bucket is made where the worker writes, with the worker's keys.
        var bucket = Resolve(Environment(Bucket), dittofeed);
        foreach (var name in new[] { ColdstoreSettings.ArchiveVariable, S3ArchiveOptions.EndpointSetting, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY" })
        {
            Assert.Equal(worker[name], bucket[name]);
        }

        // An operator's own COLDSTORE_ value wins over the derived one.
        var own = Resolve(Environment(Worker), new Dictionary<string, string>(dittofeed) { [ColdstoreSettings.ClickHouseVariable] = "https://ops:x@ch.example:8443" });
        Assert.Equal("https://ops:x@ch.example:8443", own[ColdstoreSettings.ClickHouseVariable]);
    }

    [Fact]
    public void Every_variable_the_file_reads_is_Coldstores_Dittofeeds_or_a_knob_and_is_explained_in_the_README_section()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var start = readme.IndexOf("## Running next to Dittofeed (compose)", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no section \"Running next to Dittofeed (compose)\"");
        var end = readme.IndexOf("\n## ", start + 3, StringComparison.Ordinal);
        var section = end < 0 ? readme[start..] : readme[start..end];
        var read = VariablesColdstoreReads();
        var referenced = Scalars(Compose).SelectMany(References).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("CLICKHOUSE_PASSWORD", referenced);
        foreach (var name in referenced)
        {
            Assert.True(
                read.Contains(name) || DittofeedVariables.Contains(name) || name.StartsWith(KnobPrefix, StringComparison.Ordinal),
                $"{name} is neither a Coldstore setting, nor a Dittofeed variable, nor a {KnobPrefix} knob of this file");
            Assert.True(section.Contains($"`{name}`", StringComparison.Ordinal), $"README.md's section \"Running next to Dittofeed (compose)\" does not explain `{name}`");
        }

        // And the section names no Coldstore setting that does not exist.
        var inSection = Regex.Matches(section, @"\bCOLDSTORE_[A-Z0-9_]+\b").Select(m => m.Value).Distinct().Where(name => !read.Contains(name)).ToList();
        Assert.True(inSection.Count == 0, $"the README section names settings Coldstore does not read: {string.Join(", ", inSection)}");
    }

    [Fact]
    public void No_secret_is_written_out_only_referenced_with_at_most_Dittofeeds_development_default()
    {
        var secretName = new Regex(@"PASSWORD|SECRET|TOKEN|_KEY$|_KEY_ID$|PGPASS", RegexOptions.CultureInvariant);

        foreach (var service in Keys(Services).Where(name => Map(Services, name).Children.ContainsKey(Key("environment"))))
        {
            foreach (var (name, value) in Environment(service).Where(e => secretName.IsMatch(e.Key)))
            {
                Assert.True(Regex.IsMatch(value, @"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^${}]*)?\}$"), $"{service}: {name} must be one ${{VARIABLE}} reference, not '{value}'");
            }
        }

        // What is written out: every scalar and every default (but those of secrets, checked below), with the ${…}
        // references inside taken out.
        var written = Scalars(Compose).Concat(Scalars(Compose).SelectMany(References).Where(r => !secretName.IsMatch(r.Name)).Select(r => r.Default ?? string.Empty));
        foreach (var literal in written.Select(StripReferences))
        {
            Assert.DoesNotMatch(@"://[^\s/@:]*:[^\s/@]+@", literal);
            Assert.DoesNotMatch(@"(?i)\b(password|pwd)\s*=\s*[^;\s]", literal);
            Assert.All(DittofeedDevelopmentSecrets, secret => Assert.DoesNotMatch($@"\b{secret}\b", literal));
        }

        var defaults = Scalars(Compose).SelectMany(References).Where(r => secretName.IsMatch(r.Name)).ToList();
        Assert.Contains(defaults, r => r.Name == "CLICKHOUSE_PASSWORD");
        Assert.All(defaults, r => Assert.True(
            r.Default is null || r.Default.Length == 0 || DittofeedDevelopmentSecrets.Contains(r.Default),
            $"${{{r.Name}}} defaults to '{r.Default}', which is not one of Dittofeed's own development values"));
    }

    [Fact]
    public void Dittofeeds_services_join_the_network_of_the_coldstore_services_and_MinIO_is_enabled_on_ports_apart_from_ClickHouses()
    {
        var declared = Keys(Map(Compose, "networks")).ToHashSet(StringComparer.Ordinal);
        var ours = Networks(Worker);
        Assert.NotEmpty(ours);
        Assert.Subset(declared, ours);
        foreach (var service in new[] { Init, WaitForDittofeed, Bucket, DittofeedClickHouse, DittofeedPostgres, DittofeedMinio })
        {
            Assert.True(Networks(service).Overlaps(ours), $"{service} shares no network with the worker");
        }

        // docker-compose.lite.yaml puts MinIO behind a profile and on host port 9000, which its ClickHouse publishes too.
        var minio = Map(Services, DittofeedMinio);
        Assert.Equal("!reset", minio.Children[Key("profiles")].Tag.Value);
        var ports = Seq(minio, "ports");
        Assert.Equal("!override", ports.Tag.Value);
        var published = ports.Children.Select(p => ((YamlScalarNode)p).Value!.Split(':')[0]).ToList();
        Assert.NotEmpty(published);
        Assert.Empty(published.Intersect(DittofeedClickHouseHostPorts));
    }

    [Fact]
    public void The_Dockerfile_publishes_the_CLI_project_on_the_repositorys_target_framework()
    {
        var instructions = DockerInstructions(Path.Combine(Root, "deploy", "Dockerfile"));

        var framework = XDocument.Load(Path.Combine(Root, "Directory.Build.props")).Descendants("TargetFramework").Single().Value;
        var cli = XDocument.Load(Path.Combine(Root, "src", "Coldstore.Cli", "Coldstore.Cli.csproj"));
        Assert.Empty(cli.Descendants("TargetFramework"));
        var version = Assert.Single(Regex.Matches(framework, @"^net(\d+\.\d+)$")).Groups[1].Value;
        var images = instructions.Where(i => i.Verb == "FROM").Select(i => i.Arguments.Split(' ')[0]).ToList();
        Assert.Equal([$"mcr.microsoft.com/dotnet/sdk:{version}", $"mcr.microsoft.com/dotnet/runtime:{version}"], images);
        // The SDK image's SDK must satisfy global.json.
        var sdk = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "global.json"))).RootElement.GetProperty("sdk").GetProperty("version").GetString()!;
        Assert.StartsWith(version + ".", sdk, StringComparison.Ordinal);

        var publish = Assert.Single(instructions, i => i.Verb == "RUN" && i.Arguments.Contains("dotnet publish", StringComparison.Ordinal)).Arguments;
        var project = Regex.Match(publish, @"dotnet publish (\S+)").Groups[1].Value;
        Assert.Equal("src/Coldstore.Cli/Coldstore.Cli.csproj", project);
        Assert.True(File.Exists(Path.Combine(Root, project)), $"{project} does not exist");
        // Without it the build fetches libchdb.so with npm, which the SDK image does not have.
        Assert.Contains("-p:SkipFetchChdb=true", publish, StringComparison.Ordinal);
        Assert.Contains("'$(SkipFetchChdb)' != 'true'", File.ReadAllText(Path.Combine(Root, "src", "Coldstore.ClickHouse.Chdb", "Coldstore.ClickHouse.Chdb.csproj")), StringComparison.Ordinal);

        // Everything the publish builds is copied in (and let through the .dockerignore).
        var copied = instructions.Where(i => i.Verb == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1)).ToList();
        var ignore = File.ReadAllLines(Path.Combine(Root, "deploy", "Dockerfile.dockerignore")).Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
        Assert.All(copied, path => Assert.True(File.Exists(Path.Combine(Root, path)) || Directory.Exists(Path.Combine(Root, path)), $"COPY {path}: not in the repository"));
        Assert.All(copied, path => Assert.Contains("!" + path, ignore));
        Assert.All(ProjectClosure(Path.Combine(Root, project)), path => Assert.Contains(copied, c => c.EndsWith('/') && path.StartsWith(Path.Combine(Root, c), StringComparison.Ordinal)));
        Assert.All(new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" }, file => Assert.Contains(file, copied));

        // ENTRYPOINT coldstore, linked to the published apphost, which is named after the assembly.
        var output = Regex.Match(publish, @"-o (\S+)").Groups[1].Value;
        var assembly = cli.Descendants("AssemblyName").Single().Value;
        Assert.Equal("coldstore", cli.Descendants("ToolCommandName").Single().Value);
        Assert.Equal("[\"coldstore\"]", Assert.Single(instructions, i => i.Verb == "ENTRYPOINT").Arguments);
        Assert.Contains(instructions, i => i.Verb == "RUN" && i.Arguments == $"ln -s {output}/{assembly} /usr/local/bin/coldstore");
        Assert.Contains(instructions, i => i.Verb == "COPY" && i.Arguments == $"--from=build {output} ./");
    }

    /// <summary>The wait for Dittofeed reads Dittofeed's own database, the one the state store is.</summary>
    private static void AssertTheWaitReads(Npgsql.NpgsqlConnectionStringBuilder state, Dictionary<string, string> wait) =>
        Assert.Equal(
            (state.Host, state.Port.ToString(CultureInfo.InvariantCulture), state.Database, state.Username, state.Password),
            (wait["PGHOST"], wait["PGPORT"], wait["PGDATABASE"], wait["PGUSER"], wait["PGPASSWORD"]));

    /// <summary>Every COLDSTORE_ name a constant of the shipped assemblies (the CLI and what it references) holds.</summary>
    private static HashSet<string> VariablesColdstoreReads()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<Assembly>([typeof(CliApp).Assembly]);
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryDequeue(out var assembly))
        {
            if (!seen.Add(assembly.GetName().Name!))
            {
                continue;
            }

            foreach (var field in assembly.GetTypes().SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)))
            {
                if (field is { IsLiteral: true } && field.GetRawConstantValue() is string value && Regex.IsMatch(value, "^COLDSTORE_[A-Z0-9_]+$"))
                {
                    names.Add(value);
                }
            }

            foreach (var reference in assembly.GetReferencedAssemblies().Where(r => r.Name!.StartsWith("Coldstore", StringComparison.Ordinal)))
            {
                pending.Enqueue(Assembly.Load(reference));
            }
        }

        Assert.Contains("Coldstore.Core", seen);
        return names;
    }

    private static HashSet<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out var path))
        {
            if (!seen.Add(path))
            {
                continue;
            }

            foreach (var reference in XDocument.Load(path).Descendants("ProjectReference"))
            {
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, reference.Attribute("Include")!.Value)));
            }
        }

        Assert.True(seen.Count > 3, "the CLI's project references were not followed");
        return seen;
    }

    private sealed record Instruction(string Verb, string Arguments);

    /// <summary>The Dockerfile's instructions, comments dropped and continuation lines joined.</summary>
    private static List<Instruction> DockerInstructions(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => !l.TrimStart().StartsWith('#') && l.Trim().Length > 0);
        var joined = string.Join('\n', lines).Replace("\\\n", " ", StringComparison.Ordinal);
        return joined.Split('\n')
            .Select(l => Regex.Match(l.Trim(), @"^([A-Z]+)\s+(.*)$"))
            .Select(m => new Instruction(m.Groups[1].Value, Regex.Replace(m.Groups[2].Value, @"\s+", " ").Trim()))
            .ToList();
    }

    private sealed record Reference(string Name, string? Default);

    /// <summary>Every <c>${NAME}</c> / <c>${NAME:-default}</c> in <paramref name="text"/>, those inside defaults too.</summary>
    private static IEnumerable<Reference> References(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '$')
            {
                continue;
            }

            if (i + 1 < text.Length && text[i + 1] == '$')
            {
                i++;
                continue;
            }

            var (reference, end) = ParseReference(text, i);
            yield return reference;
            foreach (var inner in References(reference.Default ?? string.Empty))
            {
                yield return inner;
            }

            i = end - 1;
        }
    }

    /// <summary>The text as Compose would interpolate it with <paramref name="environment"/> (unset or empty: the default).</summary>
    private static string Resolve(string text, IReadOnlyDictionary<string, string> environment)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length;)
        {
            if (text[i] != '$')
            {
                result.Append(text[i++]);
            }
            else if (i + 1 < text.Length && text[i + 1] == '$')
            {
                result.Append('$');
                i += 2;
            }
            else
            {
                var (reference, end) = ParseReference(text, i);
                result.Append(environment.TryGetValue(reference.Name, out var value) && value.Length > 0 ? value : Resolve(reference.Default ?? string.Empty, environment));
                i = end;
            }
        }

        return result.ToString();
    }

    private static Dictionary<string, string> Resolve(Dictionary<string, string> variables, IReadOnlyDictionary<string, string> environment) =>
        variables.ToDictionary(pair => pair.Key, pair => Resolve(pair.Value, environment), StringComparer.Ordinal);

    private static string StripReferences(string text)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length;)
        {
            if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '$')
            {
                result.Append('$');
                i += 2;
            }
            else if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                i = ParseReference(text, i).End;
            }
            else
            {
                result.Append(text[i++]);
            }
        }

        return result.ToString();
    }

    /// <summary>Parses <c>${NAME}</c> or <c>${NAME:-default}</c> at <paramref name="start"/> (defaults may nest); any other form fails.</summary>
    private static (Reference Reference, int End) ParseReference(string text, int start)
    {
        Assert.True(start + 1 < text.Length && text[start + 1] == '{', $"only $$, ${{NAME}} and ${{NAME:-default}} are used here, not: {text[start..]}");
        var depth = 0;
        for (var i = start; i < text.Length; i++)
        {
            if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                depth++;
                i++;
            }
            else if (text[i] == '}' && --depth == 0)
            {
                var body = text[(start + 2)..i];
                var match = Regex.Match(body, @"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", RegexOptions.Singleline);
                Assert.True(match.Success, $"unsupported interpolation ${{{body}}}");
                return (new Reference(match.Groups[1].Value, match.Groups[2].Success ? match.Groups[2].Value : null), i + 1);
            }
        }

        Assert.Fail($"unclosed ${{ in: {text}");
        return default;
    }

    private static Dictionary<string, string> Environment(string service)
    {
        var node = Map(Services, service).Children[Key("environment")];
        return node switch
        {
            YamlMappingNode map => map.Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value ?? string.Empty, StringComparer.Ordinal),
            YamlSequenceNode list => list.Children.Select(c => ((YamlScalarNode)c).Value!.Split('=', 2)).ToDictionary(p => p[0], p => p.ElementAtOrDefault(1) ?? string.Empty, StringComparer.Ordinal),
            _ => throw new InvalidOperationException($"{service}: environment is neither a map nor a list"),
        };
    }

    private static Dictionary<string, string?> Nullable(Dictionary<string, string> environment) =>
        environment.ToDictionary(p => p.Key, p => (string?)p.Value, StringComparer.Ordinal);

    private static Dictionary<string, string> DependsOn(string service)
    {
        var node = Map(Services, service).Children[Key("depends_on")];
        // The short (list) form has no condition: it waits for nothing but the container's start.
        var map = Assert.IsType<YamlMappingNode>(node);
        return map.Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => Text((YamlMappingNode)p.Value, "condition"), StringComparer.Ordinal);
    }

    private static HashSet<string> Networks(string service)
    {
        var definition = Map(Services, service);
        if (!definition.Children.TryGetValue(Key("networks"), out var node))
        {
            return [];
        }

        return node switch
        {
            YamlSequenceNode list => list.Children.Select(c => ((YamlScalarNode)c).Value!).ToHashSet(StringComparer.Ordinal),
            YamlMappingNode map => Keys(map).ToHashSet(StringComparer.Ordinal),
            _ => [],
        };
    }

    private static TimeSpan Duration(string text)
    {
        var match = Regex.Match(text, @"^(\d+)(s|m)$");
        Assert.True(match.Success, $"'{text}' is not a duration of seconds or minutes");
        var amount = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value == "m" ? TimeSpan.FromMinutes(amount) : TimeSpan.FromSeconds(amount);
    }

    /// <summary>Every scalar of the document, keys included (merged and aliased nodes as Compose sees them).</summary>
    private static IEnumerable<string> Scalars(YamlNode node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? string.Empty],
        YamlMappingNode map => map.Children.SelectMany(p => Scalars(p.Key).Concat(Scalars(p.Value))),
        YamlSequenceNode sequence => sequence.Children.SelectMany(Scalars),
        _ => [],
    };

    private static IEnumerable<string> Keys(YamlMappingNode node) => node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    private static YamlScalarNode Key(string name) => new(name);

    private static YamlMappingNode Map(YamlMappingNode node, string key)
    {
        Assert.True(node.Children.TryGetValue(Key(key), out var child), $"'{key}' is missing");
        return Assert.IsType<YamlMappingNode>(child);
    }

    private static YamlSequenceNode Seq(YamlMappingNode node, string key)
    {
        Assert.True(node.Children.TryGetValue(Key(key), out var child), $"'{key}' is missing");
        return Assert.IsType<YamlSequenceNode>(child);
    }

    private static string Text(YamlMappingNode node, string key)
    {
        Assert.True(node.Children.TryGetValue(Key(key), out var child), $"'{key}' is missing");
        return Assert.IsType<YamlScalarNode>(child).Value ?? string.Empty;
    }

    /// <summary>The compose file with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied, as Compose applies them.</summary>
    private static YamlMappingNode LoadCompose()
    {
        Assert.True(File.Exists(ComposePath), $"{ComposePath} is missing");
        var stream = new YamlStream();
        using (var reader = new StreamReader(ComposePath))
        {
            stream.Load(new MergingParser(new Parser(reader)));
        }

        return Assert.IsType<YamlMappingNode>(Assert.Single(stream.Documents).RootNode);
    }
}
