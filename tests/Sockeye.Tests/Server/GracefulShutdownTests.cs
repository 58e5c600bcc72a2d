using System.Net.Sockets;
using System.Text;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

public class GracefulShutdownTests
{
    [Fact]
    public async Task InFlightRequestCompletesDuringDrain()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var result = await connection.Input.ReadAtLeastAsync(4);
            connection.Input.AdvanceTo(result.Buffer.End);
            received.SetResult();

            // Slow work that must finish although shutdown is requested meanwhile.
            await Task.Delay(300);
            await connection.Output.WriteAsync("done"u8.ToArray());
        });

        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("work"u8.ToArray());
        await received.Task.WaitAsync(Loopback.Patience);

        var stopping = server.StopAsync(TimeSpan.FromSeconds(10));
        var reply = await client.ReceiveExactlyAsync(4);
        var summary = await stopping.WaitAsync(Loopback.Patience);

        Assert.Equal("done", Encoding.ASCII.GetString(reply));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        Assert.Equal(new ShutdownSummary(1, 1, 0, summary.Elapsed), summary);
        Assert.Equal(ServerState.Stopped, server.State);
    }

    [Fact]
    public async Task HandlersThatIgnoreTheSignalAreAbortedAtTheDeadlineAndTheSummaryCountsBoth()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var result = await connection.Input.ReadAsync();
            var polite = result.Buffer.FirstSpan[0] == (byte)'p';
            connection.Input.AdvanceTo(result.Buffer.End);
            if (polite)
            {
                // Finishes when asked to.
                await Task.Delay(Timeout.Infinite, connection.ShutdownRequested).ContinueWith(_ => { }, TaskScheduler.Default);
                await connection.Output.WriteAsync("bye"u8.ToArray());
            }
            else
            {
                // Ignores the request; only the abort ends it.
                await Task.Delay(Timeout.Infinite, connection.ConnectionClosed);
            }
        });

        var polite = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        var stubborn = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        foreach (var c in polite)
        {
            await c.SendAllAsync("p"u8.ToArray());
        }

        foreach (var c in stubborn)
        {
            await c.SendAllAsync("s"u8.ToArray());
        }

        await Loopback.EventuallyAsync(() => server.ActiveConnections == 5, "all five are being served");
        var drain = TimeSpan.FromMilliseconds(500);
        var summary = await server.StopAsync(drain).WaitAsync(Loopback.Patience);

        Assert.Equal(5, summary.Open);
        Assert.Equal(3, summary.Drained);
        Assert.Equal(2, summary.Aborted);
        Assert.False(summary.IsClean);
        // The runtime's timers have millisecond granularity: allow a tick of slack.
        Assert.True(summary.Elapsed >= drain - TimeSpan.FromMilliseconds(15), $"stopped after {summary.Elapsed}, before the {drain} drain timeout");
        foreach (var c in polite)
        {
            Assert.Equal("bye"u8.ToArray(), await c.ReceiveExactlyAsync(3));
            Assert.Equal(SocketError.Success, await c.ReceiveEndAsync());
        }

        foreach (var c in stubborn)
        {
            Assert.Equal(SocketError.ConnectionReset, await c.ReceiveEndAsync());
        }

        Assert.Equal(0, server.ActiveConnections);
    }

    [Fact]
    public async Task NewConnectionsAreRefusedOnceStoppingHasBegun()
    {
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            handlerStarted.TrySetResult();
            await Task.Delay(Timeout.Infinite, connection.ConnectionClosed);
        });

        using var busy = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await handlerStarted.Task.WaitAsync(Loopback.Patience);
        var stopping = server.StopAsync(TimeSpan.FromSeconds(2));
        await Loopback.EventuallyAsync(() => server.State == ServerState.Draining, "the server is draining");

        var refused = await Assert.ThrowsAsync<SocketException>(() => Loopback.ConnectAsync(server.LocalEndPoint!));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.False(stopping.IsCompleted);
        Assert.Equal(1, (await stopping.WaitAsync(Loopback.Patience)).Aborted);
    }

    [Fact]
    public async Task EchoHandlerAnswersWhatArrivedBeforeShutdownThenCloses()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var clients = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        foreach (var c in clients)
        {
            await c.SendAllAsync("ping"u8.ToArray());
            Assert.Equal("ping"u8.ToArray(), await c.ReceiveExactlyAsync(4));
        }

        var summary = await server.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(Loopback.Patience);

        Assert.Equal(new ShutdownSummary(20, 20, 0, summary.Elapsed), summary);
        foreach (var c in clients)
        {
            Assert.Equal(SocketError.Success, await c.ReceiveEndAsync());
            c.Dispose();
        }
    }

    [Fact]
    public async Task StopIsIdempotentAndDisposeAfterStopIsHarmless()
    {
        var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var first = server.StopAsync(TimeSpan.FromSeconds(1));
        var second = server.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Same(first, second);
        await first.WaitAsync(Loopback.Patience);
        await server.DisposeAsync();
        Assert.Equal(ServerState.Stopped, server.State);
    }
}
