using System.Net;
using System.Net.Sockets;
using Sockeye.Dialing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Dialing;

/// <summary><see cref="Dialer.DialSocketAsync"/>: the dialer's connect, handing back the bare socket
/// (what <c>sockeye bench</c> uses).</summary>
public class DialSocketTests
{
    [Fact]
    public async Task DialSocketReturnsAConnectedSocketFromTheChosenSourceAddress()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var dialer = new Dialer { LocalAddress = IPAddress.Parse("127.0.0.3") };

        using var socket = await dialer.DialSocketAsync(new DnsEndPoint("localhost", server.LocalEndPoint!.Port)).WaitAsync(Loopback.Patience);

        Assert.True(socket.NoDelay);
        Assert.Equal(IPAddress.Parse("127.0.0.3"), ((IPEndPoint)socket.LocalEndPoint!).Address);
        await socket.SendAllAsync("raw"u8.ToArray());
        Assert.Equal("raw"u8.ToArray(), await socket.ReceiveExactlyAsync(3));
    }

    [Fact]
    public async Task DialSocketFailsWithTheDialersOwnErrors()
    {
        using var closed = new Socket(SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port; // bound, not listening: connects are refused

        var refused = await Assert.ThrowsAsync<ConnectionRefusedException>(() => new Dialer().DialSocketAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Loopback.Patience));
        Assert.Equal($"127.0.0.1:{port}", refused.Target);

        await Assert.ThrowsAsync<HostNotFoundException>(() => new Dialer().DialSocketAsync(new DnsEndPoint("no-such-host.invalid", 7000)).WaitAsync(Loopback.Patience));
    }
}
