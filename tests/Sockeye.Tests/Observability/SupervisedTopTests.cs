using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public partial class SupervisedTopTests
{
    [Fact]
    public async Task TopWithTheCommandTheSupervisorPrintsShowsEveryWorkersConnectionsSummed()
    {
        var (serve, metricsPort) = await StartWithMetricsAsync();
        using var _ = serve;
        var endPoint = await serve.ListeningAsync();
        var watch = WatchLine().Match(serve.Stdout);
        Assert.True(watch.Success, $"no 'watch all' line in: {serve.Stdout}");
        Assert.Equal($"top --url http://127.0.0.1:{metricsPort}/metrics --workers 2", watch.Groups[1].Value);

        // 40 connections, each proved by a round trip and held open; SO_REUSEPORT spreads them over both workers.
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var client = await Loopback.ConnectAsync(endPoint);
                clients.Add(client);
                await client.SendAllAsync(new byte[] { 42 });
                await client.ReceiveExactlyAsync(1);
            }

            // Each worker's own page holds only its share.
            var shares = await WorkerSharesAsync(metricsPort, endPoint.Port, expectedTotal: 40);
            Assert.All(shares, share => Assert.InRange(share, 1, 39));

            var (code, stdout, stderr) = await CliProcess.RunAsync($"{watch.Groups[1].Value} --frames 2 --interval 200ms");

            Assert.True(code == 0, $"top exited with {code}: {stderr}");
            Assert.Contains("2 of 2 workers", stdout, StringComparison.Ordinal);
            Assert.Matches(@"active connections\s*│\s*40\s*│", stdout);
            Assert.Matches(@"accepted\s*│\s*40\s*│", stdout);
            Assert.Matches(@"bytes in\s*│\s*40\s*│", stdout);
            Assert.Contains("servers: 1", stdout, StringComparison.Ordinal);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        serve.Signal("TERM");
        Assert.Equal(0, await serve.WaitForExitAsync());
    }

    [Theory]
    [InlineData("127.0.0.1", "sockeye top --url http://127.0.0.1:9100/metrics --workers 4")]
    [InlineData("0.0.0.0", "sockeye top --url http://127.0.0.1:9100/metrics --workers 4")]
    [InlineData("::", "sockeye top --url http://[::1]:9100/metrics --workers 4")]
    [InlineData("fd00::7", "sockeye top --url http://[fd00::7]:9100/metrics --workers 4")]
    [InlineData("localhost", "sockeye top --url http://localhost:9100/metrics --workers 4")]
    public void TheWatchCommandReachesTheWorkersMetricsHost(string metricsHost, string expected) =>
        Assert.Equal(expected, Sockeye.Cli.Commands.Supervision.SuperviseRunner.TopCommandFor(metricsHost, 9100, 4));

    /// <summary>The active connections of each of the two workers, once together they hold
    /// <paramref name="expectedTotal"/> (scraped until then, within the patience).</summary>
    private static async Task<double[]> WorkerSharesAsync(int metricsPort, int serverPort, int expectedTotal)
    {
        double[] active = [];
        try
        {
            await Loopback.EventuallyAsync(
                async () =>
                {
                    var shares = await Task.WhenAll(
                        AdminPort.ScrapeAsync(metricsPort, serverPort),
                        AdminPort.ScrapeAsync(metricsPort + 1, serverPort));
                    active = shares.Select(s => s.Value("sockeye_connections_active")).ToArray();
                    return active.Sum() == expectedTotal;
                },
                $"the workers' pages show {expectedTotal} active connections",
                every: TimeSpan.FromMilliseconds(50));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the workers' pages show {string.Join(" + ", active)} active connections, not {expectedTotal}");
        }

        return active;
    }

    /// <summary>Starts <c>serve echo --processes 2</c> with metrics on a free port pair and waits until both
    /// workers serve them. The pair was free when probed, but the suite's other tests open connections from
    /// ephemeral ports all the while and may take one of the two first: then a worker cannot bind, and the
    /// run starts again on a new pair (three tries; the last one's output is in the failure).</summary>
    private static async Task<(CliProcess Serve, int MetricsPort)> StartWithMetricsAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var metricsPort = FreePortPair();
            var serve = CliProcess.Start($"serve echo --processes 2 --port 0 --metrics-port {metricsPort}");
            try
            {
                await Loopback.EventuallyAsync(
                    () => serve.Stdout.Contains($"metrics on http://127.0.0.1:{metricsPort}/metrics", StringComparison.Ordinal)
                        && serve.Stdout.Contains($"metrics on http://127.0.0.1:{metricsPort + 1}/metrics", StringComparison.Ordinal),
                    "both workers serve their metrics", within: TimeSpan.FromSeconds(attempt < 3 ? 10 : 20));
                return (serve, metricsPort);
            }
            catch (TimeoutException) when (attempt < 3)
            {
                serve.Dispose();
            }
            catch (TimeoutException ex)
            {
                var output = $"stdout: {serve.Stdout}\nstderr: {serve.Stderr}";
                serve.Dispose();
                throw new TimeoutException($"{ex.Message} (ports {metricsPort}-{metricsPort + 1}, try {attempt}); {output}", ex);
            }
        }
    }

    /// <summary>A port that, with the one after it, was free a moment ago (worker i serves on M + i − 1).</summary>
    /// <remarks>Drawn below the kernel's ephemeral range (32768–60999 by default), not from a bind to port 0:
    /// Linux gives bind(0) odd ports and keeps even ones for connect(), so the port after a bind(0) port is
    /// where the suite's thousands of client connections live (and linger in TIME_WAIT), and in CI 50 tries
    /// found no free pair.</remarks>
    private static int FreePortPair()
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            if (IsFree(port) && IsFree(port + 1))
            {
                return port;
            }

            Assert.True(attempt < 200, "no two free ports in a row between 20000 and 32000");
        }
    }

    private static bool IsFree(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR as the server's listener sets it: a port whose old connections sit in
            // TIME_WAIT (common after the suite's thousands of short connections) is free to it.
            probe.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"sockeye: watch all 2 workers with: sockeye (top [^\r\n]+)")]
    private static partial Regex WatchLine();
}
