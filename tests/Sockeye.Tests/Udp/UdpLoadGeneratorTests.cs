using System.Net;
using System.Net.Sockets;
using Sockeye.Cli.Commands.Bench;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Udp;

public class UdpLoadGeneratorTests
{
    [Fact]
    public async Task MeasuresAnEchoServerWithoutLossAndAgreesWithTheServersCounts()
    {
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(DatagramEchoHandler.Instance);

        var result = await UdpLoadGenerator.RunAsync(new UdpLoadSettings(server.LocalEndPoint!, Clients: 2, Window: 4, Size: 100, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5))).WaitAsync(Loopback.Patience);

        Assert.Null(result.Error);
        Assert.True(result.Sent > 0);
        Assert.Equal(result.Sent, result.Received);
        Assert.Equal(0, result.Lost);
        Assert.Equal(result.Sent, server.DatagramsReceived);
        Assert.Equal(result.Sent * 100, server.BytesReceived);
        Assert.True(result.DatagramsPerSecond > 0);
        Assert.True(result.MaxLatencyMicroseconds > 0);
        Assert.Equal(result.Latency.Select(l => l.Microseconds).Order(), result.Latency.Select(l => l.Microseconds));
        Assert.InRange(result.Latency[^1].Microseconds, 0, result.MaxLatencyMicroseconds);
    }

    [Fact]
    public async Task CountsDatagramsThatNeverComeBackAsLost()
    {
        var seen = 0;
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(datagram =>
            Interlocked.Increment(ref seen) % 2 == 0 ? datagram.ReplyAsync(datagram.Payload) : ValueTask.CompletedTask);

        var result = await UdpLoadGenerator.RunAsync(new UdpLoadSettings(server.LocalEndPoint!, Clients: 1, Window: 1, Size: 8, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(50))).WaitAsync(Loopback.Patience);

        // Ping-pong against a server that answers every second datagram: half come back.
        Assert.Equal(server.DatagramsReceived, result.Sent);
        Assert.Equal(server.DatagramsSent, result.Received);
        Assert.True(result.Lost > 0);
        Assert.Equal(result.Sent - result.Received, result.Lost);
        Assert.InRange(result.Lost, result.Received - 1, result.Received + 1);
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

        var result = await UdpLoadGenerator.RunAsync(new UdpLoadSettings(new IPEndPoint(IPAddress.Loopback, port), 1, 1, 8, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100))).WaitAsync(Loopback.Patience);

        Assert.Contains("nothing answers", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, result.Received);
    }
}
