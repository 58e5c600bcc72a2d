using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Sockeye.Tests.Security;

/// <summary>PROXY protocol headers built by the tests, byte by byte from the specification.</summary>
internal static class ProxyHeaders
{
    public static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static byte[] V1(IPEndPoint source, IPEndPoint destination) =>
        Encoding.ASCII.GetBytes($"PROXY {(source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "TCP4" : "TCP6")} {source.Address} {destination.Address} {source.Port} {destination.Port}\r\n");

    /// <summary>A v2 PROXY (or LOCAL) header over TCP with <paramref name="tlvs"/> appended.</summary>
    public static byte[] V2(IPEndPoint source, IPEndPoint destination, bool local = false, params (byte Type, byte[] Value)[] tlvs)
    {
        var v4 = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        var addresses = new List<byte>();
        addresses.AddRange(source.Address.GetAddressBytes());
        addresses.AddRange(destination.Address.GetAddressBytes());
        addresses.AddRange(Port(source.Port));
        addresses.AddRange(Port(destination.Port));
        foreach (var (type, value) in tlvs)
        {
            addresses.Add(type);
            addresses.AddRange(Port(value.Length));
            addresses.AddRange(value);
        }

        var header = new List<byte>(Signature) { (byte)(local ? 0x20 : 0x21), (byte)(v4 ? 0x11 : 0x21) };
        header.AddRange(Port(addresses.Count));
        header.AddRange(addresses);
        return [.. header];
    }

    /// <summary><paramref name="header"/> with its CRC32C TLV filled in: the header must carry one, with
    /// a zero value starting at <paramref name="valueAt"/>; the checksum is <see cref="ReferenceCrc32C"/>'s.</summary>
    public static byte[] WithChecksum(byte[] header, int valueAt)
    {
        Assert.Equal(0x03, header[valueAt - 3]);
        Assert.Equal([0, 0, 0, 0], header[valueAt..(valueAt + 4)]);
        var signed = (byte[])header.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(signed.AsSpan(valueAt), ReferenceCrc32C.Compute(header));
        return signed;
    }

    private static byte[] Port(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return bytes;
    }
}
