using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Cli.Observability;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

/// <summary>The admin port's limits (issue 23): a connection cap, a header deadline and a keep-alive
/// deadline, so idle or trickling clients cannot take the process's descriptors.</summary>
public class AdminEndpointLimitsTests
{
    private static readonly IPEndPoint Any = new(IPAddress.Loopback, 0);

    [Fact]
    public async Task ConnectionsOverTheCapAreClosedAtOnceWhileTheDataPortServesAndAScrapeWorksOnceTheyLeave()
    {
        await using var data = new TcpServer(new TcpServerOptions());
        await data.StartAsync(EchoHandler.Instance);
        var (admin, port) = await AdminPort.StartAsync(() => true, new AdminEndpointOptions { MaxConnections = 2, HeaderTimeout = TimeSpan.FromSeconds(30) });
        using var _ = admin;
        var adminEndPoint = new IPEndPoint(IPAddress.Loopback, port);

        using var first = await Loopback.ConnectAsync(adminEndPoint);
        using var second = await Loopback.ConnectAsync(adminEndPoint);
        await Task.Delay(200); // both take their slots (accepted and handed to Kestrel)

        var overCap = new List<Socket>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                Socket extra;
                try
                {
                    extra = await Loopback.ConnectAsync(adminEndPoint);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
                {
                    continue; // reset so soon that the connect itself saw it: refused, as it should be
                }

                overCap.Add(extra);
                var end = await extra.ReceiveEndAsync();
                Assert.True(end is SocketError.Success or SocketError.ConnectionReset, $"connection {i} over the cap ended with {end}");
            }

            // The data port is not touched by the admin port's cap.
            using var client = await Loopback.ConnectAsync(data.LocalEndPoint!);
            await client.SendAllAsync("ping"u8.ToArray());
            Assert.Equal("ping"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        }
        finally
        {
            overCap.ForEach(s => s.Dispose());
        }

        first.Dispose();
        second.Dispose();

        // Their slots come back once the server has seen them go (a moment): then scrapes are served.
        var status = HttpStatusCode.InternalServerError;
        await Loopback.EventuallyAsync(
            async () =>
            {
                try
                {
                    status = await AdminPort.GetStatusAsync(port, "/healthz");
                }
                catch (HttpRequestException)
                {
                    // Refused or cut while every slot is still taken: try again.
                }

                return status == HttpStatusCode.OK;
            },
            "a scrape is served once the held connections are gone",
            every: TimeSpan.FromMilliseconds(100));

        Assert.Equal(HttpStatusCode.OK, status);
        var samples = await AdminPort.ScrapeAsync(port, data.LocalEndPoint!.Port);
        Assert.Equal(1, samples.Value("sockeye_connections_accepted_total"));

        // The admin port's own connections are not counted as a data port's.
        Assert.Empty(await AdminPort.ScrapeAsync(port, port));
    }

    [Fact]
    public async Task ASilentConnectionIsClosedAtTheHeaderDeadlineNotTheLongerKeepAliveOne()
    {
        var (admin, port) = await AdminPort.StartAsync(() => true, new AdminEndpointOptions { HeaderTimeout = TimeSpan.FromSeconds(1), KeepAliveTimeout = TimeSpan.FromSeconds(30) });
        using var _ = admin;

        using var silent = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var clock = Stopwatch.StartNew();
        var end = await silent.ReceiveEndAsync();
        Assert.True(end is SocketError.Success or SocketError.ConnectionReset, $"ended with {end}");

        // Kestrel checks its deadlines once a second: 1 s plus up to a beat, with room for a busy machine.
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ARequestTrickledByteByByteIsCutAtTheHeaderDeadlineNotWhenItEnds()
    {
        var (admin, port) = await AdminPort.StartAsync(() => true, new AdminEndpointOptions { HeaderTimeout = TimeSpan.FromSeconds(1) });
        using var _ = admin;

        // 60 bytes at one per 250 ms would take 15 s: the deadline is for the whole header, not each byte.
        var request = Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: aaaaaaaaaaaaaaaa\r\n\r\n");
        using var trickler = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var clock = Stopwatch.StartNew();
        var sent = 0;
        try
        {
            foreach (var b in request)
            {
                await trickler.SendAsync(new[] { b });
                sent++;
                await Task.Delay(250);
                if (trickler.Poll(0, SelectMode.SelectRead))
                {
                    break; // the server answered (408) or closed
                }
            }
        }
        catch (SocketException)
        {
            // Reset by the server while we were still sending: cut, as it should be.
        }

        var cut = clock.Elapsed;
        Assert.True(sent < request.Length, $"the whole {request.Length}-byte request went through in {cut}");
        Assert.InRange(cut, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
        var end = await trickler.ReceiveEndAsync();
        Assert.True(end is SocketError.Success or SocketError.ConnectionReset, $"ended with {end}");
    }

    [Fact]
    public async Task AnIdleKeepAliveConnectionIsClosedAtTheKeepAliveDeadlineAfterAnsweringItsRequest()
    {
        var (admin, port) = await AdminPort.StartAsync(() => true, new AdminEndpointOptions { KeepAliveTimeout = TimeSpan.FromSeconds(1) });
        using var _ = admin;

        using var client = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await client.SendAllAsync(Encoding.ASCII.GetBytes("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
        var buffer = new byte[4096];
        var got = await client.ReceiveAsync(buffer).WaitAsync(Loopback.Patience);
        Assert.StartsWith("HTTP/1.1 200 OK", Encoding.ASCII.GetString(buffer, 0, got), StringComparison.Ordinal);
        Assert.Contains("ready", Encoding.ASCII.GetString(buffer, 0, got), StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        var end = await client.ReceiveEndAsync();
        Assert.True(end is SocketError.Success or SocketError.ConnectionReset, $"ended with {end}");
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ReadyzTurnsTo503AndUnknownPathsAre404()
    {
        var ready = true;
        var (admin, port) = await AdminPort.StartAsync(() => ready);
        using var _ = admin;

        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(port, "/readyz"));
        ready = false;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AdminPort.GetStatusAsync(port, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(port, "/healthz/"));
        Assert.Equal(HttpStatusCode.NotFound, await AdminPort.GetStatusAsync(port, "/nothing"));
    }
}
