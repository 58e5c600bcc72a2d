using Sockeye.Cli.Observability;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Spectre.Console.Testing;

namespace Sockeye.Tests.Observability;

// The live test reads the process's Sockeye meters through an admin endpoint; run beside the suite's
// other server tests, its scrapes sometimes held no series for its server at all ("servers: 0", seen
// in CI and reproduced with the engine tests alongside), so it runs alone.
[Collection(nameof(TopViewTests))]
public class TopViewTests
{
    [Fact]
    public async Task TopShowsTheLiveServersCountsAndRates()
    {
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = 3 });
        await server.StartAsync(EchoHandler.Instance);
        var (admin, adminPort) = await AdminPort.StartAsync(() => true);
        using var _ = admin;

        // 5 connections that echo 1000 bytes each and leave; 3 that stay open; 2 refused over the limit.
        for (var i = 0; i < 5; i++)
        {
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync(new byte[1000]);
            await client.ReceiveExactlyAsync(1000);
            client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            await client.ReceiveEndAsync();

            // The server sends its FIN before it releases the slot: wait, or a loaded machine can
            // pile up more than the three allowed and refuse one of these.
            await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the connection's slot to be released");
        }

        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the first connections to end");
        var held = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 3, "three connections to be held");
        for (var i = 0; i < 2; i++)
        {
            try
            {
                using var refused = await Loopback.ConnectAsync(server.LocalEndPoint!);
                await refused.ReceiveEndAsync();
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
        }

        await Loopback.EventuallyAsync(() => server.RejectedConnections == 2, "two connections to be refused");

        using var http = new HttpClient { Timeout = Loopback.Patience };
        var url = new Uri($"http://127.0.0.1:{adminPort}/metrics");
        var view = new TopView(url.ToString());
        var runner = new TopRunner(http, url, TimeSpan.FromMilliseconds(200), server.LocalEndPoint!.Port, TimeProvider.System);
        string? lastFrame = null;
        await runner.RunAsync(view, frame =>
        {
            // A fixed-size console per frame: what one refresh of the terminal shows.
            var console = new TestConsole().Width(140);
            console.Profile.Height = 40;
            console.Write(frame);
            lastFrame = console.Output;
        }, frames: 2, CancellationToken.None).WaitAsync(Loopback.Patience);

        foreach (var client in held)
        {
            client.Dispose();
        }

        Assert.NotNull(lastFrame);
        Assert.Matches(@"active connections\s*│\s*3\s*│", lastFrame);
        Assert.Matches(@"accepted\s*│\s*8\s*│\s*0\.0\s*│", lastFrame);
        Assert.Matches(@"rejected\s*│\s*2\s*│\s*0\.0\s*│", lastFrame);
        Assert.Matches(@"bytes in\s*│\s*5,000\s*│\s*0 B/s\s*│", lastFrame);
        Assert.Matches(@"bytes out\s*│\s*5,000\s*│", lastFrame);
        Assert.Matches(@"timeouts\s*│\s*0\s*│", lastFrame);
        Assert.Contains("peer_closed 5", lastFrame, StringComparison.Ordinal);
        Assert.Contains("state: listening", lastFrame, StringComparison.Ordinal);
    }

    [Fact]
    public void RatesAreTheDifferenceBetweenScrapesOverTheTimeBetweenThem()
    {
        var start = DateTimeOffset.UnixEpoch;
        var view = new TopView("http://test/metrics");
        view.Add(new MetricsSnapshot { At = start, Accepted = 100, BytesReceived = 0, State = "listening" });
        view.Add(new MetricsSnapshot { At = start.AddSeconds(2), Accepted = 160, BytesReceived = 4096, State = "listening" });
        var console = new TestConsole().Width(140);
        console.Write(view.Render());

        Assert.Matches(@"accepted\s*│\s*160\s*│\s*30\.0\s*│", console.Output);
        Assert.Matches(@"bytes in\s*│\s*4,096\s*│\s*2\.0 KiB/s\s*│", console.Output);
    }

    [Fact]
    public async Task TopExitsWithAClearMessageWhenTheUrlCannotBeReached()
    {
        var port = Loopback.FreePort(); // nothing listens there
        var (exitCode, _, stderr) = await CliProcess.RunAsync($"top --url http://127.0.0.1:{port}/metrics");

        Assert.Equal(1, exitCode);
        Assert.Contains($"sockeye: error: cannot reach http://127.0.0.1:{port}/metrics", stderr, StringComparison.Ordinal);
    }
}

/// <summary>Runs <see cref="TopViewTests"/> with no other test at the same time.</summary>
[CollectionDefinition(nameof(TopViewTests), DisableParallelization = true)]
public sealed class TopViewTestsRunAlone
{
}
