using System.Net;
using System.Net.Sockets;

namespace Sockeye.Tests.Support;

/// <summary>A UDP client for loopback tests: a socket connected to one server, so that an ICMP "port
/// unreachable" comes back as <see cref="SocketError.ConnectionRefused"/> on the next receive.</summary>
internal static class UdpLoopback
{
    public static Socket Connect(EndPoint endPoint)
    {
        var client = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(endPoint);
        return client;
    }

    /// <summary>Sends <paramref name="payload"/> and returns the first datagram that comes back.</summary>
    public static async Task<byte[]> RoundTripAsync(this Socket client, ReadOnlyMemory<byte> payload, TimeSpan? within = null)
    {
        await client.SendAsync(payload);
        var reply = new byte[65_536];
        var length = await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(within ?? Loopback.Patience);
        return reply[..length];
    }
}
