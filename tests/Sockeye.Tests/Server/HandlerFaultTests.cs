using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

public class HandlerFaultTests
{
    [Fact]
    public async Task AnExceptionInOneHandlerEndsOnlyThatConnection()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var result = await connection.Input.ReadAsync();
            if (result.Buffer.FirstSpan[0] == (byte)'X')
            {
                throw new InvalidOperationException("a bug in the handler");
            }

            connection.Input.AdvanceTo(result.Buffer.Start);
            await EchoHandler.Instance.HandleAsync(connection);
        });

        var healthy = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        foreach (var client in healthy)
        {
            await client.SendAllAsync("a"u8.ToArray());
            Assert.Equal("a"u8.ToArray(), await client.ReceiveExactlyAsync(1));
        }

        for (var i = 0; i < 5; i++)
        {
            using var faulty = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await faulty.SendAllAsync("X"u8.ToArray());
            Assert.Equal(SocketError.ConnectionReset, await faulty.ReceiveEndAsync());
        }

        // The healthy connections still work, and so does a new one.
        foreach (var client in healthy)
        {
            await client.SendAllAsync("bc"u8.ToArray());
            Assert.Equal("bc"u8.ToArray(), await client.ReceiveExactlyAsync(2));
            client.Dispose();
        }

        using var fresh = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await fresh.SendAllAsync("d"u8.ToArray());
        Assert.Equal("d"u8.ToArray(), await fresh.ReceiveExactlyAsync(1));
        Assert.Equal(5, server.HandlerErrors);
        Assert.Equal(ServerState.Listening, server.State);
    }

    [Fact]
    public async Task APeerThatResetsIsNotCountedAsAHandlerFault()
    {
        var ended = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            try
            {
                while (true)
                {
                    var result = await connection.Input.ReadAsync();
                    connection.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        ended.TrySetResult(null);
                        return;
                    }
                }
            }
            catch (Exception ex)
            {
                ended.TrySetResult(ex);
                throw;
            }
        });

        using (var client = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await client.SendAllAsync("hi"u8.ToArray());
            await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the connection is open");
            client.LingerState = new LingerOption(true, 0); // close() sends RST
        }

        var error = await ended.Task.WaitAsync(Loopback.Patience);
        Assert.IsType<ConnectionLostException>(error);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the slot is released");
        Assert.Equal(0, server.HandlerErrors);
    }
}
