using Coldstore.Testing;

namespace Coldstore.Crash.Tests.Support;

/// <summary>
/// One s3rver for the whole test run, started on first use. A collection fixture would serialize every class that
/// uses it; this lets the Postgres + S3 classes run in parallel, each test under a key prefix of its own. The
/// fixture kills node when the test process exits.
/// </summary>
public static class SharedS3rver
{
    private static readonly Lazy<Task<S3rverFixture>> Server = new(StartAsync);

    /// <summary>The running emulator.</summary>
    public static Task<S3rverFixture> GetAsync() => Server.Value;

    private static async Task<S3rverFixture> StartAsync()
    {
        var fixture = new S3rverFixture();
        await fixture.InitializeAsync();
        return fixture;
    }
}
