using System.Runtime.InteropServices;
using System.Text;

namespace Coldstore.ClickHouse.Chdb.Native;

/// <summary>
/// A list of UTF-8 strings copied to native memory as the pointer and length arrays chDB's <c>_n</c>
/// functions take. Lengths are explicit, so values are binary-safe.
/// </summary>
internal sealed unsafe class NativeUtf8Strings : IDisposable
{
    private readonly int _count;

    public NativeUtf8Strings(IReadOnlyList<string> items)
    {
        _count = items.Count;

        // Allocate at least one slot so the arrays are never null pointers, even for an empty list.
        Pointers = (byte**)NativeMemory.AllocZeroed((nuint)Math.Max(1, _count), (nuint)sizeof(nint));
        Lengths = (nuint*)NativeMemory.AllocZeroed((nuint)Math.Max(1, _count), (nuint)sizeof(nuint));
        for (var i = 0; i < _count; i++)
        {
            var byteCount = Encoding.UTF8.GetByteCount(items[i]);
            var text = (byte*)NativeMemory.Alloc((nuint)byteCount + 1);
            var written = Encoding.UTF8.GetBytes(items[i], new Span<byte>(text, byteCount));
            text[written] = 0;
            Pointers[i] = text;
            Lengths[i] = (nuint)written;
        }
    }

    public byte** Pointers { get; }

    public nuint* Lengths { get; }

    public nuint Count => (nuint)_count;

    public void Dispose()
    {
        for (var i = 0; i < _count; i++)
        {
            NativeMemory.Free(Pointers[i]);
        }

        NativeMemory.Free(Pointers);
        NativeMemory.Free(Lengths);
    }
}
