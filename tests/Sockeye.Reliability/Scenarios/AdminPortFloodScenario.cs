using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 11, admin-port flood (issue 23): <c>sockeye serve echo --metrics-port</c> in a child under a
/// 1,500-descriptor limit, and 1,600 idle connections to the admin port held for 15 s, while a client
/// echoes on the data port and another scrapes <c>/metrics</c>.
/// </summary>
/// <remarks>
/// Before the admin port ran over a Sockeye transport, this took every descriptor: the echo port
/// stopped answering, the HttpListener accept loop spun a core and the runtime aborted (exit 134,
/// "Out of memory."), 3 runs of 3. Now the admin port holds at most 16 connections (the rest are reset
/// as they arrive), takes descriptors from the data ports' reserve, resets a silent one after 5 s and
/// closes an idle keep-alive one after 10 s.
/// </remarks>
public sealed class AdminPortFloodScenario(ITestOutputHelper output)
{
    private const int FileLimit = 1500;
    private const int Flood = 1600;
    private static readonly TimeSpan Hold = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task AnIdleFloodOnTheAdminPortLeavesTheProcessAliveTheDataPortServingAndScrapesWorking()
    {
        var metricsPort = Loopback.FreePort();
        using var server = CliProcess.Start($"serve echo --port 0 --metrics-port {metricsPort}", FileLimit);
        var data = await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => server.Stdout.Contains("metrics on", StringComparison.Ordinal), "the admin port to start");
        var admin = new IPEndPoint(IPAddress.Loopback, metricsPort);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var metricsUrl = new Uri($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.Contains("sockeye_connections_active", await http.GetStringAsync(metricsUrl), StringComparison.Ordinal);
        using var echo = await Loopback.ConnectAsync(data);
        Assert.True(await EchoProbe.TryRoundTripAsync(echo));
        var baseline = server.OpenDescriptors();

        // While the flood connects and holds, a prober echoes on the data port (on the held connection
        // and on a new one each time) and scrapes, every 250 ms, as a Prometheus server with its
        // keep-alive connection would; it also samples the server's descriptors.
        var cpuBefore = server.CpuTime();
        var clock = Stopwatch.StartNew();
        int echoes = 0, echoFailures = 0, scrapes = 0, scrapeFailures = 0, peakDescriptors = 0;
        TimeSpan? firstScrape = null;
        using var stopProbe = new CancellationTokenSource();
        var probe = Task.Run(async () =>
        {
            while (!stopProbe.IsCancellationRequested && !server.HasExited)
            {
                peakDescriptors = Math.Max(peakDescriptors, server.OpenDescriptors());
                echoes += 2;
                echoFailures += await EchoProbe.TryRoundTripAsync(echo) ? 0 : 1;
                using (var fresh = await EchoProbe.ConnectOrNullAsync(data))
                {
                    echoFailures += fresh is not null && await EchoProbe.TryRoundTripAsync(fresh) ? 0 : 1;
                }

                scrapes++;
                try
                {
                    var page = await http.GetStringAsync(metricsUrl);
                    if (page.Contains("sockeye_connections_active", StringComparison.Ordinal) && clock.Elapsed > TimeSpan.FromSeconds(1))
                    {
                        firstScrape ??= clock.Elapsed;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    scrapeFailures++; // every slot held by the flood until the keep-alive deadline frees one
                }

                await Task.Delay(250);
            }
        });

        // The flood: 1,600 connections to the admin port, none of which sends a byte.
        var flood = new List<Socket>();
        var refusedAtConnect = 0;
        for (var i = 0; i < Flood; i++)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(admin).WaitAsync(Loopback.Patience);
                flood.Add(socket);
            }
            catch (SocketException)
            {
                socket.Dispose();
                refusedAtConnect++;
            }
        }

        var connectWall = clock.Elapsed;
        while (clock.Elapsed < Hold && !server.HasExited)
        {
            await Task.Delay(100);
        }

        await stopProbe.CancelAsync();
        await probe.WaitAsync(Loopback.Patience);
        Assert.False(server.HasExited, $"the server died during the flood: {server.Stderr}");

        var holdCpu = server.CpuTime() - cpuBefore;
        var holdWall = clock.Elapsed;
        var closedByServer = flood.Count(s => s.Poll(0, SelectMode.SelectRead));

        flood.ForEach(s => s.Dispose());
        var afterStatus = 0;
        try
        {
            // Not being served is not thrown here: the assertion below reports it after the figures.
            await Loopback.EventuallyAsync(
                async () =>
                {
                    try
                    {
                        using var response = await http.GetAsync(metricsUrl);
                        afterStatus = (int)response.StatusCode;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        // Every slot still held: try again.
                    }

                    return afterStatus == 200;
                },
                "a scrape is served after the flood",
                every: TimeSpan.FromMilliseconds(250));
        }
        catch (TimeoutException)
        {
        }

        var afterEcho = await EchoProbe.TryRoundTripAsync(echo);
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");
        echo.Dispose();
        server.Signal("TERM");
        var exitCode = await server.WaitForExitAsync();

        Record("descriptor limit / flood / refused at connect / closed by the server by the end", $"{FileLimit} / {Flood} / {refusedAtConnect} / {closedByServer}");
        Record("flood connected in", Measure.Ms(connectWall));
        Record("data-port round trips during the hold / failed", $"{echoes} / {echoFailures}");
        Record("scrapes during the flood and hold / failed / first success after the flood began", $"{scrapes} / {scrapeFailures} / {(firstScrape is { } f ? Measure.Ms(f) : "none")}");
        Record("server descriptors baseline / peak", $"{baseline} / {peakDescriptors}");
        Record("server CPU over the flood and hold", $"{Measure.Ms(holdCpu)} in {Measure.Ms(holdWall)} ({holdCpu / holdWall:P0} of a core)");
        Record("scrape status after the flood / echo after / exit code", $"{afterStatus} / {afterEcho} / {exitCode}");

        Assert.Equal(0, echoFailures);
        Assert.True(afterEcho, "the data port stopped echoing after the flood");
        Assert.Equal(200, afterStatus);
        Assert.True(firstScrape is not null, $"no scrape succeeded during the {Measure.Ms(holdWall)} hold ({scrapeFailures} failed)");
        Assert.True(peakDescriptors < FileLimit - 32, $"the server held {peakDescriptors} descriptors, limit {FileLimit}");

        // No spin: refusing 1,600 connections and serving a few scrapes costs well under a third of a core.
        Assert.True(holdCpu < holdWall * 0.3, $"the server used {holdCpu} of CPU in {holdWall}");
        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("Out of memory", server.Stderr, StringComparison.Ordinal);

        void Record(string figure, object value) => Scenario.Record(output, "11 admin-port flood", figure, value);
    }
}
