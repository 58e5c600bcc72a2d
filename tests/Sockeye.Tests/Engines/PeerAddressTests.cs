using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Engines;

/// <summary>
/// The peer's address of an accepted connection: the epoll engine keeps an IPv4 peer packed and makes
/// its <see cref="IPEndPoint"/> on the first ask (<see cref="PeerAddress"/>); what a handler sees must be
/// the same as before, on either engine, for IPv4, IPv6 and IPv4-mapped peers.
/// </summary>
public sealed class PeerAddressTests
{
    public static TheoryData<IoEngine, string, string> Cases => new()
    {
        { IoEngine.Epoll, "127.0.0.1", "127.0.0.1" },
        { IoEngine.Epoll, "127.0.0.1", "127.0.0.7" },
        { IoEngine.Epoll, "::1", "::1" },
        { IoEngine.Epoll, "::", "127.0.0.1" },
        { IoEngine.Sockets, "127.0.0.1", "127.0.0.1" },
        { IoEngine.Sockets, "::1", "::1" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TheHandlerSeesTheClientsOwnAddressAndPortAsOneEndPoint(IoEngine engine, string listen, string from)
    {
        var seen = new TaskCompletionSource<(EndPoint? First, EndPoint? Second)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new TcpServerOptions { IoEngine = engine, EndPoint = new IPEndPoint(IPAddress.Parse(listen), 0) };
        await using var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            seen.TrySetResult((connection.RemoteEndPoint, connection.RemoteEndPoint));
            await EchoHandler.Instance.HandleAsync(connection);
        });

        var target = new IPEndPoint(IPAddress.Parse(listen == "::" ? "127.0.0.1" : listen), server.LocalEndPoint!.Port);
        using var client = await Loopback.ConnectAsync(target, from == listen || listen == "::" ? null : IPAddress.Parse(from));
        var (first, second) = await seen.Task.WaitAsync(Loopback.Patience);

        var expected = (IPEndPoint)client.LocalEndPoint!;
        var actual = Assert.IsType<IPEndPoint>(first);
        // A dual-stack listener sees an IPv4 client as IPv4-mapped IPv6, as .NET reports it.
        Assert.Equal(listen == "::" ? expected.Address.MapToIPv6() : expected.Address, actual.Address);
        Assert.Equal(expected.Port, actual.Port);
        Assert.Same(first, second); // made once, then kept
    }

    [Fact]
    public void AnIpv4SocketAddressIsPackedAndUnpacksToTheSameEndPoint()
    {
        // struct sockaddr_in: family 2 (host order), port 40000 (network order), 10.1.2.3, 8 bytes of zero.
        byte[] sockaddr = [2, 0, 0x9C, 0x40, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        var peer = PeerAddress.FromSocketAddress(sockaddr);

        Assert.True(peer.IsIp);
        Assert.Null(peer.EndPoint); // nothing made yet
        Assert.NotEqual(0, peer.Packed);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 40000), peer.ToEndPoint());
    }

    [Fact]
    public void PortsAndAddressesAtTheirLimitsSurviveThePacking()
    {
        byte[] high = [2, 0, 0xFF, 0xFF, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0];
        byte[] zero = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

        Assert.Equal(new IPEndPoint(IPAddress.Broadcast, 65535), PeerAddress.FromSocketAddress(high).ToEndPoint());
        // 0.0.0.0:0 is still an address (the packed form is never 0).
        Assert.Equal(new IPEndPoint(IPAddress.Any, 0), PeerAddress.FromSocketAddress(zero).ToEndPoint());
    }

    [Fact]
    public void AnIpv6SocketAddressBecomesAnEndPointAtOnceAndAnUnknownFamilyNone()
    {
        // struct sockaddr_in6: family 10, port 443, flow info 0, ::1, scope 0.
        var sockaddr = new byte[28];
        sockaddr[0] = 10;
        sockaddr[2] = 0x01;
        sockaddr[3] = 0xBB;
        sockaddr[23] = 1;
        var peer = PeerAddress.FromSocketAddress(sockaddr);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 443), peer.EndPoint);
        Assert.Equal(0, peer.Packed);
        Assert.True(peer.IsIp);

        var unix = PeerAddress.FromSocketAddress([1, 0]); // AF_UNIX, unnamed
        Assert.False(unix.IsIp);
        Assert.Null(unix.ToEndPoint());
    }
}
