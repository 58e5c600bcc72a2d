using System.Net;
using System.Net.Sockets;
using Sockeye.Bench;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Bench;

/// <summary><c>sockeye bench udp</c>: the udp workload against real UDP servers on loopback.</summary>
public class UdpLoadGeneratorTests
{
    private static BenchSettings Settings(IPEndPoint target, int clients, int window, int size, TimeSpan duration, TimeSpan lossTimeout) => new()
    {
        Mode = BenchMode.Udp,
        Host = target.Address.ToString(),
        Port = target.Port,
        Connections = clients,
        Window = window,
        Size = size,
        Duration = duration,
        LossTimeout = lossTimeout,
        Warmup = TimeSpan.Zero,
        Quiet = true,
    };

    private static Task<BenchResult> RunAsync(BenchSettings settings) =>
        new BenchCoordinator(settings, TextWriter.Null).RunAsync(CancellationToken.None).WaitAsync(Loopback.Patience);

    [Fact]
    public async Task MeasuresAnEchoServerWithoutLossAndAgreesWithTheServersCounts()
    {
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(DatagramEchoHandler.Instance);

        var result = await RunAsync(Settings(server.LocalEndPoint!, clients: 2, window: 4, size: 100, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5)));

        Assert.Null(result.Failure);
        Assert.Equal(0, result.Errors);
        Assert.True(result.DatagramsSent > 0);
        Assert.Equal(result.DatagramsSent, result.DatagramsReceived);
        Assert.Equal(0, result.DatagramsLost);
        Assert.Equal(result.DatagramsSent, server.DatagramsReceived);
        Assert.Equal(result.DatagramsSent * 100, server.BytesReceived);
        Assert.True(result.Throughput > 0);
        Assert.True(result.MaxMicroseconds > 0);
        double[] percentiles = [result.P50Microseconds, result.P90Microseconds, result.P99Microseconds, result.P999Microseconds];
        Assert.Equal(percentiles.Order(), percentiles);
        Assert.InRange(result.P999Microseconds, 0, result.MaxMicroseconds);
    }

    [Fact]
    public async Task CountsDatagramsThatNeverComeBackAsLost()
    {
        var seen = 0;
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(datagram =>
            Interlocked.Increment(ref seen) % 2 == 0 ? datagram.ReplyAsync(datagram.Payload) : ValueTask.CompletedTask);

        var result = await RunAsync(Settings(server.LocalEndPoint!, clients: 1, window: 1, size: 8, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(50)));

        // Ping-pong against a server that answers every second datagram: half come back.
        Assert.Equal(server.DatagramsReceived, result.DatagramsSent);
        Assert.Equal(server.DatagramsSent, result.DatagramsReceived);
        Assert.True(result.DatagramsLost > 0);
        Assert.Equal(result.DatagramsSent - result.DatagramsReceived, result.DatagramsLost);
        Assert.InRange(result.DatagramsLost!.Value, result.DatagramsReceived!.Value - 1, result.DatagramsReceived.Value + 1);
        Assert.Equal(0, result.Errors); // Loss is measured, not an error.
    }

    [Fact]
    public async Task ReportsAnErrorWhenNothingListens()
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var result = await RunAsync(Settings(new IPEndPoint(IPAddress.Loopback, port), 1, 1, 8, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100)));

        Assert.Contains("nothing answers", result.Failure, StringComparison.Ordinal);
        Assert.Equal(0, result.DatagramsReceived);
        Assert.True(result.Errors > 0, "a run against nothing must fail (exit code 1)");
    }

    [Fact]
    public async Task PercentilesComeFromTheHistogramOfEveryReplyAndSeeALatencyTheServerAdds()
    {
        // Every reply held back 20 ms: ping-pong round trips can be no shorter, so every percentile is
        // at least that (HdrHistogram keeps 3 significant digits), and the slowest is nowhere near the
        // 20 s test limit.
        var delay = TimeSpan.FromMilliseconds(20);
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(async datagram =>
        {
            await Task.Delay(delay);
            await datagram.ReplyAsync(datagram.Payload);
        });

        var result = await RunAsync(Settings(server.LocalEndPoint!, clients: 1, window: 1, size: 64, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)));

        Assert.Null(result.Failure);
        Assert.True(result.Operations > 0, "no reply in the measured window");
        var samples = LatencyHistogram.Decode(result.Histogram).TotalCount;
        Assert.InRange(samples, 1, result.DatagramsReceived!.Value);
        Assert.True(result.P50Microseconds >= delay.TotalMicroseconds * 0.99, $"p50 {result.P50Microseconds} µs is below the {delay.TotalMilliseconds} ms the server waits");
        Assert.True(result.P999Microseconds >= result.P50Microseconds);
        Assert.InRange(result.MaxMicroseconds, result.P999Microseconds, 10_000_000);
        // Ping-pong at ≥ 20 ms a round trip: at most about 50 replies a second.
        Assert.InRange(result.Throughput, 1, 55);
    }
}
