using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Deadlines.DeadlineTestKit;

namespace Sockeye.Tests.Deadlines;

/// <summary>Timeouts on the real clock with many real connections; margins are generous because the
/// machine is shared and timings are noisy.</summary>
public sealed class RealClockTimeoutTests
{
    [Fact]
    public async Task FiveHundredIdleConnectionsAreAllClosedShortlyAfterIdleTimeout()
    {
        const int count = 500;
        var idle = TimeSpan.FromSeconds(1);
        await using var server = new TcpServer(new TcpServerOptions
        {
            IdleTimeout = idle,
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
        });
        await server.StartAsync(new LineEchoHandler().HandleAsync);

        var clients = new List<(Socket Socket, long ConnectStarted)>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var started = Stopwatch.GetTimestamp();
                clients.Add((await ConnectAsync(server), started));
            }

            var lifetimes = await Task.WhenAll(clients.Select(async c =>
            {
                await c.Socket.ReceiveEndAsync();
                return Stopwatch.GetElapsedTime(c.ConnectStarted);
            }));

            Assert.Equal(count, server.GetTimeoutCount(ConnectionTimeoutKind.Idle));
            Assert.All(lifetimes, lifetime => Assert.True(lifetime >= idle, $"closed after {lifetime}, before IdleTimeout {idle}"));
            var longest = lifetimes.Max();
            Assert.True(longest < idle + TimeSpan.FromSeconds(10), $"the last connection lived {longest}");
            await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "every connection is released");
            Assert.Equal(0, server.DeadlineScanner.Registered);
        }
        finally
        {
            foreach (var (socket, _) in clients)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task SlowlorisIsCutByReadTimeoutWhileANormalClientIsServed()
    {
        var readTimeout = TimeSpan.FromSeconds(2);
        await using var server = new TcpServer(new TcpServerOptions
        {
            ReadTimeout = readTimeout,
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
        });
        await server.StartAsync(new LineEchoHandler().HandleAsync);

        var (slowlorisLived, served) = await RaceSlowlorisAndNormalClient(server);

        Assert.True(slowlorisLived >= readTimeout, $"the slowloris was cut after {slowlorisLived}, before ReadTimeout");
        Assert.True(slowlorisLived < readTimeout + TimeSpan.FromSeconds(10), $"the slowloris lived {slowlorisLived}");
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.Read));
        Assert.Equal(1, server.TimedOutConnections);
        // Round trips every 100 ms while the slowloris is held: about 20 on a quiet machine; a loaded CI
        // machine has given 7. Three already show the normal client served while the slowloris waited.
        Assert.True(served >= 3, $"the normal client got {served} replies");
    }

    [Fact]
    public async Task SlowlorisIsCutByMinReceiveRateWhileANormalClientIsServed()
    {
        var grace = TimeSpan.FromSeconds(2);
        await using var server = new TcpServer(new TcpServerOptions
        {
            MinReceiveRate = new MinDataRate(50, grace),
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
        });
        await server.StartAsync(new LineEchoHandler().HandleAsync);

        var (slowlorisLived, served) = await RaceSlowlorisAndNormalClient(server);

        Assert.True(slowlorisLived >= grace, $"the slowloris was cut after {slowlorisLived}, within the grace period");
        Assert.True(slowlorisLived < grace + TimeSpan.FromSeconds(10), $"the slowloris lived {slowlorisLived}");
        Assert.Equal(1, server.GetTimeoutCount(ConnectionTimeoutKind.MinReceiveRate));
        Assert.Equal(1, server.TimedOutConnections);
        // Round trips every 100 ms while the slowloris is held: about 20 on a quiet machine; a loaded CI
        // machine has given 7. Three already show the normal client served while the slowloris waited.
        Assert.True(served >= 3, $"the normal client got {served} replies");
    }

    /// <summary>
    /// A slowloris sends one byte a second and never ends its line; beside it a normal client sends a
    /// line every 100 ms and reads each reply, until the slowloris has been cut (at most 20 s).
    /// </summary>
    private static async Task<(TimeSpan SlowlorisLived, int Served)> RaceSlowlorisAndNormalClient(TcpServer server)
    {
        // From before the connect: the server's first read, and so its timers, start at the accept.
        var started = Stopwatch.GetTimestamp();
        using var slowloris = await ConnectAsync(server);
        using var normal = await ConnectAsync(server);
        var slowlorisClosed = Task.Run(async () =>
        {
            var closed = slowloris.ReceiveEndAsync();
            while (!closed.IsCompleted && Stopwatch.GetElapsedTime(started) < Loopback.Patience)
            {
                try
                {
                    await slowloris.SendAsync("x"u8.ToArray(), SocketFlags.None);
                }
                catch (SocketException)
                {
                    break;
                }

                await Task.WhenAny(closed, Task.Delay(1000));
            }

            await closed;
            return Stopwatch.GetElapsedTime(started);
        });

        var served = 0;
        while (!slowlorisClosed.IsCompleted)
        {
            await SendAsync(normal, "hello\n");
            Assert.Equal("hello\n", Encoding.ASCII.GetString(await normal.ReceiveExactlyAsync(6)));
            served++;
            await Task.Delay(100);
        }

        var lived = await slowlorisClosed;

        // The normal client is still served after the slowloris is gone.
        await SendAsync(normal, "after\n");
        Assert.Equal("after\n", Encoding.ASCII.GetString(await normal.ReceiveExactlyAsync(6)));
        return (lived, served);
    }
}
