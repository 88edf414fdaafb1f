using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// An s3rver of one test's own that can be stopped mid-operation and started again on the same port and the same data
/// directory, so the objects written before the outage are there after it (as with a real S3 that went away for a
/// while). <see cref="S3rverFixture"/> shares one emulator across a class and never stops it, which is why
/// this exists. Stopping kills the process (SIGKILL): connections break as they would when a host dies.
/// </summary>
public sealed class RestartableS3rver : IAsyncDisposable
{
    public const string Bucket = "coldstore-outage";
    public const string Key = S3rverFixture.AccessKeyId;
    public const string Secret = S3rverFixture.SecretAccessKey;

    private readonly string _root = Repository.Root;
    private readonly Lock _gate = new();
    private Process? _process;

    private RestartableS3rver(int port, string directory)
    {
        Port = port;
        DataDirectory = directory;
    }

    public int Port { get; }

    public string DataDirectory { get; }

    public Uri Endpoint => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}"));

    /// <summary>The authority tests look for in error messages, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Authority => Endpoint.GetLeftPart(UriPartial.Authority);

    public static async Task<RestartableS3rver> StartAsync()
    {
        // A free port now; s3rver binds it with SO_REUSEADDR, so a restart gets it back however the last one ended.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var server = new RestartableS3rver(port, Directory.CreateTempSubdirectory("coldstore-s3-outage-").FullName);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Kills the emulator at once, breaking every connection; safe to call from a progress callback.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            if (_process is { } process)
            {
                _process = null;
                try
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }

                process.Dispose();
            }
        }
    }

    /// <summary>Starts the emulator (again) on the same port and directory and waits until it answers for the bucket.</summary>
    public async Task RestartAsync()
    {
        Stop();
        var emulator = Path.Combine(_root, "tools", "s3rver-guarded.js");
        Assert.True(File.Exists(emulator), $"{emulator} is missing; install the test tools with: npm ci --prefix tools");
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root,
        };
        start.Environment["COLDSTORE_PARENT_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (var argument in new[]
                 {
                     "--openssl-legacy-provider", emulator, "--directory", DataDirectory, "--address", "127.0.0.1",
                     "--port", Port.ToString(CultureInfo.InvariantCulture), "--silent", "--configure-bucket", Bucket,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _process = process;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(Endpoint, $"/{Bucket}?list-type=2&max-keys=1"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"s3rver did not answer on port {Port} within 30 s (exited: {process.HasExited}).");
            await Task.Delay(100);
        }
    }

    /// <summary>Every object key the emulator holds under <paramref name="prefix"/>, read from its directory (works while it is stopped).</summary>
    public IReadOnlyList<string> KeysOnDisk(string prefix)
    {
        var bucket = Path.Combine(DataDirectory, Bucket);
        if (!Directory.Exists(bucket))
        {
            return [];
        }

        const string Suffix = "._S3rver_object";
        return Directory.EnumerateFiles(bucket, "*" + Suffix, SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(bucket, path).Replace('\\', '/')[..^Suffix.Length])
            .Where(key => key.StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory left behind is harmless.
        }

        return ValueTask.CompletedTask;
    }
}
