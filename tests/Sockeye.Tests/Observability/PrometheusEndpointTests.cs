using System.Net;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public class PrometheusEndpointTests
{
    [Fact]
    public async Task ScrapeAfterHundredEchoConnectionsCountsExactlyWhatTheClientsDid()
    {
        const int Clients = 100;
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = Clients });
        await server.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = await AdminPort.StartAsync(() => server.State == ServerState.Listening);
        using var _ = admin;

        // Each client sends a different number of bytes, reads them back, and closes (FIN).
        var sizes = Enumerable.Range(1, Clients).Select(i => (i * 37) % 1000 + 1).ToArray();
        await Task.WhenAll(sizes.Select(async size =>
        {
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            var payload = new byte[size];
            Random.Shared.NextBytes(payload);
            await client.SendAllAsync(payload);
            Assert.Equal(payload, await client.ReceiveExactlyAsync(size));
            client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            Assert.Equal(System.Net.Sockets.SocketError.Success, await client.ReceiveEndAsync());
        }));
        await Loopback.EventuallyAsync(() => server.GetClosedCount(ConnectionCloseReason.PeerClosed) == Clients, "every connection to be closed");

        var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
        var total = sizes.Sum();
        Assert.Equal(Clients, samples.Value("sockeye_connections_accepted_total"));
        Assert.Equal(Clients, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "peer_closed")));
        Assert.Equal(0, samples.Value("sockeye_connections_closed_total", ("sockeye_close_reason", "handler_error")));
        Assert.Equal(0, samples.Value("sockeye_connections_active"));
        Assert.Equal(total, samples.Value("sockeye_bytes_received_bytes_total"));
        Assert.Equal(total, samples.Value("sockeye_bytes_sent_bytes_total"));
        Assert.Equal(Clients, samples.Value("sockeye_connection_duration_seconds_count", ("sockeye_close_reason", "peer_closed")));
        Assert.Equal(1, samples.Value("sockeye_server_state", ("sockeye_server_state", "listening")));
    }

    [Fact]
    public async Task ActiveConnectionsAreShownWhileTheyAreOpen()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;

        var clients = await Task.WhenAll(Enumerable.Range(0, 7).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        try
        {
            await Loopback.EventuallyAsync(() => server.ActiveConnections == 7, "seven connections to be accepted");
            var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
            Assert.Equal(7, samples.Value("sockeye_connections_active"));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReadyzTurnsUnavailableOnceStopBeginsWhileHealthzStaysOk()
    {
        var server = new TcpServer(new TcpServerOptions());
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A handler that ignores the drain until released, so the server stays in Draining.
        await server.StartAsync(async _ => await release.Task.WaitAsync(Loopback.Patience));
        var (admin, adminPort) = await AdminPort.StartAsync(() => server.State == ServerState.Listening);
        using var _ = admin;
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the connection to be accepted");

        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(adminPort, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(adminPort, "/healthz"));

        var stopping = server.StopAsync(Loopback.Patience);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AdminPort.GetStatusAsync(adminPort, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(adminPort, "/healthz"));
        var samples = await AdminPort.ScrapeAsync(adminPort, server.LocalEndPoint!.Port);
        Assert.Equal(1, samples.Value("sockeye_server_state", ("sockeye_server_state", "draining")));
        Assert.Equal(0, samples.Value("sockeye_server_state", ("sockeye_server_state", "listening")));

        release.SetResult();
        await stopping.WaitAsync(Loopback.Patience);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AdminPort.GetStatusAsync(adminPort, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(adminPort, "/healthz"));
        Assert.Equal(HttpStatusCode.NotFound, await AdminPort.GetStatusAsync(adminPort, "/nothing-here"));
    }
}
