using Coldstore.Testing;

namespace Coldstore.Archive.Tests;

/// <summary>One s3rver for every test class in the collection; each class and test uses a key prefix of its own.</summary>
[CollectionDefinition(Name)]
public sealed class S3rverGroup : ICollectionFixture<S3rverFixture>
{
    public const string Name = "s3rver";
}
