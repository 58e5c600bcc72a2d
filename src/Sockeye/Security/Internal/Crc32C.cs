using System.Buffers.Binary;
using System.Numerics;

namespace Sockeye.Security.Internal;

/// <summary>
/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), the
/// checksum of the PROXY protocol v2 <c>PP2_TYPE_CRC32C</c> TLV.
/// </summary>
/// <remarks><see cref="BitOperations.Crc32C(uint, ulong)"/> is the BCL's step (the SSE4.2 or ARMv8
/// instruction where there is one, a table otherwise); it neither inverts the start nor the end, so
/// that is done here. System.IO.Hashing has no CRC-32C before its 11.0 package, and the library takes
/// no package for eight lines.</remarks>
internal static class Crc32C
{
    /// <summary>The start value of a checksum, before <see cref="Append"/>.</summary>
    public const uint Initial = uint.MaxValue;

    /// <summary>Folds <paramref name="data"/> into a running <paramref name="crc"/> (not yet finished).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= sizeof(ulong))
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    /// <summary>The finished checksum of a running <paramref name="crc"/>.</summary>
    public static uint Finish(uint crc) => ~crc;

    /// <summary>The checksum of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Initial, data));
}
