using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Server;

/// <summary>
/// <see cref="TcpServerOptions.WaitWhenFull"/>: a full server leaves new connections in the kernel's
/// queue instead of resetting them, so processes sharing one listener fill up together.
/// </summary>
public class WaitWhenFullTests
{
    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task AFullServerLeavesTheNextConnectionQueuedAndServesItWhenASlotFrees(IoEngine engine)
    {
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = 2, WaitWhenFull = true, IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);
        var first = await EchoedAsync(server.LocalEndPoint!, 1);
        using var second = await EchoedAsync(server.LocalEndPoint!, 2);

        // The kernel completes the handshake (the connection is queued), but no one accepts it.
        using var third = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await third.SendAllAsync(new byte[] { 3 });
        var reply = new byte[1];
        using (var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(700)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await third.ReceiveAsync(reply, SocketFlags.None, quiet.Token));
        }

        Assert.Equal(0, server.RejectedConnections);
        Assert.Equal(2, server.ActiveConnections);

        first.Dispose(); // a slot frees: the queued connection is accepted and served
        Assert.Equal(new byte[] { 3 }, await third.ReceiveExactlyAsync(1));
        Assert.Equal(0, server.RejectedConnections);
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task AStopEndsTheWaitForASlot(IoEngine engine)
    {
        var server = new TcpServer(new TcpServerOptions { MaxConnections = 1, WaitWhenFull = true, IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);
        var held = await EchoedAsync(server.LocalEndPoint!, 1);
        using var queued = await Loopback.ConnectAsync(server.LocalEndPoint!);

        var stop = server.StopAsync(TimeSpan.FromSeconds(2));
        held.Dispose();
        await stop.WaitAsync(Loopback.Patience);
        await server.DisposeAsync();

        Assert.Equal(0, server.ActiveConnections);
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task ServersSharingOneListenerServeTheirCombinedLimitWithoutResettingAny(IoEngine engine)
    {
        // What a supervisor's workers do (sockeye serve --processes): one listening socket, several
        // servers. Each takes what it can hold; a full one leaves the rest to the other.
        const int EachLimit = 5;
        using var owner = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        owner.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        owner.Listen(64);
        await using var a = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner), MaxConnections = EachLimit, WaitWhenFull = true, IoEngine = engine });
        await using var b = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner), MaxConnections = EachLimit, WaitWhenFull = true, IoEngine = engine });
        await a.StartAsync(EchoHandler.Instance);
        await b.StartAsync(EchoHandler.Instance);

        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 2 * EachLimit; i++)
            {
                clients.Add(await EchoedAsync(owner.LocalEndPoint!, (byte)i));
            }

            Assert.Equal(0, a.RejectedConnections + b.RejectedConnections);
            Assert.Equal(EachLimit, a.ActiveConnections);
            Assert.Equal(EachLimit, b.ActiveConnections);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    private static async Task<Socket> EchoedAsync(EndPoint endPoint, byte value)
    {
        var client = await Loopback.ConnectAsync(endPoint);
        await client.SendAllAsync(new[] { value });
        Assert.Equal(new[] { value }, await client.ReceiveExactlyAsync(1));
        return client;
    }

    private static int Duplicate(Socket socket)
    {
        var fd = DescriptorNative.Duplicate((int)socket.SafeHandle.DangerousGetHandle());
        Assert.True(fd >= 0, "dup failed");
        return fd;
    }
}
