using Coldstore.Cli;
using Coldstore.Errors;

namespace Coldstore.Tests;

/// <summary>The exit code scripts see for each kind of failure.</summary>
public sealed class ExitCodeTests
{
    [Fact]
    public void A_lost_lease_exits_as_a_lease_conflict_does()
    {
        var workspace = Guid.NewGuid();
        var busy = new WorkspaceOperationException(workspace, "archive", "busy", WorkspaceErrorKind.Busy);
        var lost = new LeaseLostException(workspace, "update-archive", "lost");

        Assert.Equal(ExitCodes.Conflict, CommandContext.ToExitCode(busy));
        Assert.Equal(CommandContext.ToExitCode(busy), CommandContext.ToExitCode(lost));
    }
}
