using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public class MetricTagTests
{
    [Fact]
    public async Task TimeoutsAndRejectionsAppearUnderTheirTags()
    {
        var clock = new FakeTimeProvider();
        await using var server = new TcpServer(new TcpServerOptions
        {
            MaxConnections = 1,
            IdleTimeout = TimeSpan.FromSeconds(10),
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
            TimeProvider = clock,
        });
        await server.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;

        using var held = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the first connection to be accepted");
        try
        {
            // The reset may arrive before the connect returns, or after.
            using var refused = await Loopback.ConnectAsync(server.LocalEndPoint!);
            Assert.Equal(SocketError.ConnectionReset, await refused.ReceiveEndAsync());
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        await Loopback.EventuallyAsync(() => server.RejectedConnections == 1, "the second connection to be refused");

        clock.Advance(TimeSpan.FromSeconds(10));
        await Loopback.EventuallyAsync(() => server.GetClosedCount(ConnectionCloseReason.Timeout) == 1, "the idle connection to be closed");

        var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
        Assert.Equal(1, samples.Value("sockeye_connections_rejected_total", ("sockeye_reject_reason", "limit")));
        Assert.Equal(0, samples.Value("sockeye_connections_rejected_total", ("sockeye_reject_reason", "descriptors")));
        Assert.Equal(1, samples.Value("sockeye_timeouts_total", ("sockeye_timeout_kind", "idle")));
        Assert.Equal(0, samples.Value("sockeye_timeouts_total", ("sockeye_timeout_kind", "read")));
        Assert.Equal(0, samples.Value("sockeye_timeouts_total", ("sockeye_timeout_kind", "min_receive_rate")));
        Assert.Equal(1, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "timeout")));
        Assert.Equal(0, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "peer_closed")));
        Assert.Equal(1, samples.Value("sockeye_connections_accepted_total"));
    }

    [Fact]
    public async Task PerAddressCapRefusalsAppearUnderTheirOwnReason()
    {
        await using var server = new TcpServer(new TcpServerOptions { MaxConnectionsPerIp = 1 });
        await server.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;

        using var held = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the first connection to be accepted");
        try
        {
            using var refused = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await refused.ReceiveEndAsync();
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        await Loopback.EventuallyAsync(() => server.GetRefusalCount(global::Sockeye.Security.RefusalReason.MaxConnectionsPerIp) == 1, "the second connection to be refused");

        var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
        Assert.Equal(1, samples.Value("sockeye_connections_rejected_total", ("sockeye_reject_reason", "max_connections_per_ip")));
        Assert.Equal(0, samples.Value("sockeye_connections_rejected_total", ("sockeye_reject_reason", "accept_rate")));
        Assert.Equal(0, samples.Value("sockeye_connections_rejected_total", ("sockeye_reject_reason", "limit")));
    }

    [Fact]
    public async Task HandlerErrorsResetsAndDrainAbortsAreTaggedByHowTheConnectionEnded()
    {
        // 'x' makes the handler throw; anything else is echoed until the peer leaves.
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            while (true)
            {
                var result = await connection.Input.ReadAsync(connection.ShutdownRequested);
                if (result.Buffer.FirstSpan is [(byte)'x', ..])
                {
                    throw new InvalidOperationException("asked to fail");
                }

                foreach (var segment in result.Buffer)
                {
                    await connection.Output.WriteAsync(segment);
                }

                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;

        using (var failing = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await failing.SendAllAsync("x"u8.ToArray());
            Assert.Equal(SocketError.ConnectionReset, await failing.ReceiveEndAsync());
        }

        using (var resetting = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await resetting.SendAllAsync("hi"u8.ToArray());
            await resetting.ReceiveExactlyAsync(2);
            resetting.LingerState = new LingerOption(true, 0);
        }

        await Loopback.EventuallyAsync(() => server.GetClosedCount(ConnectionCloseReason.PeerReset) == 1, "the reset connection to end");
        var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
        Assert.Equal(1, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "handler_error")));
        Assert.Equal(1, samples.Value("sockeye_handler_errors_total"));
        Assert.Equal(1, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "peer_reset")));
        Assert.Equal(0, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "shutdown")));

        // A connection that is open when the server stops ends as a shutdown.
        using var open = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the last connection to be accepted");
        await server.StopAsync(Loopback.Patience).WaitAsync(Loopback.Patience);
        Assert.Equal(1, server.GetClosedCount(ConnectionCloseReason.Shutdown));
        Assert.Equal(3, Enum.GetValues<ConnectionCloseReason>().Sum(server.GetClosedCount));
    }
}
