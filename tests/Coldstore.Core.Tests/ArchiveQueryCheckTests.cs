using Coldstore.Services;

namespace Coldstore.Core.Tests;

/// <summary>The check on syntax trees as chDB 26.7 prints them for <c>EXPLAIN AST</c> (captured verbatim).</summary>
public sealed class ArchiveQueryCheckTests
{
    private const string SelectWithSubqueryAndFormat = """
        SelectWithUnionQuery (children 2)
         ExpressionList (children 1)
          SelectQuery (children 3)
           ExpressionList (children 1)
            Function count (alias n) (children 1)
             ExpressionList
           TablesInSelectQuery (children 1)
            TablesInSelectQueryElement (children 1)
             TableExpression (children 1)
              TableIdentifier user_events_v2 (alias e)
           Function in (children 1)
            ExpressionList (children 2)
             Identifier x
             Subquery (children 1)
              SelectWithUnionQuery (children 1)
               ExpressionList (children 1)
                SelectQuery (children 1)
                 ExpressionList (children 1)
                  Literal UInt64_1
         Identifier CSV
        """;

    private const string IntoOutfile = """
        SelectWithUnionQuery (children 2)
         ExpressionList (children 1)
          SelectQuery (children 1)
           ExpressionList (children 1)
            Literal UInt64_1
         Literal \'/tmp/x\'
        """;

    private const string NamedSubqueryAndSettings = """
        SelectWithUnionQuery (children 1)
         ExpressionList (children 1)
          SelectQuery (children 4)
           ExpressionList (children 2)
            WithElement (children 1)
             Subquery (children 1)
              SelectWithUnionQuery (children 1)
               ExpressionList (children 1)
                SelectQuery (children 1)
                 ExpressionList (children 1)
                  Literal UInt64_1 (alias a)
            Literal UInt64_2 (alias two)
           ExpressionList (children 1)
            Identifier a
           TablesInSelectQuery (children 1)
            TablesInSelectQueryElement (children 1)
             TableExpression (children 1)
              TableIdentifier x
           Set
        """;

    private const string TableFunctionAndSystemTable = """
        SelectWithUnionQuery (children 1)
         ExpressionList (children 2)
          SelectQuery (children 2)
           ExpressionList (children 1)
            Function count (children 1)
             ExpressionList
           TablesInSelectQuery (children 1)
            TablesInSelectQueryElement (children 1)
             TableExpression (children 1)
              Function s3 (children 1)
               ExpressionList (children 2)
                Literal \'http://x/y\'
                Literal \'Parquet\'
          SelectQuery (children 2)
           ExpressionList (children 1)
            Literal UInt64_1
           TablesInSelectQuery (children 1)
            TablesInSelectQueryElement (children 1)
             TableExpression (children 1)
              TableIdentifier system.one
        """;

    /// <summary>A server's catalog in small: a few built-ins (some that read outside, which the check refuses anyway) and the combinators.</summary>
    private static readonly QueryFunctions Functions = new(
        [("count", true, true), ("sum", false, true), ("uniqExact", false, true), ("in", false, false), ("plus", false, false),
         ("arrayMap", false, false), ("tuple", false, false), ("multiIf", false, false), ("file", false, false), ("dictGet", false, false),
         ("joinGet", false, false)],
        ["If", "Array", "State", "MergeState", "Merge", "Distinct", "OrNull"]);

    private static string[] Lines(string tree) => tree.Split('\n');

    [Theory]
    [InlineData("count")]
    [InlineData("COUNT")]
    [InlineData("countIf")]
    [InlineData("sumArrayIf")]
    [InlineData("countDistinct")]
    [InlineData("uniqExactMergeState")]
    [InlineData("sumOrNull")]
    [InlineData("multiIf")]
    [InlineData("lambda")]
    public void A_built_in_function_an_aggregate_with_combinators_or_a_lambda_is_accepted(string function)
    {
        var tree = WithoutFormat.Replace("Function count (alias n) (children 1)", $"Function {function} (alias n) (children 1)", StringComparison.Ordinal);
        Assert.Null(ArchiveQueryCheck.Problem(Lines(tree), Functions));
    }

