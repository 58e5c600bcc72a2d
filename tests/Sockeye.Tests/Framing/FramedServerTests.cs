using System.Buffers.Binary;
using System.Net.Sockets;
using Sockeye.Framing;
using Sockeye.Handlers;

namespace Sockeye.Tests.Framing;

/// <summary>Framed echo servers over real loopback sockets.</summary>
public class FramedServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ALineServerClosesOnlyTheConnectionThatSentAnOverlongLine()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new FramedEchoHandler(() => new LineCodec(16)));
        using var good = await ConnectAsync(server);
        using var bad = await ConnectAsync(server);

        await bad.GetStream().WriteAsync("this line is far longer than sixteen bytes\n"u8.ToArray());
        Assert.Equal(0, await ReadUntilClosedAsync(bad.GetStream()));
        await WaitUntilAsync(() => server.ProtocolErrors == 1);

        // The other connection is untouched and still served.
        await good.GetStream().WriteAsync("hello\r\nworld\n"u8.ToArray());
        Assert.Equal("hello\nworld\n"u8.ToArray(), await ReadExactlyAsync(good.GetStream(), 12));
        Assert.Equal(0, server.HandlerErrors);
    }

    [Fact]
    public async Task AnOversizeLengthPrefixClosesTheConnectionWithoutWaitingForTheBody()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new FramedEchoHandler(() => new LengthPrefixCodec(64 * 1024)));
        using var client = await ConnectAsync(server);

        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 100_000_000);
        await client.GetStream().WriteAsync(header);
        Assert.Equal(0, await ReadUntilClosedAsync(client.GetStream()));
        await WaitUntilAsync(() => server.ProtocolErrors == 1);
    }

    [Fact]
    public async Task PipelinedFramesAreAllEchoedInOrder()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new FramedEchoHandler(() => new LengthPrefixCodec(1024, lengthFieldSize: 2)));
        using var client = await ConnectAsync(server);
        var codec = new LengthPrefixCodec(1024, lengthFieldSize: 2);
        var frames = Enumerable.Range(0, 200).Select(i => Enumerable.Repeat((byte)i, i % 50).ToArray()).ToList();
        var bytes = FrameStream.EncodeAll(codec, frames);

        await client.GetStream().WriteAsync(bytes);
        var echoed = await ReadExactlyAsync(client.GetStream(), bytes.Length);
        Assert.Equal(frames, FrameStream.DecodeAll(codec, echoed, [], out _));
    }

    [Fact]
    public async Task AFrameLargerThanTheInputPipeLimitIsEchoedWhole()
    {
        // The server's input pipe pauses at 1 MiB; a 3 MiB frame must be gathered out of the pipe.
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new FramedEchoHandler(() => new LengthPrefixCodec(4 << 20)));
        using var client = await ConnectAsync(server);
        var frame = new byte[3 << 20];
        new Random(7).NextBytes(frame);
        var bytes = FrameStream.EncodeAll(new LengthPrefixCodec(4 << 20), [frame]);

        var writing = client.GetStream().WriteAsync(bytes).AsTask();
        var echoed = await ReadExactlyAsync(client.GetStream(), bytes.Length);
        await writing.WaitAsync(Timeout);
        Assert.Equal(bytes, echoed);
    }

    [Fact]
    public async Task ReadFramesEndsOnAGracefulShutdownAfterAnsweringWhatArrived()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var lines = new LineCodec(100);
            await foreach (var line in connection.ReadFramesAsync(lines))
            {
                await connection.WriteFrameAsync(lines, line);
                received.TrySetResult();
            }
        });
        using var client = await ConnectAsync(server);
        await client.GetStream().WriteAsync("one\n"u8.ToArray());
        await received.Task.WaitAsync(Timeout);

        var summary = await server.StopAsync(Timeout).WaitAsync(Timeout * 2);
        Assert.Equal(1, summary.Drained);
        Assert.Equal("one\n"u8.ToArray(), await ReadExactlyAsync(client.GetStream(), 4));
        Assert.Equal(0, await ReadUntilClosedAsync(client.GetStream()));
    }

    private static async Task<TcpClient> ConnectAsync(TcpServer server)
    {
        var client = new TcpClient();
        await client.ConnectAsync(server.LocalEndPoint!).WaitAsync(Timeout);
        return client;
    }

    private static async Task<byte[]> ReadExactlyAsync(NetworkStream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
        return buffer;
    }

    /// <summary>Reads until the server closes or resets the connection; returns the bytes read after
    /// the close began (0 when nothing was echoed).</summary>
    private static async Task<int> ReadUntilClosedAsync(NetworkStream stream)
    {
        var buffer = new byte[4096];
        var total = 0;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout)) > 0)
            {
                total += n;
            }
        }
        catch (IOException)
        {
            // A reset: the connection was aborted.
        }

        return total;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10);
        }
    }
}
