using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Inherited;

public class ListenFdTests
{
    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task ServerAcceptsOnAListeningSocketItWasGiven(IoEngine engine)
    {
        using var owner = ListeningSocket();
        await using var server = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner), IoEngine = engine });
        await server.StartAsync(EchoHandler.Instance);

        Assert.Equal(owner.LocalEndPoint, server.LocalEndPoint);
        Assert.Equal(engine, server.IoEngine);
        Assert.Equal(1, server.AcceptorCount);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("inherited"u8.ToArray());
        Assert.Equal("inherited"u8.ToArray(), await client.ReceiveExactlyAsync(9));
    }

    [Fact]
    public async Task StoppingTheServerLeavesTheSharedSocketListeningForItsOtherHolders()
    {
        // The rolling restart's premise: a worker that stops closes its descriptor only. Were the socket
        // shut down (as .NET may do to wake a pending accept), the other holder would stop listening too.
        using var owner = ListeningSocket();
        var server = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
        await server.StartAsync(EchoHandler.Instance);
        using (var served = await Loopback.ConnectAsync(owner.LocalEndPoint!))
        {
            await served.SendAllAsync(new byte[] { 1 });
            await served.ReceiveExactlyAsync(1);
        }

        await server.StopAsync(TimeSpan.FromSeconds(5));

        using var client = await Loopback.ConnectAsync(owner.LocalEndPoint!);
        using var accepted = await owner.AcceptAsync().WaitAsync(Loopback.Patience);
        await client.SendAllAsync(new byte[] { 2 });
        Assert.Equal(new byte[] { 2 }, await accepted.ReceiveExactlyAsync(1));
    }

    [Fact]
    public async Task TwoServersOnOneSocketServeItsConnectionsAndOneCanLeave()
    {
        using var owner = ListeningSocket();
        var first = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
        await using var second = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
        await first.StartAsync(EchoHandler.Instance);
        await second.StartAsync(EchoHandler.Instance);
        await first.StopAsync(TimeSpan.FromSeconds(5));

        for (var i = 0; i < 20; i++)
        {
            using var client = await Loopback.ConnectAsync(owner.LocalEndPoint!);
            await client.SendAllAsync(new byte[] { (byte)i });
            Assert.Equal(new byte[] { (byte)i }, await client.ReceiveExactlyAsync(1, TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(20, second.AcceptedConnections);
    }

    [Fact]
    public async Task ConnectionsAcceptedAfterAnotherServerLeftTheSocketStillEndWithAFinNotAReset()
    {
        // .NET sets SO_LINGER {on, 0} on a listener it disposes with an accept pending; on a shared socket
        // that reaches every other holder, and sockets they accept inherit it: their closes became resets.
        using var owner = ListeningSocket();
        var leaving = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
        await using var staying = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
        await leaving.StartAsync(EchoHandler.Instance);
        await staying.StartAsync(async connection =>
        {
            await connection.Output.WriteAsync(new byte[] { 9 });
        });
        await leaving.StopAsync(TimeSpan.FromSeconds(5));

        for (var i = 0; i < 5; i++)
        {
            using var client = await Loopback.ConnectAsync(owner.LocalEndPoint!);
            var (received, end) = await client.ReceiveToEndAsync();
            Assert.Equal(1, received);
            Assert.Equal(SocketError.Success, end);
        }
    }

    [Fact]
    public async Task DescriptorThatIsNotOpenIsRefusedNamingIt()
    {
        // Near the top of the 20,000 descriptors a process may hold here: not reused by a test beside this one.
        var fd = 19_990;
        Assert.False(DescriptorNative.IsOpen(fd), $"descriptor {fd} happens to be open");
        var ex = await StartFailsAsync(fd);
        Assert.Equal($"cannot listen on descriptor {fd}: it is not open in this process (was it inherited? LISTEN_FDS descriptors start at 3)", ex.Message);
    }

    [Fact]
    public async Task DescriptorThatIsAFileIsRefused()
    {
        var path = Path.GetTempFileName();
        try
        {
            using var file = File.OpenHandle(path);
            var fd = DescriptorNative.Duplicate((int)file.DangerousGetHandle());
            var ex = await StartFailsAsync(fd);
            Close(fd);
            Assert.Equal($"cannot listen on descriptor {fd}: it is not a socket", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task UdpSocketIsRefusedAsNotAStreamSocket()
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var fd = Duplicate(udp);
        var ex = await StartFailsAsync(fd);
        Close(fd);
        Assert.Equal($"cannot listen on descriptor {fd}: it is a socket of type 2, not a stream socket (SOCK_STREAM, 1)", ex.Message);
    }

    [Fact]
    public async Task StreamSocketThatDoesNotListenIsRefused()
    {
        using var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bound.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var fd = Duplicate(bound);
        var ex = await StartFailsAsync(fd);
        Close(fd);
        Assert.Equal($"cannot listen on descriptor {fd}: it is a stream socket that is not listening (listen() was not called on it)", ex.Message);
    }

    [Fact]
    public void NegativeDescriptorAndOneBesideAUnixPathAreRejectedByValidate()
    {
        var negative = Assert.Throws<ArgumentException>(() => new TcpServerOptions { ListenFd = -1 }.Validate());
        Assert.Equal("ListenFd must be a descriptor number (0 or more), got -1 (Parameter 'ListenFd')", negative.Message);
        var both = Assert.Throws<ArgumentException>(() => new TcpServerOptions { ListenFd = 3, UnixSocketPath = "/tmp/x.sock" }.Validate());
        Assert.StartsWith("ListenFd cannot be combined with UnixSocketPath (/tmp/x.sock), got 3", both.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnixListenerGivenByDescriptorIsServed()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sockeye-fd-{Guid.NewGuid():N}.sock");
        try
        {
            using var owner = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            owner.Bind(new UnixDomainSocketEndPoint(path));
            owner.Listen();
            await using var server = new TcpServer(new TcpServerOptions { ListenFd = Duplicate(owner) });
            await server.StartAsync(EchoHandler.Instance);

            Assert.Null(server.LocalEndPoint);
            Assert.IsType<UnixDomainSocketEndPoint>(server.ListenEndPoint);
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await client.ConnectAsync(new UnixDomainSocketEndPoint(path)).WaitAsync(Loopback.Patience);
            await client.SendAllAsync(new byte[] { 5, 6 });
            Assert.Equal(new byte[] { 5, 6 }, await client.ReceiveExactlyAsync(2));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<IOException> StartFailsAsync(int fd)
    {
        await using var server = new TcpServer(new TcpServerOptions { ListenFd = fd });
        return await Assert.ThrowsAsync<IOException>(() => server.StartAsync(EchoHandler.Instance));
    }

    private static Socket ListeningSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        return socket;
    }

    /// <summary>A second descriptor for <paramref name="socket"/>, as a supervisor's child would hold.</summary>
    private static int Duplicate(Socket socket)
    {
        var fd = DescriptorNative.Duplicate((int)socket.SafeHandle.DangerousGetHandle());
        Assert.True(fd >= 0, "dup failed");
        return fd;
    }

    private static int Close(int fd) => CloseNative(fd);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]
    private static extern int CloseNative(int fd);
}
