using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

// Every Sockeye server publishes on a meter of its own named "Sockeye", disposed when the server stops.
// OpenTelemetry's SDK treats same-named instruments of same-named meters as one metric stream, and an
// open report says disposing one such meter ends the stream for all of them
// (open-telemetry/opentelemetry-dotnet#6412): one server that stopped would take every other server's
// series out of the admin endpoint's scrape. These pin down that it does not happen here (OpenTelemetry
// 1.20.1), whichever server stops and whether the endpoint started before or after the servers. They
// run alone: other tests' servers start and stop meters too.
[Collection(nameof(TopViewTests))]
public class MeterLifetimeTests
{
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public async Task AServerThatStopsLeavesTheOtherServersSeriesInTheScrape(bool stopTheFirst, bool adminFirst)
    {
        var early = adminFirst ? await AdminPort.StartAsync(() => true) : default;
        await using var first = new TcpServer(new TcpServerOptions());
        await first.StartAsync(EchoHandler.Instance);
        await using var second = new TcpServer(new TcpServerOptions());
        await second.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = adminFirst ? early : await AdminPort.StartAsync(() => true);
        using var _ = admin;
        var (stopped, kept) = stopTheFirst ? (first, second) : (second, first);
        var keptPort = kept.LocalEndPoint!.Port;

        using (var client = await Loopback.ConnectAsync(kept.LocalEndPoint!))
        {
            await client.SendAllAsync(new byte[10]);
            await client.ReceiveExactlyAsync(10);
        }

        Assert.Equal(1, (await AdminPort.ScrapeAsync(adminPort, keptPort)).Value("sockeye_connections_accepted_total"));

        await stopped.StopAsync(TimeSpan.FromSeconds(5));
        await stopped.DisposeAsync();

        using (var client = await Loopback.ConnectAsync(kept.LocalEndPoint!))
        {
            await client.SendAllAsync(new byte[10]);
            await client.ReceiveExactlyAsync(10);
        }

        var samples = await AdminPort.ScrapeAsync(adminPort, keptPort);
        Assert.Equal(2, samples.Value("sockeye_connections_accepted_total"));
        Assert.Equal(20, samples.Value("sockeye_bytes_received_bytes_total"));
    }

    [Fact]
    public async Task AServerStartedAfterAnotherStoppedIsInTheScrape()
    {
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;
        await using (var gone = new TcpServer(new TcpServerOptions()))
        {
            await gone.StartAsync(EchoHandler.Instance);
            Assert.NotEmpty(await AdminPort.ScrapeAsync(adminPort, gone.LocalEndPoint!.Port));
            await gone.StopAsync(TimeSpan.FromSeconds(5));
        }

        await using var later = new TcpServer(new TcpServerOptions());
        await later.StartAsync(EchoHandler.Instance);
        using (var client = await Loopback.ConnectAsync(later.LocalEndPoint!))
        {
            await client.SendAllAsync(new byte[10]);
            await client.ReceiveExactlyAsync(10);
        }

        Assert.Equal(1, (await AdminPort.ScrapeAsync(adminPort, later.LocalEndPoint!.Port)).Value("sockeye_connections_accepted_total"));
    }
}
