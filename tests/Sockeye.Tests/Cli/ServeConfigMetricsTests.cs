using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.Observability;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

/// <summary><c>sockeye serve --config FILE --metrics-port N</c>: one admin port for every listener of the file.</summary>
public sealed partial class ServeConfigMetricsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-config-metrics-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task MetricsPortExportsEveryTcpAndUdpListenerOfTheFileAndTopReadsThem()
    {
        var config = Path.Combine(_directory, "sockeye.json");
        File.WriteAllText(config, """
            { "Sockeye": { "Listeners": {
                "bytes": { "Protocol": "echo", "Host": "127.0.0.1", "Port": 0 },
                "lines": { "Protocol": "line-echo", "Host": "127.0.0.1", "Port": 0 },
                "dgram": { "Protocol": "udp-echo", "Host": "127.0.0.1", "Port": 0 } } } }
            """);
        var metricsPort = Loopback.FreePort();
        using var server = CliProcess.Start($"serve --config {config} --metrics-port {metricsPort} --log-format json");
        await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => server.Stdout.Contains($"metrics on http://127.0.0.1:{metricsPort}/metrics", StringComparison.Ordinal), "the metrics line");
        var listeners = ListenerLine().Matches(server.Stdout).ToDictionary(m => m.Groups[1].Value, m => IPEndPoint.Parse(m.Groups[2].Value));
        Assert.Equal(["bytes", "dgram", "lines"], listeners.Keys.Order());

        using (var bytes = await Loopback.ConnectAsync(listeners["bytes"]))
        {
            await bytes.SendAllAsync("ping"u8.ToArray());
            await bytes.ReceiveExactlyAsync(4);
        }

        using (var lines = await Loopback.ConnectAsync(listeners["lines"]))
        {
            await lines.SendAllAsync("one line\n"u8.ToArray());
            Assert.Equal("one line\n", Encoding.ASCII.GetString(await lines.ReceiveExactlyAsync(9)));
        }

        using (var dgram = UdpLoopback.Connect(listeners["dgram"]))
        {
            await dgram.RoundTripAsync("hello"u8.ToArray());
        }

        // Each listener's series carry its own port and transport.
        var fromBytes = await AdminPort.ScrapeAsync(metricsPort, listeners["bytes"].Port);
        Assert.Equal(1, fromBytes.Value("sockeye_connections_accepted_total", ("network_transport", "tcp")));
        Assert.Equal(4, fromBytes.Value("sockeye_bytes_received_bytes_total"));
        var fromLines = await AdminPort.ScrapeAsync(metricsPort, listeners["lines"].Port);
        Assert.Equal(1, fromLines.Value("sockeye_connections_accepted_total", ("network_transport", "tcp")));
        Assert.Equal(9, fromLines.Value("sockeye_bytes_received_bytes_total"));
        var fromDgram = await AdminPort.ScrapeAsync(metricsPort, listeners["dgram"].Port);
        Assert.Equal(1, fromDgram.Value("sockeye_udp_datagrams_received_total", ("network_transport", "udp")));
        Assert.Equal(5, fromDgram.Value("sockeye_udp_bytes_received_bytes_total"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(metricsPort, "/readyz"));

        // sockeye top sums the TCP listeners of the one page.
        var (topExit, topOut, topErr) = await CliProcess.RunAsync($"top --url http://127.0.0.1:{metricsPort}/metrics --interval 100ms --frames 2");
        Assert.True(topExit == 0, topErr);
        Assert.Contains("state: listening", topOut, StringComparison.Ordinal);
        Assert.Contains("servers: 2", topOut, StringComparison.Ordinal);

        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.All(server.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => System.Text.Json.JsonDocument.Parse(line).Dispose());
    }

    [Fact]
    public async Task AMetricsPortInUseStopsTheListenersAndExitsWithCodeOne()
    {
        var config = Path.Combine(_directory, "sockeye.json");
        File.WriteAllText(config, """{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "Host": "127.0.0.1", "Port": 0 } } } }""");
        var (taken, port) = await AdminPort.StartAsync(() => true);
        using (taken)
        {
            var (exitCode, stdout, stderr) = await CliProcess.RunAsync($"serve --config {config} --metrics-port {port} --log-level Warning");

            Assert.Equal(1, exitCode);
            Assert.Contains("listener echo (echo) listening on", stdout, StringComparison.Ordinal);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"sockeye: error: cannot serve metrics on 127.0.0.1:{port}", line, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--metrics-port 0", "--metrics-port must be between 1 and 65535, got 0")]
    [InlineData("--metrics-host example", "--metrics-host must be an IP address or localhost, got 'example'")]
    [InlineData("--log-format xml", "--log-format must be text or json, got 'xml'")]
    public async Task BadObservabilityArgumentsGiveOneLineAndExitCodeTwo(string arguments, string message)
    {
        var config = Path.Combine(_directory, "sockeye.json");
        File.WriteAllText(config, """{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "Port": 0 } } } }""");

        var (exitCode, _, stderr) = await CliProcess.RunAsync($"serve --config {config} {arguments}");

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, line, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"listener (\w+) \([^)]+\) listening on (\S+)")]
    private static partial Regex ListenerLine();
}
