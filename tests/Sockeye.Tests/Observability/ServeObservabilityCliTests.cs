using System.Net;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public class ServeObservabilityCliTests
{
    [Theory]
    [InlineData("serve echo --metrics-port 0", "--metrics-port must be between 1 and 65535, got 0")]
    [InlineData("serve echo --metrics-host example", "--metrics-host must be an IP address or localhost, got 'example'")]
    [InlineData("serve echo --log-format xml", "--log-format must be text or json, got 'xml'")]
    [InlineData("serve echo --log-level loud", "--log-level must be one of Trace, Debug, Information, Warning, Error, Critical, None, got 'loud'")]
    [InlineData("top --url ftp://example/metrics", "--url must be an http:// or https:// URL, got 'ftp://example/metrics'")]
    public async Task BadObservabilityArgumentsGiveOneLineAndExitCodeTwo(string arguments, string message)
    {
        var (exitCode, _, stderr) = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("sockeye: error: ", line, StringComparison.Ordinal);
        Assert.Contains(message, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeWithMetricsPortServesMetricsAndProbesAndLogsJson()
    {
        var metricsPort = Loopback.FreePort();
        using var serve = CliProcess.Start($"serve echo --port 0 --metrics-port {metricsPort} --log-format json --log-level Debug");
        var endPoint = await serve.ListeningAsync();
        await Loopback.EventuallyAsync(() => serve.Stdout.Contains($"metrics on http://127.0.0.1:{metricsPort}/metrics", StringComparison.Ordinal), "the metrics line");

        using (var client = await Loopback.ConnectAsync(endPoint))
        {
            await client.SendAllAsync("ping"u8.ToArray());
            await client.ReceiveExactlyAsync(4);
        }

        await Loopback.EventuallyAsync(() => serve.Stderr.Contains("\"EventId\":303", StringComparison.Ordinal), "the connection's end to be logged");
        var samples = await AdminPort.ScrapeAsync(metricsPort, endPoint.Port);
        Assert.Equal(1, samples.Value("sockeye_connections_accepted_total"));
        Assert.Equal(4, samples.Value("sockeye_bytes_received_bytes_total"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(metricsPort, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(metricsPort, "/healthz"));

        // Every log line is one JSON object.
        Assert.All(serve.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => System.Text.Json.JsonDocument.Parse(line).Dispose());

        serve.Signal("TERM");
        Assert.Equal(0, await serve.WaitForExitAsync());
    }

    [Fact]
    public async Task ShutdownDelayAnswersReadyzUnavailableWhileStillAcceptingThenDrains()
    {
        var metricsPort = Loopback.FreePort();
        using var serve = CliProcess.Start($"serve chat --port 0 --metrics-port {metricsPort} --shutdown-delay 8s");
        var endPoint = await serve.ListeningAsync();
        await Loopback.EventuallyAsync(() => serve.Stdout.Contains("metrics on", StringComparison.Ordinal), "the metrics line");
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(metricsPort, "/readyz"));

        serve.Signal("TERM");
        await Loopback.EventuallyAsync(() => serve.Stdout.Contains("(--shutdown-delay)", StringComparison.Ordinal), "the shutdown delay to begin");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await AdminPort.GetStatusAsync(metricsPort, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await AdminPort.GetStatusAsync(metricsPort, "/healthz"));

        // Not ready, yet a new connection is still accepted and served: the load balancer has not
        // noticed yet, and what it still sends must not be refused.
        using (var client = await Loopback.ConnectAsync(endPoint))
        {
            await client.SendAllAsync("NICK late\n"u8.ToArray());
            Assert.Equal(["OK NICK late"], await Fanout.FanoutServer.ReadLinesAsync(client, 1));
            Assert.DoesNotContain("draining for up to", serve.Stdout, StringComparison.Ordinal);
        }

        Assert.Equal(0, await serve.WaitForExitAsync());
        Assert.Contains("draining for up to", serve.Stdout, StringComparison.Ordinal);
    }
}
