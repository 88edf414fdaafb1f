using System.Text.RegularExpressions;
using Coldstore.Testing;
using YamlDotNet.RepresentationModel;

namespace Coldstore.Tests;

/// <summary>
/// The GitHub Actions workflow cannot run here (no Docker), so its structure is checked instead: parsed with a real
/// YAML parser, it must test both ClickHouse versions against real servers, start MinIO, run scripts/test.sh, and set
/// no COLDSTORE_TEST_ variable that no test or script reads (a typo there would silently test nothing).
/// </summary>
public sealed class WorkflowTests
{
    private const string VariablePrefix = "COLDSTORE_TEST_";

    private static readonly string Root = Repository.Root;

    private static readonly YamlMappingNode Workflow = Load(Path.Combine(Root, ".github", "workflows", "ci.yml"));

    private static YamlMappingNode TestJob =>
        Assert.Single(Mapping(Workflow, "jobs").Children.Values.OfType<YamlMappingNode>(), job => job.Children.ContainsKey(Key("strategy")));

    [Fact]
    public void One_job_runs_over_ClickHouse_24_12_and_25_8_with_the_versions_quoted()
    {
        var versions = Sequence(Mapping(Mapping(TestJob, "strategy"), "matrix"), "clickhouse").Children.Cast<YamlScalarNode>().ToList();

        Assert.Equal(["24.12", "25.8"], versions.Select(v => v.Value));
        // A plain 25.10 would be read as the number 25.1 by many tools; quoted, a version stays text.
        Assert.All(versions, v => Assert.NotEqual(YamlDotNet.Core.ScalarStyle.Plain, v.Style));
    }

    [Fact]
    public void ClickHouse_of_the_matrix_version_and_Postgres_run_as_services_with_the_credentials_the_tests_are_given()
    {
        var services = Mapping(TestJob, "services");
        var env = Mapping(TestJob, "env");

        var clickHouse = Assert.Single(services.Children.Values.OfType<YamlMappingNode>(), s => Text(s, "image").StartsWith("clickhouse/clickhouse-server:", StringComparison.Ordinal));
        Assert.Equal("clickhouse/clickhouse-server:${{ matrix.clickhouse }}", Text(clickHouse, "image"));
        Assert.Contains("8123:8123", Sequence(clickHouse, "ports").Children.Cast<YamlScalarNode>().Select(p => p.Value));
        var url = new Uri(Text(env, VariablePrefix + "CLICKHOUSE_URL"));
        Assert.Equal(8123, url.Port);
        Assert.Equal($"{Text(Mapping(clickHouse, "env"), "CLICKHOUSE_USER")}:{Text(Mapping(clickHouse, "env"), "CLICKHOUSE_PASSWORD")}", url.UserInfo);

        var postgres = Assert.Single(services.Children.Values.OfType<YamlMappingNode>(), s => Text(s, "image").StartsWith("postgres:", StringComparison.Ordinal));
        Assert.Contains("5432:5432", Sequence(postgres, "ports").Children.Cast<YamlScalarNode>().Select(p => p.Value));
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(Text(env, VariablePrefix + "POSTGRES"));
        Assert.Equal(5432, connection.Port);
        Assert.Equal(Text(Mapping(postgres, "env"), "POSTGRES_PASSWORD"), connection.Password);
    }

    [Fact]
    public void MinIO_is_started_on_the_services_network_under_the_name_ClickHouse_is_given_before_the_tests_run()
    {
        var env = Mapping(TestJob, "env");
        var runs = Steps().Select(step => step.Children.TryGetValue(Key("run"), out var run) ? ((YamlScalarNode)run).Value ?? string.Empty : string.Empty).ToList();

        var minio = runs.FindIndex(run => run.Contains("docker run", StringComparison.Ordinal) && run.Contains("minio/minio:", StringComparison.Ordinal));
        Assert.True(minio >= 0, "no step starts MinIO with docker run");
        var start = runs[minio];
        // A service container cannot be given this command; that is why MinIO is started in a step.
        Assert.Contains(" server /data", start, StringComparison.Ordinal);
        Assert.Contains("--network ${{ job.services.", start, StringComparison.Ordinal);
        var forClickHouse = new Uri(Text(env, VariablePrefix + "S3_ENDPOINT_FOR_CLICKHOUSE"));
        Assert.Contains($"--network-alias {forClickHouse.Host}", start, StringComparison.Ordinal);
        var endpoint = new Uri(Text(env, VariablePrefix + "S3_ENDPOINT"));
        Assert.Contains($"-p {endpoint.Port}:{forClickHouse.Port}", start, StringComparison.Ordinal);
        Assert.Contains($"MINIO_ROOT_USER=\"${VariablePrefix}S3_ACCESS_KEY\"", start, StringComparison.Ordinal);
        Assert.Contains($"MINIO_ROOT_PASSWORD=\"${VariablePrefix}S3_SECRET_KEY\"", start, StringComparison.Ordinal);
        // MinIO refuses a root password shorter than 8 characters.
        Assert.True(Text(env, VariablePrefix + "S3_SECRET_KEY").Length >= 8);

        var test = runs.FindIndex(run => Regex.IsMatch(run, @"(^|\s)scripts/test\.sh(\s|$)"));
        Assert.True(test > minio, "scripts/test.sh must run, after MinIO has started");
    }

