using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Deadlines.DeadlineTestKit;

namespace Sockeye.Tests.Deadlines;

/// <summary>
/// A connection holds deadline state and a scanner slot only when it has something to time: from the
/// accept when a server timeout is on, otherwise from the first timeout or deadline set on it. Real
/// sockets, fake clock.
/// </summary>
public sealed class LazyDeadlineStateTests
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
    public async Task ConnectionWithoutTimeoutsTakesNoScannerSlotUntilADeadlineIsSet()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        var connection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));
        await SendAsync(client, "hello\n");
        Assert.Equal("hello\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(6)));
        await Loopback.EventuallyAsync(() => connection.IsReadPending, "the handler is reading again");

        Assert.False(connection.HasDeadlineState);
        Assert.Equal(0, server.DeadlineScanner.Registered);
        Assert.Equal(TimeSpan.Zero, connection.IdleTimeout);
        connection.IdleTimeout = TimeSpan.Zero; // turning off what is off creates nothing
        connection.ClearReadDeadline();
        Assert.False(connection.HasDeadlineState);

        // A deadline set in the middle of the read it must end.
        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(2));
        Assert.True(connection.HasDeadlineState);
        Assert.Equal(1, server.DeadlineScanner.Registered);
        _clock.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(0, server.TimedOutConnections);
        _clock.Advance(Tick);
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.ReadDeadline));
        var timeout = Assert.IsType<ConnectionTimeoutException>(await handler.Ended.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.ReadDeadline, timeout.Kind);
        await Loopback.EventuallyAsync(() => server.DeadlineScanner.Registered == 0, "the slot is given back");
    }

    [Fact]
    public async Task IdleTimeoutSetOnOneConnectionTimesOnlyThatConnection()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(handler.HandleAsync);
        using var first = await ConnectAsync(server);
        var timed = await handler.Connected.WaitAsync(Loopback.Patience);
        using var second = await ConnectAsync(server);
        await Loopback.EventuallyAsync(() => handler.All.Count == 2, "both connections are served");

        timed.IdleTimeout = TimeSpan.FromSeconds(5);
        Assert.Equal(TimeSpan.FromSeconds(5), timed.IdleTimeout);
        Assert.Equal(1, server.DeadlineScanner.Registered);
        _clock.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Idle));
        await first.ReceiveEndAsync();
        await SendAsync(second, "untimed\n");
        Assert.Equal("untimed\n", Encoding.ASCII.GetString(await second.ReceiveExactlyAsync(8)));
    }

    [Fact]
    public async Task ServerTimeoutGivesEveryConnectionItsStateFromTheAccept()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(o => o.WriteTimeout = TimeSpan.FromSeconds(30)));
        await server.StartAsync(handler.HandleAsync);
        using var client = await ConnectAsync(server);
        var connection = Internal(await handler.Connected.WaitAsync(Loopback.Patience));

        Assert.True(connection.HasDeadlineState);
        Assert.Equal(1, server.DeadlineScanner.Registered);
        Assert.Equal(TimeSpan.FromSeconds(30), connection.WriteTimeout);
    }

    [Fact]
    public async Task DeadlineSetAfterTheConnectionEndedTakesNoSlot()
    {
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(Options(_ => { }));
        await server.StartAsync(handler.HandleAsync);
        var client = await ConnectAsync(server);
        var connection = await handler.Connected.WaitAsync(Loopback.Patience);
        client.Dispose();
        await handler.Ended.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the connection is released");

        connection.SetReadDeadline(_clock.GetUtcNow());
        connection.WriteTimeout = TimeSpan.FromSeconds(1);

        Assert.Equal(0, server.DeadlineScanner.Registered);
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0, server.TimedOutConnections);
    }
}
