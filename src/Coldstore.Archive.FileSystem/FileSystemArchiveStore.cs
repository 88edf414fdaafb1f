using Coldstore.Errors;
using Coldstore.Ports;

namespace Coldstore.Archive.FileSystem;

/// <summary>
/// An archive store in a local directory. ClickHouse reads and writes its objects through the <c>file()</c> table
/// function, so the directory must be on the machine where the engine runs: embedded chDB, clickhouse-local, or a
/// server whose <c>user_files_path</c> contains the directory.
/// </summary>
public sealed class FileSystemArchiveStore : IArchiveStore
{
    /// <summary>The setting that names the archive, e.g. <c>file:/var/lib/coldstore/archive</c>.</summary>
    public const string ArchiveSetting = "COLDSTORE_ARCHIVE";

    private const string FileScheme = "file:";

    // Temporary files live next to their target so the final rename stays on one file system (and so is atomic);
    // the suffix lets listings skip a write in progress.
    private const string TempSuffix = ".coldstore-tmp";

    private static readonly EnumerationOptions Recursive = new()
    {
        RecurseSubdirectories = true,
        // On Unix "hidden" means a leading dot; such objects are still objects of the store.
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root;

    private FileSystemArchiveStore(string root) => _root = root;

    /// <summary>The store's root directory, absolute and without a trailing separator.</summary>
    public string RootDirectory => _root;

    /// <inheritdoc />
    public string Description => $"directory {_root}";

    /// <summary>Opens (and creates when missing) an archive store rooted at <paramref name="rootDirectory"/>.</summary>
    /// <param name="rootDirectory">The root directory; a relative path is resolved against the current directory.</param>
    /// <exception cref="ArgumentException">The path is empty or holds characters ClickHouse would read as globs.</exception>
    public static FileSystemArchiveStore Open(string rootDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rootDirectory);
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootDirectory));
        // The root becomes part of every file() path, where ClickHouse expands these characters as globs.
        var glob = full.AsSpan().IndexOfAny(ArchiveKeys.GlobCharacters);
        if (glob >= 0)
        {
            throw new ArgumentException(
                $"Archive directory '{full}' contains '{full[glob]}', which ClickHouse's file() reads as a glob; choose a directory without *?{{}}[].",
                nameof(rootDirectory));
        }

        Directory.CreateDirectory(full);
        return new FileSystemArchiveStore(full);
    }

    /// <summary>
    /// Parses the <c>COLDSTORE_ARCHIVE</c> setting's local form, <c>file:&lt;dir&gt;</c> (e.g. <c>file:/data/archive</c>,
    /// <c>file:///data/archive</c> or <c>file:./archive</c>), into an absolute directory. Pure: touches no disk.
    /// </summary>
    /// <exception cref="ConfigurationException">The value is not of that form; the message lists the accepted forms.</exception>
    public static string ParseArchiveSetting(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw Invalid(value, "it is empty");
        }

        if (!value.StartsWith(FileScheme, StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid(value, "it does not start with 'file:'");
        }

        var path = value[FileScheme.Length..];
        if (path.StartsWith("//", StringComparison.Ordinal))
        {
            // file:///dir is the URI spelling of /dir; file://host/dir names another machine, which file() cannot reach.
            if (!path.StartsWith("///", StringComparison.Ordinal))
            {
                throw Invalid(value, "file://host/… names another machine; use file:/dir or file:///dir");
            }

            path = path[2..];
        }

        if (path.Length == 0)
        {
            throw Invalid(value, "the directory is missing");
        }

        if (path.Contains('?', StringComparison.Ordinal) || path.Contains('#', StringComparison.Ordinal))
        {
            throw Invalid(value, "a directory must not contain '?' or '#'");
        }

        try
        {
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw Invalid(value, e.Message);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ArchiveObject>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidatePrefix(prefix);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run<IReadOnlyList<ArchiveObject>>(() => List(prefix, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidateKey(key);
        var path = PathOf(key);
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(path))
        {
            // A folder ("ws1" when "ws1/manifest.json" exists) is not an object.
            return null;
        }
    }

    /// <inheritdoc />
    public async Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidateKey(key);
        var path = PathOf(key);
        var directory = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            // Why two tries: a concurrent DeletePrefixAsync prunes empty folders and may remove ours between
            // CreateDirectory and the open; recreating it once is enough to win that race.
            for (var attempt = 1; ; attempt++)
            {
                Directory.CreateDirectory(directory);
                try
                {
                    await WriteFileAsync(temp, content, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (DirectoryNotFoundException) when (attempt < 2)
                {
                }
            }

            // rename(2) replaces the target in one step: readers see the old or the new file, never a part.
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <inheritdoc />
    public Task<int> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArchiveKeys.ValidatePrefix(prefix);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run(() => DeletePrefix(prefix, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Produces <c>file({p_path:String}, 'Parquet')</c> with the absolute path as a parameter, and
    /// <c>engine_file_truncate_on_insert = 1</c> so that rerunning an export replaces its files: without it ClickHouse
    /// fails with CANNOT_APPEND_TO_FILE, and <c>engine_file_allow_create_multiple_files</c> would add duplicates.
    /// </remarks>
    public TableFunctionExpression TableFunction(string keyPattern, string format, string parameterPrefix = "store", string? columns = null)
    {
        ArchiveKeys.ValidatePattern(keyPattern);
        ArchiveKeys.ValidateFormat(format);
        ArchiveKeys.ValidateParameterPrefix(parameterPrefix);
        ArchiveKeys.ValidateColumns(columns);
        var name = parameterPrefix + "_path";
        // The format is validated as an identifier above, so it is safe as a literal, and a literal keeps the
        // expression readable in logs (a {…:String} parameter works as well in chDB 26.7).
        return new TableFunctionExpression(
            $"file({{{name}:String}}, '{format}'{(columns is null ? string.Empty : $", '{columns}'")})",
            [new ClickHouseParameter(name, "String", _root + "/" + keyPattern)],
            new Dictionary<string, string> { ["engine_file_truncate_on_insert"] = "1" })
        {
            // clickhouse-local (and so chDB) reads files through mmap by default, which puts every page of an archive
            // read back into the process's resident memory (885 MB for a 10⁷-row archive); pread reads it in buffers.
            AccessSettings = new Dictionary<string, string> { ["storage_file_read_method"] = "pread" },
        };
    }

    /// <inheritdoc />
    public override string ToString() => Description;

    private static async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            Options = FileOptions.Asynchronous,
        });
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            // Flush to the disk before the rename, so a crash cannot leave the new name on an empty file.
            stream.Flush(flushToDisk: true);
        }
    }

    private List<ArchiveObject> List(string prefix, CancellationToken cancellationToken)
    {
        var result = new List<ArchiveObject>();
        foreach (var (key, file) in Enumerate(prefix))
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                result.Add(new ArchiveObject(key, file.Length));
            }
            catch (FileNotFoundException)
            {
                // Deleted between enumeration and stat: it is no longer an object of the store.
            }
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }

    private int DeletePrefix(string prefix, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, file) in Enumerate(prefix).ToList())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (file.Exists)
            {
                file.Delete();
                deleted++;
            }

            folders.Add(file.DirectoryName!);
        }

        // Remove the folders the prefix emptied, deepest first, so a deleted workspace leaves no skeleton behind.
        foreach (var folder in folders.OrderByDescending(static f => f.Length))
        {
            for (var current = folder; IsStrictlyUnderRoot(current); current = Path.GetDirectoryName(current)!)
            {
                try
                {
                    Directory.Delete(current, recursive: false);
                }
                catch (IOException)
                {
                    break; // Not empty (or gone): stop climbing.
                }
            }
        }

        return deleted;
    }

    private IEnumerable<(string Key, FileInfo File)> Enumerate(string prefix)
    {
        // Start at the deepest folder the prefix names entirely ("ws1/2024" starts at "ws1"), then filter by text:
        // a prefix may end inside a name ("ws1" matches "ws10/…") exactly like an S3 prefix.
        var lastSlash = prefix.LastIndexOf('/');
        var start = lastSlash < 0 ? _root : Path.Combine(_root, prefix[..lastSlash]);
        if (!Directory.Exists(start))
        {
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(start, "*", Recursive))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.') && name.EndsWith(TempSuffix, StringComparison.Ordinal))
            {
                continue;
            }

            var key = Path.GetRelativePath(_root, path).Replace(Path.DirectorySeparatorChar, '/');
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield return (key, new FileInfo(path));
            }
        }
    }

    private string PathOf(string key)
    {
        var path = Path.GetFullPath(Path.Combine(_root, key));
        // ArchiveKeys already refuses '..' and rooted keys; this re-checks the result so no future rule change can
        // let a key escape the root.
        if (!IsStrictlyUnderRoot(path))
        {
            throw new ArgumentException($"Archive key '{key}' resolves outside the store's root.", nameof(key));
        }

        return path;
    }

    private bool IsStrictlyUnderRoot(string path) =>
        path.Length > _root.Length + 1
        && path.StartsWith(_root, StringComparison.Ordinal)
        && path[_root.Length] == Path.DirectorySeparatorChar;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static ConfigurationException Invalid(string? value, string reason) =>
        new(ArchiveSetting,
            $"{ArchiveSetting} '{value}' is not a valid archive location: {reason}. Accepted forms: "
            + "file:/absolute/dir, file:///absolute/dir or file:relative/dir for a local directory; "
            + "s3://bucket or s3://bucket/prefix for S3.");
}
