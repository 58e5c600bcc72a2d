namespace Sockeye.Tests.Security;

/// <summary>CRC-32C computed the slow way, one bit at a time from the definition (reflected polynomial
/// 0x82F63B78, initial value and final XOR 0xFFFFFFFF), to check the library's against.</summary>
internal static class ReferenceCrc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc ^= b;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }
}
