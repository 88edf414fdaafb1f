namespace Coldstore.ClickHouse.Tests;

/// <summary>
/// The entry point used only when the test assembly runs as a child process (see Chdb/ChildProcess);
/// the test host never calls it.
/// </summary>
internal static class Program
{
    private static Task<int> Main(string[] args) =>
        args.Length == 0 ? Task.FromResult(0) : Chdb.ChildProcess.MainAsync(args);
}