    [Theory]
    [InlineData("my_udf")]
    [InlineData("executableReader")]
    [InlineData("plusIf")]
    [InlineData("MultiIf")]
    [InlineData("sumIfx")]
    public void A_function_the_server_does_not_list_as_built_in_is_refused(string function)
    {
        var tree = WithoutFormat.Replace("Function count (alias n) (children 1)", $"Function {function} (children 1)", StringComparison.Ordinal);
        Assert.Equal(
            $"the function {function} is not one of ClickHouse's built-in functions (user-defined functions are not accepted)",
            ArchiveQueryCheck.Problem(Lines(tree), Functions));
    }

    private static string WithoutFormat => string.Join('\n', Lines(SelectWithSubqueryAndFormat).Where(l => l != " Identifier CSV"));

    [Fact]
    public void A_select_of_the_archived_rows_with_a_subquery_and_an_alias_is_accepted()
    {
        Assert.Null(ArchiveQueryCheck.Problem(Lines(WithoutFormat), Functions));
    }

    [Fact]
    public void Format_and_into_outfile_are_refused()
    {
        Assert.Contains("FORMAT", ArchiveQueryCheck.Problem(Lines(SelectWithSubqueryAndFormat), Functions), StringComparison.Ordinal);
        Assert.Contains("FORMAT", ArchiveQueryCheck.Problem(Lines(IntoOutfile), Functions), StringComparison.Ordinal);
    }

    [Fact]
    public void A_named_subquery_is_refused_before_its_settings()
    {
        Assert.Contains("named subqueries", ArchiveQueryCheck.Problem(Lines(NamedSubqueryAndSettings), Functions), StringComparison.Ordinal);
        var settingsOnly = string.Join('\n', Lines(NamedSubqueryAndSettings).Take(3).Concat(["   Set"]));
        Assert.Contains("SETTINGS", ArchiveQueryCheck.Problem(Lines(settingsOnly), Functions), StringComparison.Ordinal);
    }

    [Fact]
    public void A_table_function_or_another_table_is_refused()
    {
        Assert.Contains("table functions such as s3()", ArchiveQueryCheck.Problem(Lines(TableFunctionAndSystemTable), Functions), StringComparison.Ordinal);
        var systemOnly = TableFunctionAndSystemTable.Replace("Function s3 (children 1)", "TableIdentifier user_events_v2", StringComparison.Ordinal);
        Assert.Contains("reads system.one", ArchiveQueryCheck.Problem(Lines(systemOnly), Functions), StringComparison.Ordinal);
        var qualified = WithoutFormat.Replace("TableIdentifier user_events_v2 (alias e)", "TableIdentifier dittofeed.user_events_v2", StringComparison.Ordinal);
        Assert.Contains("reads dittofeed.user_events_v2", ArchiveQueryCheck.Problem(Lines(qualified), Functions), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file")]
    [InlineData("dictGet")]
    [InlineData("dictGetOrDefault")]
    [InlineData("joinGet")]
    [InlineData("FILE")]
    public void A_function_that_reads_outside_the_query_is_refused(string function)
    {
        var tree = WithoutFormat.Replace("Function count (alias n) (children 1)", $"Function {function} (children 1)", StringComparison.Ordinal);
        Assert.Contains($"function {function}", ArchiveQueryCheck.Problem(Lines(tree), Functions), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("InsertQuery", "INSERT")]
    [InlineData("AlterQuery", "ALTER")]
    [InlineData("DropQuery", "DROP")]
    [InlineData("SystemQuery", "SYSTEM")]
    [InlineData("ExplainQuery", "EXPLAIN")]
    public void Any_other_statement_is_refused(string root, string named)
    {
        Assert.Equal($"only a SELECT is accepted, not a {named} statement", ArchiveQueryCheck.Problem([$"{root} (children 1)", " Identifier x"], Functions));
    }
}
