using System.Buffers;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

/// <summary>What <see cref="TcpServerOptions.MaxWriteBufferSize"/> bounds, measured on a peer that does
/// not read: <c>WriteAsync</c>'s pieces; not what a handler writes with <c>Write</c>/<c>GetSpan</c>
/// before it flushes.</summary>
public class WriteBufferTests
{
    private const int Limit = 64 * 1024;

    [Fact]
    public async Task AWriteAsyncToAPeerThatDoesNotReadHoldsAtMostMaxWriteBufferSize()
    {
        const int total = 32 * 1024 * 1024; // far more than loopback's socket buffers, so the flush waits
        var heldAtMost = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { MaxWriteBufferSize = Limit });
        await server.StartAsync(async connection =>
        {
            long max = 0;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    max = Math.Max(max, connection.Output.UnflushedBytes);
                    await Task.Delay(1);
                }
            });
            await connection.Output.WriteAsync(new byte[total]);
            await sampling.CancelAsync();
            await sampler;
            heldAtMost.TrySetResult(max);
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        client.ReceiveBufferSize = 64 * 1024;

        await Task.Delay(300); // not reading: the server's send waits for room
        var received = await client.ReceiveExactlyAsync(total);

        Assert.Equal(total, received.Length);
        var held = await heldAtMost.Task.WaitAsync(Loopback.Patience);
        Assert.InRange(held, 1, Limit);
    }

    [Fact]
    public async Task BytesWrittenWithGetSpanStayBufferedPastMaxWriteBufferSizeUntilTheFlush()
    {
        const int total = 1024 * 1024;
        var buffered = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { MaxWriteBufferSize = Limit });
        await server.StartAsync(async connection =>
        {
            for (var written = 0; written < total; written += 1024)
            {
                connection.Output.Write(new byte[1024]); // GetSpan + Advance: no flush, no limit
            }

            buffered.TrySetResult(connection.Output.UnflushedBytes);
            await connection.Output.FlushAsync();
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        var received = await client.ReceiveExactlyAsync(total);

        Assert.Equal(total, received.Length);
        Assert.Equal(total, await buffered.Task.WaitAsync(Loopback.Patience));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }
}
