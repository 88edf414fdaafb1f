using System.Buffers.Binary;
using System.Text;

namespace Coldstore.ClickHouse.Tests.Http;

/// <summary>
/// Writes a RowBinaryWithNamesAndTypes body, the format the driver asks ClickHouse for, so the fake server
/// can answer queries with typed values exactly as a server would encode them.
/// </summary>
internal static class RowBinary
{
    public static byte[] Encode((string Name, string Type)[] columns, params object?[][] rows)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write7BitEncodedInt(columns.Length);
        foreach (var (name, _) in columns)
        {
            WriteString(writer, name);
        }

        foreach (var (_, type) in columns)
        {
            WriteString(writer, type);
        }

        foreach (var row in rows)
        {
            for (var i = 0; i < columns.Length; i++)
            {
                WriteValue(writer, columns[i].Type, row[i]);
            }
        }

        writer.Flush();
        return stream.ToArray();
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        writer.Write7BitEncodedInt(bytes.Length);
        writer.Write(bytes);
    }

    private static void WriteValue(BinaryWriter writer, string type, object? value)
    {
        if (type.StartsWith("Nullable(", StringComparison.Ordinal))
        {
            writer.Write((byte)(value is null ? 1 : 0));
            if (value is not null)
            {
                WriteValue(writer, type["Nullable(".Length..^1], value);
            }

            return;
        }

        if (type.StartsWith("Array(", StringComparison.Ordinal))
        {
            var items = (System.Collections.IList)value!;
            writer.Write7BitEncodedInt(items.Count);
            foreach (var item in items)
            {
                WriteValue(writer, type["Array(".Length..^1], item);
            }

            return;
        }

        switch (type)
        {
            case "String": WriteString(writer, (string)value!); break;
            case "Bool": writer.Write((bool)value! ? (byte)1 : (byte)0); break;
            case "UInt8": writer.Write((byte)value!); break;
            case "UInt16": writer.Write((ushort)value!); break;
            case "UInt32": writer.Write((uint)value!); break;
            case "UInt64": writer.Write((ulong)value!); break;
            case "Int8": writer.Write((sbyte)value!); break;
            case "Int16": writer.Write((short)value!); break;
            case "Int32": writer.Write((int)value!); break;
            case "Int64": writer.Write((long)value!); break;
            case "Float32": writer.Write((float)value!); break;
            case "Float64": writer.Write((double)value!); break;
            case "Date": writer.Write((ushort)(((DateTime)value!).Date - DateTime.UnixEpoch).TotalDays); break;
            case "UUID": WriteUuid(writer, (Guid)value!); break;
            case "Decimal(18, 4)": writer.Write((long)((decimal)value! * 10_000m)); break;
            case "Int128":
                {
                    Span<byte> bytes = stackalloc byte[16];
                    BinaryPrimitives.WriteInt128LittleEndian(bytes, (Int128)value!);
                    writer.Write(bytes);
                    break;
                }

            case var t when t.StartsWith("DateTime64(3", StringComparison.Ordinal):
                writer.Write(new DateTimeOffset((DateTime)value!).ToUnixTimeMilliseconds());
                break;
            case var t when t.StartsWith("DateTime", StringComparison.Ordinal):
                writer.Write((uint)new DateTimeOffset((DateTime)value!).ToUnixTimeSeconds());
                break;
            default: throw new NotSupportedException($"The test encoder does not know {type}.");
        }
    }

    /// <summary>ClickHouse stores a UUID as two little-endian 64-bit halves.</summary>
    private static void WriteUuid(BinaryWriter writer, Guid value)
    {
        var bytes = value.ToByteArray(bigEndian: true);
        Span<byte> high = bytes.AsSpan(0, 8);
        Span<byte> low = bytes.AsSpan(8, 8);
        high.Reverse();
        low.Reverse();
        writer.Write(high);
        writer.Write(low);
    }
}
