using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sockeye.Framing;
using Sockeye.Server;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Server;

/// <summary><see cref="TcpServer.RunAsync(Func{Connection, Task}, TimeSpan?, CancellationToken)"/> without
/// a signal (the signals themselves: SampleTests' QuickStart, a real process sent SIGTERM).</summary>
public class RunAsyncTests
{
    [Fact]
    public async Task RunServesUntilTheTokenIsCancelledThenDrainsAndReturnsTheSummary()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        using var stop = new CancellationTokenSource();
        var run = server.RunAsync(LineEcho, TimeSpan.FromSeconds(10), stop.Token);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("one\n"u8.ToArray());
        Assert.Equal("one\n"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        Assert.False(run.IsCompleted);

        await stop.CancelAsync();
        var summary = await run.WaitAsync(Loopback.Patience);

        Assert.Equal(new ShutdownSummary(1, 1, 0, summary.Elapsed), summary);
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        Assert.Equal(ServerState.Stopped, server.State);
    }

    [Fact]
    public async Task RunReturnsWhenAnotherCallerStopsTheServer()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        var run = server.RunAsync(LineEcho);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");

        var stopped = await server.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(stopped, await run.WaitAsync(Loopback.Patience));
    }

    [Fact]
    public async Task ADrainThatTimesOutAbortsAndRunReportsIt()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        using var stop = new CancellationTokenSource();
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(async connection =>
        {
            handlerStarted.TrySetResult();
            await Task.Delay(Timeout.Infinite, connection.ConnectionClosed); // ignores ShutdownRequested
        }, TimeSpan.FromMilliseconds(200), stop.Token);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await handlerStarted.Task.WaitAsync(Loopback.Patience);

        await stop.CancelAsync();
        var summary = await run.WaitAsync(Loopback.Patience);

        Assert.Equal(1, summary.Aborted);
        Assert.False(summary.IsClean);
    }

    [Fact]
    public async Task TheFirstSignalDrainsGracefully()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        using var signals = new StopSignal(CancellationToken.None);
        var run = server.RunAsync(LineEcho, TimeSpan.FromSeconds(30), signals);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("one\n"u8.ToArray());
        Assert.Equal("one\n"u8.ToArray(), await client.ReceiveExactlyAsync(4));

        var sigterm = new PosixSignalContext(PosixSignal.SIGTERM);
        signals.OnSignal(sigterm);
        var summary = await run.WaitAsync(Loopback.Patience);

        Assert.True(sigterm.Cancel, "the runtime's default action (exit) is cancelled");
        Assert.Equal(new ShutdownSummary(1, 1, 0, summary.Elapsed), summary);
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Fact]
    public async Task ASecondSignalCutsTheDrainShort()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        using var signals = new StopSignal(CancellationToken.None);
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(async connection =>
        {
            handlerStarted.TrySetResult();
            await Task.Delay(Timeout.Infinite, connection.ConnectionClosed); // ignores ShutdownRequested
        }, TimeSpan.FromMinutes(10), signals);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await handlerStarted.Task.WaitAsync(Loopback.Patience);

        signals.OnSignal(new PosixSignalContext(PosixSignal.SIGINT));
        await Loopback.EventuallyAsync(() => server.State == ServerState.Draining, "the first Ctrl-C starts the drain");
        Assert.False(run.IsCompleted, "the drain waits for the handler");
        signals.OnSignal(new PosixSignalContext(PosixSignal.SIGINT));
        var summary = await run.WaitAsync(Loopback.Patience); // well before the 10-minute drain timeout

        Assert.Equal(1, summary.Aborted);
        Assert.Equal(SocketError.ConnectionReset, await client.ReceiveEndAsync());
    }

    [Fact]
    public async Task ARunOfAnAlreadyCancelledTokenDoesNotStart()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        using var stop = new CancellationTokenSource();
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => server.RunAsync(LineEcho, cancellationToken: stop.Token));
        Assert.Equal(ServerState.Created, server.State);
    }

    [Fact]
    public async Task UdpRunServesUntilTheTokenIsCancelled()
    {
        await using var server = new UdpServer(new UdpServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        using var stop = new CancellationTokenSource();
        var run = server.RunAsync(datagram => datagram.ReplyAsync(datagram.Payload), cancellationToken: stop.Token);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await client.SendAsync("ping"u8.ToArray(), server.LocalEndPoint!);
        var echo = await client.ReceiveAsync().WaitAsync(Loopback.Patience);
        Assert.Equal("ping"u8.ToArray(), echo.Buffer);

        await stop.CancelAsync();
        await run.WaitAsync(Loopback.Patience);

        Assert.Equal(ServerState.Stopped, server.State);
    }

    private static async Task LineEcho(Connection connection)
    {
        var lines = new LineCodec(maxLineLength: 4096);
        await foreach (var line in connection.ReadFramesAsync(lines))
        {
            await connection.WriteFrameAsync(lines, line);
        }
    }
}
