using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Deadlines.DeadlineTestKit;

namespace Sockeye.Tests.Deadlines;

/// <summary>
/// Each timeout and deadline on a fake clock: it fires at its time and not a tick before. Sockets are
/// real; only time is fake. The scan runs inside <see cref="FakeTimeProvider.Advance(TimeSpan)"/>, so
/// the timeout counters can be checked right after each step.
/// </summary>
public sealed class FakeClockTimeoutTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private readonly FakeTimeProvider _clock = new();

    private TcpServerOptions Options(Action<TcpServerOptions> configure)
    {
        var options = new TcpServerOptions { TimeProvider = _clock, TimeoutResolution = Tick };
        configure(options);
        return options;
    }

    [Fact]
    public async Task IdleConnectionIsClosedAtIdleTimeoutAndNotBefore()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.IdleTimeout = TimeSpan.FromSeconds(10)));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        await handler.Connected.WaitAsync(Loopback.Patience);

        _clock.Advance(TimeSpan.FromSeconds(10) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Idle));
        var ended = await handler.Ended.WaitAsync(Loopback.Patience);
        var timeout = Assert.IsType<ConnectionTimeoutException>(ended);
        Assert.Equal(ConnectionTimeoutKind.Idle, timeout.Kind);
        Assert.Contains("IdleTimeout 10s", timeout.Message, StringComparison.Ordinal);
        await client.ReceiveEndAsync();
    }

    [Fact]
    public async Task ReceivedBytesRestartTheIdleClock()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.IdleTimeout = TimeSpan.FromSeconds(10)));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        await handler.Connected.WaitAsync(Loopback.Patience);

        _clock.Advance(TimeSpan.FromSeconds(6));
        await SendAsync(client, "ping\n");
        Assert.Equal("ping\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));

        _clock.Advance(TimeSpan.FromSeconds(10) - Tick); // 10 s after the start, 4 s after the ping
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Idle));
    }

    [Fact]
    public async Task ReadTimeoutCoversAWholeFrameSoTrickledBytesDoNotExtendIt()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.ReadTimeout = TimeSpan.FromSeconds(5)));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        var connection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));
        await Loopback.EventuallyAsync(() => connection.IsReadPending, "the handler is reading");

        // A partial line every 2 s: each wakes the handler, none completes the frame.
        for (var i = 0; i < 2; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(2));
            await SendAsync(client, "x");
            await Loopback.EventuallyAsync(() => connection.BytesReceived == i + 1, "the byte arrived");
        }

        _clock.Advance(TimeSpan.FromSeconds(1) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Read));
        var timeout = Assert.IsType<ConnectionTimeoutException>(await handler.Ended.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.Read, timeout.Kind);
        Assert.Contains("ReadTimeout 5s", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadTimeoutRestartsWithEachConsumedFrame()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.ReadTimeout = TimeSpan.FromSeconds(5)));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        await handler.Connected.WaitAsync(Loopback.Patience);

        for (var i = 0; i < 3; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(4));
            await SendAsync(client, "line\n");
            Assert.Equal("line\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));
        }

        Assert.Equal(0, server.TimedOutConnections);
    }

    [Fact]
    public async Task ReadDeadlineMovedLaterPostponesTheTimeout()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        var connection = await handler.Connected.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => Internal(connection).IsReadPending, "the handler is reading");

        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(5));
        _clock.Advance(TimeSpan.FromSeconds(3));
        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(5)); // now due at 8 s

        _clock.Advance(TimeSpan.FromSeconds(5) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.ReadDeadline));
        var timeout = Assert.IsType<ConnectionTimeoutException>(await handler.Ended.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.ReadDeadline, timeout.Kind);
        Assert.Contains("read deadline", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClearedReadDeadlineNeverFires()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        var connection = await handler.Connected.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => Internal(connection).IsReadPending, "the handler is reading");

        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(1));
        connection.ClearReadDeadline();
        for (var i = 0; i < 30; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(0, server.TimedOutConnections);
        await SendAsync(client, "still here\n");
        Assert.Equal("still here\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(11)));
    }

    [Fact]
    public async Task ReadStartedAfterTheReadDeadlineFailsAtOnce()
    {
        var failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(async connection =>
        {
            connection.SetReadDeadline(_clock.GetUtcNow()); // Go's way to make reads fail now
            try
            {
                await connection.Input.ReadAsync();
            }
            catch (Exception ex)
            {
                failure.TrySetResult(ex);
            }
        });
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        }
        catch (SocketException)
        {
            // The server may reset the connection before the connect call has returned here.
        }

        var timeout = Assert.IsType<ConnectionTimeoutException>(await failure.Task.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.ReadDeadline, timeout.Kind);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.ReadDeadline));
    }

    [Fact]
    public async Task WriteTimeoutReleasesAHandlerPausedByAPeerThatDoesNotRead()
    {
        var handler = new FloodWriter(total: 50L << 20);
        await using var server = new TcpServer(Options(o =>
        {
            o.WriteTimeout = TimeSpan.FromSeconds(5);
            o.SendBufferSize = 32 * 1024;
        }));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server, receiveBufferSize: 32 * 1024);
        var connection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));
        await WaitUntilStalled(handler, connection);

        _clock.Advance(TimeSpan.FromSeconds(5) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Write));
        var timeout = Assert.IsType<ConnectionTimeoutException>(await handler.Ended.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.Write, timeout.Kind);
        Assert.Contains("WriteTimeout 5s", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteDeadlineFailsASendStillPendingAtTheDeadline()
    {
        var handler = new FloodWriter(total: 50L << 20);
        await using var server = new TcpServer(Options(o => o.SendBufferSize = 32 * 1024));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server, receiveBufferSize: 32 * 1024);
        var connection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));
        await WaitUntilStalled(handler, connection);

        connection.SetWriteDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(2));
        _clock.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.WriteDeadline));
        var timeout = Assert.IsType<ConnectionTimeoutException>(await handler.Ended.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.WriteDeadline, timeout.Kind);
    }

    [Fact]
    public async Task MinReceiveRateCutsATrickleAfterTheGracePeriodButNotASteadySender()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.MinReceiveRate = new MinDataRate(100, TimeSpan.FromSeconds(2))));
        await server.StartAsync(handler.HandleAsync);

        // A steady sender: 1,000 bytes of one frame at once stays above 100 bytes/s for 10 s.
        using var steady = await ConnectAsync(server);
        var steadyConnection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));
        await SendAsync(steady, new string('s', 1000));
        await Loopback.EventuallyAsync(() => steadyConnection.BytesReceived == 1000, "the steady bytes arrived");

        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, server.TimedOutConnections);

        // A trickler: one byte, then nothing; its read starts now, so the rate applies from now + 2 s.
        using var trickle = await ConnectAsync(server);
        await SendAsync(trickle, "t");
        Transport.SocketConnection? trickling = null;
        await Loopback.EventuallyAsync(
            () => (trickling = handler.All.Select(Internal).FirstOrDefault(c => c != steadyConnection)) is { IsReadPending: true, BytesReceived: 1 },
            "the trickler's read began");

        _clock.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(0, server.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.MinReceiveRate));
        await trickle.ReceiveEndAsync();
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "only the steady sender is left");
        Assert.False(steadyConnection.IsAborted);
    }

    // Until the handler's flushes stop moving: the peer's window and both socket buffers are full and
    // one send is pending. Real time, because the fake clock does not move while sockets fill.
    private static async Task WaitUntilStalled(FloodWriter handler, Transport.SocketConnection connection)
    {
        long last = -1;
        var stable = 0;
        await Loopback.EventuallyAsync(
            () =>
            {
                var now = handler.Flushed;
                stable = now == last && connection.IsSendPending ? stable + 1 : 0;
                last = now;
                Assert.True(handler.Flushed < handler.Total, "the handler was never paused");
                return stable >= 5;
            },
            "the handler's flushes stop moving with a send pending",
            every: TimeSpan.FromMilliseconds(50));
    }
}
