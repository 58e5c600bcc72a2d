using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using static Sockeye.Tests.Deadlines.DeadlineTestKit;

namespace Sockeye.Tests.Deadlines;

/// <summary>
/// Peers that do not read cannot grow the server's memory past MaxReadBufferSize and
/// MaxWriteBufferSize. The figure asserted is the server's own pool: every byte a pipe holds is in a
/// 4 KiB block rented from it, and a fresh server's pool counts every block it ever allocated.
/// </summary>
public sealed class BackPressureTests
{
    private const int SocketBuffer = 64 * 1024;

    [Fact]
    public async Task HandlerWritingFiftyMegabytesToAPeerThatNeverReadsIsPausedThenDroppedAfterWriteTimeout()
    {
        const long maxWrite = 64 * 1024;
        var handler = new FloodWriter(total: 50L << 20);
        await using var server = new TcpServer(new TcpServerOptions
        {
            MaxWriteBufferSize = maxWrite,
            WriteTimeout = TimeSpan.FromSeconds(1),
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
            SendBufferSize = SocketBuffer,
        });
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server, receiveBufferSize: SocketBuffer);

        var ended = await handler.Ended.WaitAsync(Loopback.Patience);

        var timeout = Assert.IsType<ConnectionTimeoutException>(ended);
        Assert.Equal(ConnectionTimeoutKind.Write, timeout.Kind);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Write));

        // Paused: what got past FlushAsync is the pipe's limit plus what the kernel buffers on both
        // ends took (SO_SNDBUF and SO_RCVBUF are doubled by Linux), nowhere near 50 MB.
        Assert.True(handler.Flushed < 4L << 20, $"the handler flushed {handler.Flushed} bytes before it was paused");

        // Server memory: the output pipe held at most MaxWriteBufferSize plus one 16 KiB write.
        var held = server.MemoryPool.BlocksAllocated * PinnedBlockMemoryPool.BlockSize;
        Assert.True(held <= 2 * (maxWrite + (16 * 1024)), $"the pipes allocated {held} bytes");
        await client.ReceiveEndAsync();
    }

    [Fact]
    public async Task PeerFloodingAHundredMegabytesWithoutReadingRepliesKeepsServerMemoryBounded()
    {
        const long maxRead = 256 * 1024;
        const long maxWrite = 64 * 1024;
        await using var server = new TcpServer(new TcpServerOptions
        {
            MaxReadBufferSize = maxRead,
            MaxWriteBufferSize = maxWrite,
            WriteTimeout = TimeSpan.FromSeconds(2),
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
            ReceiveBufferSize = SocketBuffer,
            SendBufferSize = SocketBuffer,
        });
        await server.StartAsync(EchoHandler.Instance);
        using var client = await ConnectAsync(server, receiveBufferSize: SocketBuffer);
        client.SendBufferSize = SocketBuffer;

        var chunk = new byte[64 * 1024];
        long sent = 0;
        var flood = Task.Run(async () =>
        {
            while (sent < 100L << 20)
            {
                sent += await client.SendAsync(chunk, SocketFlags.None);
            }
        });

        // The server stops reading when its pipes are full, the flood stalls, and the write timeout
        // ends the connection, which fails the flood.
        var error = await Record.ExceptionAsync(() => flood.WaitAsync(Loopback.Patience));

        Assert.IsType<SocketException>(error);
        Assert.True(Interlocked.Read(ref sent) < 100L << 20, "the flood was never paused");
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Write));

        // Echo holds at most MaxReadBufferSize unread, plus one read's worth written out before its
        // flush and MaxWriteBufferSize waiting for the socket; twice that is the margin.
        var held = server.MemoryPool.BlocksAllocated * PinnedBlockMemoryPool.BlockSize;
        var bound = (2 * maxRead) + maxWrite + (2 * PinnedBlockMemoryPool.BlockSize);
        Assert.True(held <= 2 * bound, $"the pipes allocated {held} bytes, bound {bound}");
    }
}
