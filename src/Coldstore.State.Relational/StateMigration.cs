namespace Coldstore.State.Relational;

/// <summary>One statement of a migration, optionally skipped when a probe says its object already exists.</summary>
/// <param name="Sql">The statement (SQLite allows several, separated by semicolons).</param>
/// <param name="SkipWhen">A query returning one boolean (or 0/1); when true the statement is not run. Null to always run.</param>
internal sealed record StateMigrationStep(string Sql, string? SkipWhen = null);

/// <summary>A versioned schema change, applied once in its own write transaction.</summary>
/// <param name="Version">The version; versions ascend without gaps from 1 and mean the same change in every dialect.</param>
/// <param name="Name">A short kebab-case name, recorded with the version.</param>
/// <param name="Steps">The statements, in order.</param>
internal sealed record StateMigration(int Version, string Name, IReadOnlyList<StateMigrationStep> Steps);
