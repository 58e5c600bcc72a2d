using System.Buffers.Binary;
using System.Net.Sockets;
using Sockeye.Framing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Framing;

/// <summary>Framed echo servers over real loopback sockets.</summary>
public class FramedServerTests
{
    [Fact]
    public async Task ALineServerClosesOnlyTheConnectionThatSentAnOverlongLine()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new FramedEchoHandler(() => new LineCodec(16)));
        using var good = await ConnectAsync(server);
        using var bad = await ConnectAsync(server);

        await bad.GetStream().WriteAsync("this line is far longer than sixteen bytes\n"u8.ToArray());
        Assert.Equal(0L, (await bad.GetStream().ReceiveToEndAsync()).Received);
        await Loopback.EventuallyAsync(() => server.ProtocolErrors == 1, "the server counts one protocol error");

        // The other connection is untouched and still served.
        await good.GetStream().WriteAsync("hello\r\nworld\n"u8.ToArray());
        Assert.Equal("hello\nworld\n"u8.ToArray(), await good.GetStream().ReceiveExactlyAsync(12));
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
        Assert.Equal(0L, (await client.GetStream().ReceiveToEndAsync()).Received);
        await Loopback.EventuallyAsync(() => server.ProtocolErrors == 1, "the server counts one protocol error");
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
        var echoed = await client.GetStream().ReceiveExactlyAsync(bytes.Length);
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
        var echoed = await client.GetStream().ReceiveExactlyAsync(bytes.Length);
        await writing.WaitAsync(Loopback.Patience);
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
        await received.Task.WaitAsync(Loopback.Patience);

        var summary = await server.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(Loopback.Patience);
        Assert.Equal(1, summary.Drained);
        Assert.Equal("one\n"u8.ToArray(), await client.GetStream().ReceiveExactlyAsync(4));
        Assert.Equal(0L, (await client.GetStream().ReceiveToEndAsync()).Received);
    }

    private static async Task<TcpClient> ConnectAsync(TcpServer server)
    {
        var client = new TcpClient();
        await client.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        return client;
    }
}
