namespace Coldstore.Cli;

/// <summary>The process exit codes, stable for scripts.</summary>
internal static class ExitCodes
{
    /// <summary>The operation succeeded.</summary>
    public const int Ok = 0;

    /// <summary>The operation ran and failed (or the input named something that does not exist).</summary>
    public const int Failed = 1;

    /// <summary>The command line or the configuration is wrong, or an engine cannot be reached.</summary>
    public const int UsageOrConfiguration = 2;

    /// <summary>Another operation holds the workspace, or a uniqueness rule would be broken.</summary>
    public const int Conflict = 3;
}
