namespace Coldstore.Crash.Tests.Support;

/// <summary>The end state every crash test must reach: the workspace exactly as it was before, nothing else touched.</summary>
public static class RoundTrip
{
    /// <summary>
    /// Asserts that workspace A holds exactly its original rows again (full-row checksums and counts of
    /// <c>user_events_v2</c> and <c>internal_events</c>), that B never changed, that status shows A hot with all its rows
    /// and no archive, and that no archive object was left behind.
    /// </summary>
    public static async Task AssertWorkspaceIsExactlyAsBeforeAsync(Sandbox sandbox)
    {
        var template = sandbox.Template;
        var a = await sandbox.ChecksumAsync(template.A);
        var b = await sandbox.ChecksumAsync(template.B);
        var status = await sandbox.StatusAsync();

        // Counts first: a lost row or a duplicate reads better as a count than as a checksum mismatch.
        Assert.Equal(template.ARows, a.EventRows);
        Assert.Equal(template.AChecksums.InternalEventRows, a.InternalEventRows);
        Assert.Equal(template.AChecksums, a);
        Assert.Equal(template.BChecksums, b);

        var aStatus = status[template.A];
        Assert.Equal("hot", aStatus.Storage);
        Assert.Equal(template.ARows, aStatus.HotRows);
        Assert.Equal(0, aStatus.Archives);
        Assert.Equal(0, aStatus.ArchivedRows);
        var bStatus = status[template.B];
        Assert.Equal("hot", bStatus.Storage);
        Assert.Equal(template.BRows, bStatus.HotRows);

        // A restore deletes the archives it restored and whatever a rolled-back archive wrote: nothing may be left to pay for.
        Assert.Empty(await sandbox.ArchiveObjectsAsync());
    }
}
