using System.CommandLine;
using Sockeye.Cli.Commands;
using Sockeye.Cli.Observability;
using Sockeye.Tests.Support;
using Spectre.Console.Testing;

namespace Sockeye.Tests.Observability;

/// <summary><c>sockeye top</c> over several workers: the sum of their scrapes, rates worker by worker,
/// a worker that does not answer, and the options that name the workers.</summary>
public class TopSumTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;

    [Fact]
    public void ScrapesOfTwoWorkersAreSummedSeriesBySeries()
    {
        var one = Scrape(1, accepted: 30, active: 4, bytesIn: 1000, peerClosed: 20, timeout: 6, state: "listening");
        var two = Scrape(2, accepted: 12, active: 1, bytesIn: 24, peerClosed: 11, timeout: 0, state: "listening");

        var sum = MetricsSnapshot.Sum([one, two], Start);

        Assert.Equal(42, sum.Accepted);
        Assert.Equal(5, sum.Active);
        Assert.Equal(1024, sum.BytesReceived);
        Assert.Equal(31, sum.ClosedByReason["peer_closed"]);
        Assert.Equal(6, sum.ClosedByReason["idle_timeout"]);
        Assert.Equal("listening", sum.State);
        Assert.Equal(1, sum.Servers); // both workers serve the same port: one server
        Assert.Equal(2, sum.WorkersAnswered);
        Assert.Equal([30L, 12L], sum.Workers.Select(w => w!.Accepted));
        Assert.Empty(sum.Missing);
    }

    [Fact]
    public void SamplesOfTheSameSeriesAddUpWhateverTheirLabelOrder()
    {
        var samples = PrometheusSample.Sum([
            PrometheusSample.Parse("m{a=\"1\",b=\"2\"} 3\nm{a=\"1\",b=\"3\"} 1\n"),
            PrometheusSample.Parse("m{b=\"2\",a=\"1\"} 4\nonly_here 7\n"),
        ]);

        Assert.Equal(3, samples.Count);
        Assert.Equal(7, samples.Single(s => s.Name == "m" && s.Labels["b"] == "2").Value);
        Assert.Equal(1, samples.Single(s => s.Name == "m" && s.Labels["b"] == "3").Value);
        Assert.Equal(7, samples.Single(s => s.Name == "only_here").Value);
    }

    [Fact]
    public void WorkerThatDoesNotAnswerIsShownMissingAndTheOthersAreSummed()
    {
        var one = Scrape(1, accepted: 30, active: 4, bytesIn: 1000, peerClosed: 20, timeout: 6, state: "listening");
        var two = Scrape(2, accepted: 12, active: 1, bytesIn: 24, peerClosed: 11, timeout: 0, state: "listening");
        var gone = new WorkerScrape(new Uri("http://127.0.0.1:9102/metrics"), null, "cannot reach http://127.0.0.1:9102/metrics: Connection refused");

        var sum = MetricsSnapshot.Sum([one, gone, two], Start);
        var view = new TopView([one.Url, gone.Url, two.Url]);
        view.Add(sum);
        var output = Render(view);

        Assert.Equal(42, sum.Accepted);
        Assert.Equal(2, sum.WorkersAnswered);
        Assert.Null(sum.Workers[1]);
        Assert.Contains("2 of 3 workers", output, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:9100/metrics and 2 more", output, StringComparison.Ordinal);
        Assert.Contains("worker missing from this scrape: cannot reach http://127.0.0.1:9102/metrics: Connection refused", output, StringComparison.Ordinal);
        Assert.Matches(@"accepted\s*│\s*42\s*│", output);
    }

    [Fact]
    public void RatesAreTakenWorkerByWorkerSoOneWorkersRestartDoesNotLookLikeABurst()
    {
        // Worker 2 restarted between the scrapes: its counter went from 50 back to 5. Summed first,
        // the server's count would fall from 150 to 135 and read as a restart of the whole server.
        var view = new TopView([new Uri("http://127.0.0.1:9100/metrics"), new Uri("http://127.0.0.1:9101/metrics")]);
        view.Add(Snapshot(Start, 100, 50));
        view.Add(Snapshot(Start.AddSeconds(1), 130, 5));

        Assert.Matches(@"accepted\s*│\s*135\s*│\s*35\.0\s*│", Render(view));
    }

    [Fact]
    public void AWorkerMissingFromEitherScrapeAddsNothingToTheRate()
    {
        var view = new TopView([new Uri("http://127.0.0.1:9100/metrics"), new Uri("http://127.0.0.1:9101/metrics")]);
        view.Add(Snapshot(Start, 100, 50));
        view.Add(Snapshot(Start.AddSeconds(2), 120, null));
        var missingNow = Render(view);
        view.Add(Snapshot(Start.AddSeconds(4), 140, 90));
        var backAgain = Render(view);

        Assert.Matches(@"accepted\s*│\s*120\s*│\s*10\.0\s*│", missingNow);
        Assert.Contains("1 of 2 workers", missingNow, StringComparison.Ordinal);
        Assert.Matches(@"accepted\s*│\s*230\s*│\s*10\.0\s*│", backAgain);
        Assert.Contains("2 of 2 workers", backAgain, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScrapeOfSeveralUrlsSumsThoseThatAnswerAndFailsOnlyWhenNoneDoes()
    {
        // A stand-in worker serving a fixed page: a real TcpServer and admin endpoint here would share
        // the process's "Sockeye" meters with the other tests' (the supervised CLI test covers real workers).
        using var worker = FixedMetricsPage.Start(string.Join('\n', Scrape(1, accepted: 7, active: 2, bytesIn: 70, peerClosed: 5, timeout: 0, state: "listening").Samples!
            .Select(s => $"{s.Name}{{{string.Join(',', s.Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {s.Value}")));
        var dead = new Uri($"http://127.0.0.1:{Loopback.FreePort()}/metrics");
        var otherDead = new Uri($"http://127.0.0.1:{Loopback.FreePort()}/metrics");
        using var http = new HttpClient { Timeout = Support.Loopback.Patience };

        var some = await new TopRunner(http, [dead, worker.Url], TimeSpan.FromSeconds(1), null, TimeProvider.System).ScrapeAsync(CancellationToken.None);
        var none = await Assert.ThrowsAsync<TopException>(() => new TopRunner(http, [dead, otherDead], TimeSpan.FromSeconds(1), null, TimeProvider.System).ScrapeAsync(CancellationToken.None));

        Assert.Equal(7, some.Accepted);
        Assert.Equal(2, some.Active);
        Assert.Equal(1, some.WorkersAnswered);
        Assert.Null(some.Workers[0]);
        Assert.StartsWith($"cannot reach {dead}", Assert.Single(some.Missing), StringComparison.Ordinal);
        Assert.Contains($"cannot reach {dead}", none.Message, StringComparison.Ordinal);
        Assert.Contains($"cannot reach {otherDead}", none.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("top --workers 3 --url http://127.0.0.1:9100/metrics", "http://127.0.0.1:9100/metrics http://127.0.0.1:9101/metrics http://127.0.0.1:9102/metrics")]
    [InlineData("top --workers 2", "http://127.0.0.1:9100/metrics http://127.0.0.1:9101/metrics")]
    [InlineData("top --workers 1 --url http://localhost:7000/m", "http://localhost:7000/m")]
    public void WorkersMeansTheUrlsPortAndThePortsAfterIt(string commandLine, string expected)
    {
        var urls = Parse(commandLine, out var errors);

        Assert.Empty(errors);
        Assert.Equal(expected, string.Join(' ', urls));
    }

    [Theory]
    [InlineData("top --workers 0", "--workers must be at least 1, got 0")]
    [InlineData("top --workers 2 --url http://a:1/metrics --url http://a:2/metrics", "--workers takes one --url (the first worker's), got 2")]
    [InlineData("top --workers 3 --url http://a:65534/metrics", "--workers 3 from port 65534 goes past port 65535")]
    [InlineData("top --url http://a:1/metrics --url ftp://b/metrics", "--url must be an http:// or https:// URL, got 'ftp://b/metrics'")]
    [InlineData("top --workers 2 --url ftp://b/metrics", "--url must be an http:// or https:// URL, got 'ftp://b/metrics'")]
    public void BadWorkerOptionsAreRefusedNamingTheOptionAndTheValue(string commandLine, string message)
    {
        Parse(commandLine, out var errors);

        Assert.Contains(message, errors);
    }

    private static Uri[] Parse(string commandLine, out List<string> errors)
    {
        var top = TopCommand.Create();
        var parse = new RootCommand { top }.Parse(commandLine);
        errors = [.. parse.Errors.Select(e => e.Message)];
        if (errors.Count > 0)
        {
            return [];
        }

        return TopCommand.WatchedUrls(parse.GetValue<Uri[]>("--url"), parse.GetValue<int?>("--workers")).Urls;
    }

    private static MetricsSnapshot Snapshot(DateTimeOffset at, long first, long? second) => new()
    {
        At = at,
        Accepted = first + (second ?? 0),
        State = "listening",
        Workers = [new MetricsSnapshot { At = at, Accepted = first }, second is { } s ? new MetricsSnapshot { At = at, Accepted = s } : null],
    };

    private static WorkerScrape Scrape(int worker, long accepted, long active, long bytesIn, long peerClosed, long timeout, string state)
    {
        const string Server = "server_address=\"127.0.0.1\",server_port=\"7000\"";
        var text = string.Join('\n',
            "# TYPE sockeye_connections_accepted_total counter",
            $"sockeye_connections_accepted_total{{otel_scope_name=\"Sockeye\",{Server}}} {accepted}",
            $"sockeye_connections_active{{otel_scope_name=\"Sockeye\",{Server}}} {active}",
            $"sockeye_bytes_received_bytes_total{{{Server}}} {bytesIn}",
            $"sockeye_connections_closed_total{{{Server},sockeye_close_reason=\"peer_closed\"}} {peerClosed}",
            $"sockeye_connections_closed_total{{sockeye_close_reason=\"idle_timeout\",{Server}}} {timeout}",
            $"sockeye_server_state{{{Server},sockeye_server_state=\"{state}\"}} 1",
            $"sockeye_server_state{{{Server},sockeye_server_state=\"draining\"}} 0");
        return new WorkerScrape(new Uri($"http://127.0.0.1:{9099 + worker}/metrics"), PrometheusSample.Parse(text), null);
    }

    /// <summary>An HTTP page on a loopback port that always answers with the same text.</summary>
    private sealed class FixedMetricsPage : IDisposable
    {
        private readonly System.Net.HttpListener _listener;

        private FixedMetricsPage(System.Net.HttpListener listener, Uri url)
        {
            _listener = listener;
            Url = url;
        }

        public Uri Url { get; }

        public static FixedMetricsPage Start(string text)
        {
            for (var attempt = 1; ; attempt++)
            {
                var port = Loopback.FreePort();
                var listener = new System.Net.HttpListener();
                listener.Prefixes.Add($"http://127.0.0.1:{port}/metrics/");
                try
                {
                    listener.Start();
                }
                catch (System.Net.HttpListenerException) when (attempt < 5)
                {
                    continue; // another test took the port meanwhile
                }

                _ = ServeAsync(listener, System.Text.Encoding.UTF8.GetBytes(text));
                return new FixedMetricsPage(listener, new Uri($"http://127.0.0.1:{port}/metrics"));
            }
        }

        public void Dispose() => _listener.Close();

        private static async Task ServeAsync(System.Net.HttpListener listener, byte[] body)
        {
            try
            {
                while (true)
                {
                    var context = await listener.GetContextAsync();
                    context.Response.ContentLength64 = body.Length;
                    await context.Response.OutputStream.WriteAsync(body);
                    context.Response.Close();
                }
            }
            catch (Exception ex) when (ex is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                // Closed.
            }
        }
    }

    private static string Render(TopView view)
    {
        var console = new TestConsole().Width(140);
        console.Write(view.Render());
        return console.Output;
    }
}
