using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Transport.Epoll;

/// <summary>
/// Turns a Linux <c>struct sockaddr</c> (from <c>accept4</c> or <c>getsockname</c>) into the
/// <see cref="IPEndPoint"/> .NET would have made of it: the epoll engine's accepted sockets have no
/// <see cref="Socket"/> to ask.
/// </summary>
internal static class SocketAddressReader
{
    internal const ushort AfInet = 2;
    internal const ushort AfInet6 = 10;

    /// <summary>The endpoint in <paramref name="address"/>; <see langword="null"/> for a family other
    /// than IPv4 or IPv6 (or a truncated address).</summary>
    public static IPEndPoint? ToEndPoint(ReadOnlySpan<byte> address)
    {
        if (address.Length < 2)
        {
            return null;
        }

        // sa_family is in host order (little-endian on both supported architectures), the port in
        // network order.
        var family = BinaryPrimitives.ReadUInt16LittleEndian(address);
        if (family == AfInet && address.Length >= 8)
        {
            var port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
            return new IPEndPoint(new IPAddress(address.Slice(4, 4)), port);
        }

        if (family == AfInet6 && address.Length >= 28)
        {
            var port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
            var scope = BinaryPrimitives.ReadUInt32LittleEndian(address[24..]);
            return new IPEndPoint(new IPAddress(address.Slice(8, 16), scope), port);
        }

        return null;
    }
}
