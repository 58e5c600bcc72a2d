using System.Net.Sockets;
using System.Text;
using Sockeye.Framing;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Framing;

/// <summary><see cref="ConnectionFramingExtensions.RejectAsync"/>: answer an oversize frame, drop the
/// rest, close gracefully, count one protocol error.</summary>
public class RejectTests
{
    private static readonly byte[] Reply = "-ERR line too long\n"u8.ToArray();

    [Fact]
    public async Task ThePeerOfAnOversizeLineReadsTheReplyAndAFinNotAReset()
    {
        await using var server = await StartAsync(rethrow: false);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        // Far more than the limit and than loopback's socket buffers (a few MiB): the whole line goes
        // through only if the server reads the rest to drop it; a server that closed with it unread
        // would reset the connection and fail this send.
        var sending = SendOversizeLineAsync(client, 16 * 1024 * 1024, closeAfter: true);
        var (reply, end) = await ReadAllAsync(client);

        Assert.Equal("-ERR line too long\n", reply);
        Assert.Equal(SocketError.Success, end);
        Assert.Equal(SocketError.Success, await sending.WaitAsync(Loopback.Patience));
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the rejected connection is released");
        Assert.Equal(1, server.ProtocolErrors);
        Assert.Equal(1, server.GetClosedCount(ConnectionCloseReason.ProtocolError));
        Assert.Equal(0, server.HandlerErrors);
    }

    [Fact]
    public async Task AHandlerThatRejectsAndThenRethrowsCountsOneProtocolError()
    {
        await using var server = await StartAsync(rethrow: true);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        var sending = SendOversizeLineAsync(client, 64 * 1024, closeAfter: true);
        var (reply, _) = await ReadAllAsync(client);
        await sending.WaitAsync(Loopback.Patience);

        Assert.Equal("-ERR line too long\n", reply);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the rejected connection is released");
        Assert.Equal(1, server.ProtocolErrors);
        Assert.Equal(0, server.HandlerErrors);
    }

    [Fact]
    public async Task APeerThatNeverClosesIsLetGoWhenTheLingerPasses()
    {
        await using var server = await StartAsync(rethrow: false, linger: TimeSpan.FromMilliseconds(300));
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        // The peer sends the oversize line and keeps its side open, never closing.
        await SendOversizeLineAsync(client, 16 * 1024, closeAfter: false).WaitAsync(Loopback.Patience);
        var (reply, _) = await ReadAllAsync(client);

        Assert.Equal("-ERR line too long\n", reply);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the lingering connection is released");
        Assert.Equal(1, server.ProtocolErrors);
    }

    private static async Task<TcpServer> StartAsync(bool rethrow, TimeSpan? linger = null)
    {
        var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var lines = new LineCodec(maxLineLength: 4096);
            try
            {
                await foreach (var line in connection.ReadFramesAsync(lines))
                {
                    await connection.WriteFrameAsync(lines, line);
                }
            }
            catch (FrameTooLargeException ex)
            {
                await connection.RejectAsync(Reply, ex.Message, linger);
                if (rethrow)
                {
                    throw;
                }
            }
        });
        return server;
    }

    /// <summary>Sends a line of <paramref name="bytes"/> without its end; says how the sending ended.</summary>
    private static async Task<SocketError> SendOversizeLineAsync(Socket client, int bytes, bool closeAfter)
    {
        var chunk = new byte[16 * 1024];
        chunk.AsSpan().Fill((byte)'x');
        try
        {
            for (var sent = 0; sent < bytes; sent += chunk.Length)
            {
                await client.SendAllAsync(chunk);
            }

            if (closeAfter)
            {
                client.Shutdown(SocketShutdown.Send);
            }

            return SocketError.Success;
        }
        catch (SocketException ex)
        {
            // The server reset the connection while the line was still going out.
            return ex.SocketErrorCode;
        }
    }

    private static async Task<(string Reply, SocketError End)> ReadAllAsync(Socket client)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        try
        {
            int n;
            while ((n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }

            return (Encoding.ASCII.GetString(received.ToArray()), SocketError.Success);
        }
        catch (SocketException ex)
        {
            return (Encoding.ASCII.GetString(received.ToArray()), ex.SocketErrorCode);
        }
    }
}
