using System.Text.Json;
using System.Text.RegularExpressions;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Bench;

/// <summary><c>sockeye bench</c> as a user runs it: the real executable (as <c>dotnet Sockeye.Cli.dll</c>,
/// which its child processes must run too) against servers in this process.</summary>
public class BenchCliTests
{
    [Fact]
    public async Task EchoOverTwoChildProcessesMergesTheirResultsIntoOneReport()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(
            $"bench echo --port {server.LocalEndPoint!.Port} --connections 6 --processes 2 --duration 1s --warmup 200ms --json --quiet");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("processes").GetInt32());
        Assert.Equal(6, root.GetProperty("connectionsHeld").GetInt64());
        Assert.True(root.GetProperty("operations").GetInt64() > 0, stdout);
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
    }

    [Fact]
    public async Task UdpPrintsItsHeaderCountsAndPercentileLines()
    {
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(DatagramEchoHandler.Instance);
        var port = server.LocalEndPoint!.Port;

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync($"bench udp --port {port} --clients 2 --window 2 --duration 500ms --quiet");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"sockeye bench udp: 127.0.0.1:{port}, 2 clients x window 2, 64-byte datagrams, 500ms", lines[0]);
        Assert.Matches(new Regex(@"^sent ([\d,]+)  received \1  lost 0 \(0\.000 %\)  [\d,]+ datagrams/s$"), lines[1]);
        Assert.Matches(new Regex(@"^round trip µs: p50 \d+  p90 \d+  p99 \d+  p99\.9 \d+  max \d+$"), lines[2]);
        Assert.Equal("", stderr.Trim()); // --quiet: no progress line.
    }

    [Fact]
    public async Task UdpAsJsonCarriesTheDatagramCountsBesideTheSharedFields()
    {
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(DatagramEchoHandler.Instance);

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync($"bench udp --port {server.LocalEndPoint!.Port} --clients 1 --window 1 --duration 500ms --json --quiet");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("udp", root.GetProperty("mode").GetString());
        var sent = root.GetProperty("datagramsSent").GetInt64();
        Assert.True(sent > 0);
        Assert.Equal(sent, root.GetProperty("datagramsReceived").GetInt64());
        Assert.Equal(0, root.GetProperty("datagramsLost").GetInt64());
        Assert.True(root.GetProperty("p50Microseconds").GetDouble() > 0);
    }

    [Fact]
    public async Task FanoutPrintsWhatWasPublishedWhatArrivedAndWhatWasLost()
    {
        await using var server = new TinyChatServer();

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(
            $"bench fanout --port {server.Port} --subscribers 4 --rooms 2 --publishers 2 --rate 200 --duration 500ms --warmup 100ms --quiet");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith($"sockeye bench fanout → 127.0.0.1:{server.Port}: 4 subscribers, 2 publishers at 200 msg/s each, 2 room(s), 64 B messages", lines[0], StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^messages +[\d,]+ published"), lines[1]);
        Assert.Matches(new Regex(@"^deliveries +([\d,]+) of \1 expected \([\d,]+/s\), 0 lost$"), lines[2]);
        Assert.Contains(lines, l => l.StartsWith("disconnected      0 subscribers, 0 publishers", StringComparison.Ordinal));
        Assert.Equal("", stderr.Trim());
    }

    [Theory]
    [InlineData("bench fanout --rate 0", "--rate must be a positive number of messages per second per publisher, got 0")]
    [InlineData("bench fanout --subscribers 2 --rooms 3", "--rooms 3 is more than --subscribers 2")]
    public async Task FanoutBadArgumentsGiveOneLineNamingTheOptionAndExitCode2(string arguments, string message)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("sockeye: error: ", line, StringComparison.Ordinal);
        Assert.Contains(message, line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }
}