    [Fact]
    public void The_job_sets_up_dotnet_from_global_json_and_node_20()
    {
        var uses = Steps().Where(s => s.Children.ContainsKey(Key("uses"))).ToDictionary(s => Text(s, "uses").Split('@')[0], s => s);

        Assert.Equal("global.json", Text(Mapping(uses["actions/setup-dotnet"], "with"), "global-json-file"));
        Assert.Equal("20", Text(Mapping(uses["actions/setup-node"], "with"), "node-version"));
        Assert.True(File.Exists(Path.Combine(Root, "global.json")));
    }

    [Fact]
    public void Every_COLDSTORE_TEST_variable_the_workflow_sets_is_read_by_a_test_or_a_script()
    {
        var set = EnvironmentKeys(Workflow).Where(k => k.StartsWith(VariablePrefix, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(
            new[] { "CLICKHOUSE_URL", "POSTGRES", "S3_ENDPOINT", "S3_ENDPOINT_FOR_CLICKHOUSE", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET" }
                .Select(n => VariablePrefix + n).ToHashSet(StringComparer.Ordinal),
            set);

        // This file names the variables itself, so it does not count as a reader.
        var sources = Directory.EnumerateFiles(Path.Combine(Root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && Path.GetFileName(path) != $"{nameof(WorkflowTests)}.cs")
            .Concat(Directory.EnumerateFiles(Path.Combine(Root, "scripts"), "*.sh"))
            .Select(File.ReadAllText)
            .ToList();
        Assert.True(sources.Count > 10, "the test and script sources were not found");
        var unread = set.Where(name => !sources.Any(text => Regex.IsMatch(text, $@"\b{name}\b"))).Order(StringComparer.Ordinal).ToList();
        Assert.True(unread.Count == 0, $"set by the workflow but read by no test or script: {string.Join(", ", unread)}");
    }

    private static IEnumerable<YamlMappingNode> Steps() => Sequence(TestJob, "steps").Children.Cast<YamlMappingNode>();

    /// <summary>The keys of every <c>env</c> map in the workflow (workflow, job and step level), services' included.</summary>
    private static IEnumerable<string> EnvironmentKeys(YamlNode node) => node switch
    {
        YamlMappingNode map => map.Children.SelectMany(pair =>
            pair.Key is YamlScalarNode { Value: "env" } && pair.Value is YamlMappingNode env
                ? env.Children.Keys.Cast<YamlScalarNode>().Select(k => k.Value!)
                : EnvironmentKeys(pair.Value)),
        YamlSequenceNode sequence => sequence.Children.SelectMany(EnvironmentKeys),
        _ => [],
    };

    private static YamlScalarNode Key(string name) => new(name);

    private static YamlMappingNode Mapping(YamlMappingNode node, string key) =>
        Assert.IsType<YamlMappingNode>(node.Children[Key(key)]);

    private static YamlSequenceNode Sequence(YamlMappingNode node, string key) =>
        Assert.IsType<YamlSequenceNode>(node.Children[Key(key)]);

    private static string Text(YamlMappingNode node, string key) =>
        Assert.IsType<YamlScalarNode>(node.Children[Key(key)]).Value ?? string.Empty;

    private static YamlMappingNode Load(string path)
    {
        Assert.True(File.Exists(path), $"{path} is missing");
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return Assert.IsType<YamlMappingNode>(Assert.Single(stream.Documents).RootNode);
    }
}
