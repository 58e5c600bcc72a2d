using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Server;

/// <summary>
/// <see cref="TcpServerOptions.ReceiveBufferSize"/> and <see cref="TcpServerOptions.SendBufferSize"/> are
/// in place before the handshake (set on the listener, inherited by accepted sockets), so the window the
/// server advertises fits the buffer: the window scale the client was offered in the SYN-ACK is what a
/// small locked buffer gives, not what the kernel's auto-tuned default gives. Set after the handshake
/// (what the server did before), the scale came from the default and a fast sender overran the buffer.
/// </summary>
public class SocketBufferSizeTests
{
    private const int Small = 16 * 1024;
    private const int SoReceiveBuffer = 8;
    private const int SoSendBuffer = 7;

    public static TheoryData<IoEngine> Engines => new() { IoEngine.Epoll, IoEngine.Sockets };

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task TheHandshakeAlreadyAdvertisesAWindowForTheConfiguredReceiveBuffer(IoEngine engine)
    {
        var defaultScale = await OfferedWindowScaleAsync(new TcpServerOptions { IoEngine = engine });
        var smallScale = await OfferedWindowScaleAsync(new TcpServerOptions { IoEngine = engine, ReceiveBufferSize = Small });

        // A 32 KiB buffer (the kernel doubles 16 KiB) needs no scaling; the default (auto-tuning up to
        // tcp_rmem's maximum) needs a large one.
        Assert.True(smallScale < defaultScale, $"window scale with ReceiveBufferSize {Small}: {smallScale}, without: {defaultScale}");
        Assert.True(smallScale <= 1, $"window scale with ReceiveBufferSize {Small}: {smallScale}");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AcceptedSocketsHaveBothSizesAndAFastSenderGetsEveryByteThrough(IoEngine engine)
    {
        const int Size = 3 << 20;
        var upload = new byte[Size];
        new Random(3).NextBytes(upload);
        var sizes = new TaskCompletionSource<(int Receive, int Send)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = engine, ReceiveBufferSize = Small, SendBufferSize = Small });
        await server.StartAsync(async connection =>
        {
            var fd = (int)((SocketConnection)connection).Handle.DangerousGetHandle();
            DescriptorNative.GetSocketOption(fd, SoReceiveBuffer, out var receive);
            DescriptorNative.GetSocketOption(fd, SoSendBuffer, out var send);
            sizes.TrySetResult((receive, send));
            received.TrySetResult(await connection.Input.ReadUpToAsync());
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        await client.SendAllAsync(upload);
        client.Shutdown(SocketShutdown.Send);

        // Linux doubles what setsockopt asks for (bookkeeping overhead) and reports the doubled size.
        Assert.Equal((2 * Small, 2 * Small), await sizes.Task.WaitAsync(Loopback.Patience));
        var arrived = await received.Task.WaitAsync(Loopback.Patience);
        Assert.True(upload.AsSpan().SequenceEqual(arrived), "the stream arrived intact");
    }

    [Fact]
    public async Task AnAdoptedListenerGivesItsLaterConnectionsTheConfiguredReceiveBuffer()
    {
        using var owner = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        owner.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        owner.Listen();
        var fd = DescriptorNative.Duplicate((int)owner.SafeHandle.DangerousGetHandle());
        Assert.True(fd >= 0, "dup failed");

        var scale = await OfferedWindowScaleAsync(new TcpServerOptions { ListenFd = fd, ReceiveBufferSize = Small });

        Assert.True(scale <= 1, $"window scale through an adopted listener with ReceiveBufferSize {Small}: {scale}");
    }

    /// <summary>The window scale the server offered in its SYN-ACK, as the client's TCP_INFO reports it
    /// (<c>tcpi_snd_wscale</c>: the low four bits of byte 6 of <c>struct tcp_info</c>).</summary>
    private static async Task<int> OfferedWindowScaleAsync(TcpServerOptions options)
    {
        await using var server = new TcpServer(options);
        await server.StartAsync(Handlers.EchoHandler.Instance);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("x"u8.ToArray());
        await client.ReceiveExactlyAsync(1);
        var info = new byte[104];
        var length = client.GetRawSocketOption((int)SocketOptionLevel.Tcp, 11 /* TCP_INFO */, info);
        Assert.True(length > 6, $"TCP_INFO returned {length} bytes");
        Assert.NotEqual(0, info[5] & 4); // tcpi_options: TCPI_OPT_WSCALE, both ends scale
        return info[6] & 0x0F;
    }
}
