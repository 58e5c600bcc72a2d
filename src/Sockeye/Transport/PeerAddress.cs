using System.Buffers.Binary;
using System.Net;
using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// The peer's address of an accepted connection, as the accept path hands it on: a .NET endpoint, or an
/// IPv4 address and port packed into 8 bytes (what <c>accept4</c> gave the epoll engine), turned into an
/// <see cref="IPEndPoint"/> only when someone asks. An idle connection nobody asks about then holds no
/// endpoint objects (an <see cref="IPEndPoint"/> and its <see cref="IPAddress"/> are 72 bytes).
/// </summary>
internal readonly struct PeerAddress
{
    // Bits 0-31: the IPv4 address in network order as it lies in memory (what IPAddress(long) takes);
    // bits 32-47: the port; bit 48: set, so that a packed address is never 0.
    private const long PackedMark = 1L << 48;

    private readonly EndPoint? _endPoint;
    private readonly long _packed;

    private PeerAddress(EndPoint? endPoint, long packed)
    {
        _endPoint = endPoint;
        _packed = packed;
    }

    /// <summary>An address that already is an endpoint (.NET's engine, a Unix socket, IPv6).</summary>
    public static PeerAddress Of(EndPoint? endPoint) => new(endPoint, 0);

    /// <summary>The address in a Linux <c>struct sockaddr</c> from <c>accept4</c>: IPv4 packed,
    /// anything else made into an endpoint at once (<see cref="SocketAddressReader"/>).</summary>
    public static PeerAddress FromSocketAddress(ReadOnlySpan<byte> address)
    {
        // sa_family in host order (little-endian on both supported architectures), the port in network order.
        if (address.Length >= 8 && BinaryPrimitives.ReadUInt16LittleEndian(address) == SocketAddressReader.AfInet)
        {
            long port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
            long ip = BinaryPrimitives.ReadUInt32LittleEndian(address[4..]);
            return new(null, PackedMark | (port << 32) | ip);
        }

        return new(SocketAddressReader.ToEndPoint(address), 0);
    }

    /// <summary>Whether the peer has an IP address (not a Unix socket's, or none).</summary>
    public bool IsIp => _packed != 0 || _endPoint is IPEndPoint;

    /// <summary>The endpoint, when it was one from the start; null when packed or absent.</summary>
    public EndPoint? EndPoint => _endPoint;

    /// <summary>The packed IPv4 address (0: none, see <see cref="EndPoint"/>).</summary>
    public long Packed => _packed;

    /// <summary>The peer as an endpoint, made now when packed.</summary>
    public EndPoint? ToEndPoint() => _endPoint ?? Unpack(_packed);

    /// <summary>The endpoint of a packed address; null for 0.</summary>
    public static IPEndPoint? Unpack(long packed) =>
        packed == 0 ? null : new IPEndPoint(new IPAddress(packed & 0xFFFF_FFFFL), (int)((packed >> 32) & 0xFFFF));
}
