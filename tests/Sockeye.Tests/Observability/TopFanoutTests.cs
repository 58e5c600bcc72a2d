using Sockeye.Cli.Observability;
using Spectre.Console.Testing;

namespace Sockeye.Tests.Observability;

public sealed class TopFanoutTests
{
    // The exposition the admin port gave for a chat server after 3 deliveries (sockeye serve chat
    // --metrics-port, curl /metrics), with later values: the series names top reads.
    private const string Scrape = """
        sockeye_connections_accepted_total{server_address="127.0.0.1",server_port="7697"} 2
        sockeye_messages_queued_total{server_address="127.0.0.1",server_port="7697"} 130
        sockeye_messages_sent_total{server_address="127.0.0.1",server_port="7697"} 120
        sockeye_messages_dropped_total{server_address="127.0.0.1",server_port="7697"} 3
        sockeye_send_queue_bytes{server_address="127.0.0.1",server_port="7697"} 2048
        """;

    [Fact]
    public void TopShowsFanoutMessagesSentDroppedAndTheBytesStillQueued()
    {
        var start = DateTimeOffset.UnixEpoch;
        var view = new TopView("http://test/metrics");
        view.Add(MetricsSnapshot.From(Scrape.Replace("} 120", "} 20", StringComparison.Ordinal), start, 7697));
        view.Add(MetricsSnapshot.From(Scrape, start.AddSeconds(2), 7697));
        var console = new TestConsole().Width(140);
        console.Profile.Height = 40;
        console.Write(view.Render());

        Assert.Matches(@"messages sent\s*│\s*120\s*│\s*50\.0\s*│", console.Output);
        Assert.Matches(@"messages dropped\s*│\s*3\s*│", console.Output);
        Assert.Matches(@"queued bytes\s*│\s*2,048\s*│", console.Output);
    }
}
