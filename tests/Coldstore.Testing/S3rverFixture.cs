using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace Coldstore.Testing;

/// <summary>
/// Runs the s3rver S3 emulator (tools/node_modules/s3rver, pinned in tools/package.json) on a free loopback port
/// with a temporary data directory and one bucket, for the lifetime of a test collection. A missing node or
/// package fails the tests with the command that fixes it; they are never skipped.
/// </summary>
/// <remarks>
/// s3rver accepts the access key <see cref="AccessKeyId"/> / <see cref="SecretAccessKey"/>, but it does not verify
/// SigV4 signatures: a wrong secret with the right key id is accepted, while an unknown key id is refused
/// (InvalidAccessKeyId, HTTP 403).
/// </remarks>
public sealed partial class S3rverFixture : IAsyncLifetime
{
    /// <summary>The access key id s3rver knows.</summary>
    public const string AccessKeyId = "S3RVER";

    /// <summary>The secret access key s3rver knows.</summary>
    public const string SecretAccessKey = "S3RVER";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private Process? _process;
    private string? _dataDirectory;

    /// <summary>The bucket created at start.</summary>
    public string Bucket { get; } = "coldstore-test";

    /// <summary>The emulator's endpoint, e.g. <c>http://127.0.0.1:41234</c>; valid after initialization.</summary>
    public Uri Endpoint { get; private set; } = new("http://127.0.0.1:1");

    /// <summary>The directory where s3rver keeps objects (each as <c>key._S3rver_object</c>).</summary>
    public string DataDirectory => _dataDirectory ?? throw new InvalidOperationException("s3rver has not started.");

    /// <summary>A key prefix no other test uses, e.g. <c>MyTests-3f2a9c1b/</c>: give each test class its own.</summary>
    public static string UniquePrefix(string owner)
    {
        var safe = UnsafeCharacters().Replace(owner, "-");
        return $"{safe[..Math.Min(safe.Length, 40)]}-{Guid.NewGuid().ToString("N")[..8]}/";
    }

    /// <summary>Starts s3rver and waits until it answers for the bucket.</summary>
    public async Task InitializeAsync()
    {
        var root = FindRepositoryRoot();
        var script = Path.Combine(root, "tools", "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException(
                $"The S3 emulator is not installed ({script} is missing). Install the pinned test tools with: npm ci --prefix tools");
        }

        _dataDirectory = Directory.CreateTempSubdirectory("coldstore-s3rver-").FullName;
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var argument in new[]
                 {
                     // s3rver 3.7.1 makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) only
                     // offers from its legacy provider; without it every truncated listing answers 500 InternalError.
                     "--openssl-legacy-provider",
                     script, "--directory", _dataDirectory, "--address", "127.0.0.1",
                     // Port 0: the OS picks a free port and s3rver prints it, so parallel runs never collide.
                     "--port", "0", "--silent", "--configure-bucket", Bucket,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "node was not found on PATH; the S3 tests need Node.js 20 or later (e.g. apt-get install nodejs), then: npm ci --prefix tools", e);
        }

        // A test run must not leave node behind even when xunit never gets to DisposeAsync.
        AppDomain.CurrentDomain.ProcessExit += KillOnExit;
        var errors = new System.Text.StringBuilder();
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            Endpoint = await ReadEndpointAsync(_process, timeout.Token);
            await WaitUntilAnsweringAsync(timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or HttpRequestException)
        {
            string stderr;
            lock (errors)
            {
                stderr = errors.ToString();
            }

            await DisposeAsync();
            throw new InvalidOperationException(
                $"s3rver did not start within {StartTimeout.TotalSeconds:0} s ({e.Message}). Its error output: {stderr.Trim()} "
                + "If the package is broken, reinstall it with: npm ci --prefix tools", e);
        }
    }

    /// <summary>Stops s3rver (its whole process tree) and deletes its data.</summary>
    public async Task DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        if (_process is { } process)
        {
            _process = null;
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await process.WaitForExitAsync(wait.Token);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            finally
            {
                process.Dispose();
            }
        }

        if (_dataDirectory is { } directory && Directory.Exists(directory))
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A temp directory left behind is harmless; a failing dispose would hide the real test result.
            }
        }
    }

    private static async Task<Uri> ReadEndpointAsync(Process process, CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(cancellationToken)
                ?? throw new InvalidOperationException($"s3rver exited with code {(process.WaitForExit(1000) ? process.ExitCode : -1)} before listening.");
            var match = ListeningLine().Match(line);
            if (match.Success)
            {
                // Keep draining stdout so s3rver never blocks on a full pipe.
                _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return new Uri($"http://{match.Groups["address"].Value}:{match.Groups["port"].Value}");
            }
        }
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (true)
        {
            try
            {
                // An unsigned request is anonymous to s3rver; 200 means the bucket exists.
                using var response = await http.GetAsync(new Uri(Endpoint, $"/{Bucket}?list-type=2&max-keys=1"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    // The repository's root: the nearest directory above the test binaries that holds Coldstore.slnx.
    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Coldstore.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Coldstore.slnx above {AppContext.BaseDirectory}; run the tests from the repository.");
    }

    [GeneratedRegex(@"listening on (?<address>[0-9.]+):(?<port>\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex UnsafeCharacters();
}
