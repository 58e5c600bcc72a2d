using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.ProxyProtocolTests;

namespace Sockeye.Tests.Security;

/// <summary>Per-address cap, accept rates and source lists, with clients on several loopback addresses.</summary>
public sealed class AdmissionTests
{
    private static readonly IPAddress Two = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Three = IPAddress.Parse("127.0.0.3");

    private static async Task EchoesAsync(Socket socket)
    {
        await socket.SendAllAsync("ok"u8.ToArray());
        Assert.Equal("ok"u8.ToArray(), await socket.ReceiveExactlyAsync(2));
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task OneAddressIsCappedWhileAnotherIsStillServed(IoEngine engine)
    {
        await using var server = new TcpServer(new TcpServerOptions { MaxConnectionsPerIp = 3, IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);
        var open = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var socket = await Loopback.ConnectAsync(server.LocalEndPoint!, Two);
                open.Add(socket);
                await EchoesAsync(socket);
            }

            Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!, Two));
            Assert.Equal(1, server.GetRefusalCount(RefusalReason.MaxConnectionsPerIp));

            for (var i = 0; i < 3; i++)
            {
                var socket = await Loopback.ConnectAsync(server.LocalEndPoint!, Three);
                open.Add(socket);
                await EchoesAsync(socket);
            }

            // One of .2's connections ends: its slot is given back.
            open[0].Dispose();
            await Loopback.EventuallyAsync(() => server.Admission!.OpenFrom(Two) == 2, "the closed connection was uncounted");
            using var again = await Loopback.ConnectAsync(server.LocalEndPoint!, Two);
            await EchoesAsync(again);
            Assert.Equal(1, server.GetRefusalCount(RefusalReason.MaxConnectionsPerIp));
        }
        finally
        {
            open.ForEach(s => s.Dispose());
        }

        await Loopback.EventuallyAsync(() => server.Admission!.OpenFrom(Two) + server.Admission.OpenFrom(Three) == 0, "every count was given back");
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task PerAddressCapCountsTheClientNamedByThePROXYHeader(IoEngine engine)
    {
        var proxy = new ProxyProtocolOptions();
        proxy.TrustedProxies.Add(IPNetwork.Parse("127.0.0.0/8"));
        await using var server = new TcpServer(new TcpServerOptions { ProxyProtocol = proxy, MaxConnectionsPerIp = 1, IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);
        var alice = new IPEndPoint(IPAddress.Parse("198.51.100.10"), 1000);
        var bob = new IPEndPoint(IPAddress.Parse("198.51.100.20"), 1000);
        var destination = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 443);

        using var first = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await first.SendAllAsync(ProxyHeaders.V1(alice, destination));
        await EchoesAsync(first);

        using var second = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await second.SendAllAsync(ProxyHeaders.V2(alice, destination));
        Assert.Equal(SocketError.ConnectionReset, await second.ReceiveEndAsync());

        using var third = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await third.SendAllAsync(ProxyHeaders.V2(bob, destination));
        await EchoesAsync(third);
        Assert.Equal(1, server.GetRefusalCount(RefusalReason.MaxConnectionsPerIp));
    }

    [Fact]
    public async Task PerAddressAcceptRateShedsABurstSparesOtherAddressesAndRecovers()
    {
        await using var server = new TcpServer(new TcpServerOptions { AcceptRatePerIp = new AcceptRateLimit(PerSecond: 2, Burst: 5) });
        await server.StartAsync(EchoHandler.Instance);

        var outcomes = new List<SocketError>();
        for (var i = 0; i < 30; i++)
        {
            outcomes.Add(await ConnectAndSendAsync(Two, server.LocalEndPoint!));
        }

        // 30 connects take far less than the 12 s that 2/s would need: at least the burst is served,
        // and most of the rest are shed.
        var served = outcomes.Count(o => o == SocketError.Success);
        Assert.InRange(served, 5, 15);
        Assert.Equal(30 - served, server.GetRefusalCount(RefusalReason.AcceptRatePerIp));

        using (var other = await Loopback.ConnectAsync(server.LocalEndPoint!, Three))
        {
            await EchoesAsync(other);
        }

        await Task.Delay(TimeSpan.FromSeconds(1.5)); // two or three tokens come back
        using var recovered = await Loopback.ConnectAsync(server.LocalEndPoint!, Two);
        await EchoesAsync(recovered);
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task OverallAcceptRateShedsABurstAndRecovers(IoEngine engine)
    {
        await using var server = new TcpServer(new TcpServerOptions { AcceptRate = new AcceptRateLimit(PerSecond: 2, Burst: 4), IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);

        var refused = 0;
        for (var i = 0; i < 20; i++)
        {
            var end = await ConnectAndSendAsync(i % 2 == 0 ? Two : Three, server.LocalEndPoint!);
            refused += end == SocketError.ConnectionReset ? 1 : 0;
        }

        Assert.InRange(refused, 5, 16);
        Assert.Equal(refused, server.GetRefusalCount(RefusalReason.AcceptRate));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        using var recovered = await Loopback.ConnectAsync(server.LocalEndPoint!, Two);
        await EchoesAsync(recovered);
    }

    [Fact]
    public async Task DeniedAndNotAllowedSourcesAreRefused()
    {
        var options = new TcpServerOptions();
        options.AllowedSources.Add(IPNetwork.Parse("127.0.0.0/29"));
        options.DeniedSources.Add(IPNetwork.Parse("127.0.0.3/32"));
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        using (var allowed = await Loopback.ConnectAsync(server.LocalEndPoint!, Two))
        {
            await EchoesAsync(allowed);
        }

        Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!, Three));
        Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!, IPAddress.Parse("127.0.0.9")));
        Assert.Equal(2, server.GetRefusalCount(RefusalReason.SourceDenied));
        Assert.Equal(0, server.AcceptedConnections - 1);
    }

    [Fact]
    public void NegativeOrEmptyLimitsAreRejectedNamingTheOption()
    {
        Assert.Contains("MaxConnectionsPerIp", Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { MaxConnectionsPerIp = -1 })).Message, StringComparison.Ordinal);
        Assert.Contains("AcceptRate", Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { AcceptRate = new AcceptRateLimit(0) })).Message, StringComparison.Ordinal);
        Assert.Contains("Tls", Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { Tls = new TlsOptions() })).Message, StringComparison.Ordinal);
    }

    private static async Task<SocketError> ConnectAndSendAsync(IPAddress source, EndPoint server)
    {
        try
        {
            using var socket = await Loopback.ConnectAsync(server, source);
            await socket.SendAllAsync("ok"u8.ToArray());
            await socket.ReceiveExactlyAsync(2);
            return SocketError.Success;
        }
        catch (Exception ex) when (ex is SocketException or EndOfStreamException)
        {
            return SocketError.ConnectionReset;
        }
    }
}
