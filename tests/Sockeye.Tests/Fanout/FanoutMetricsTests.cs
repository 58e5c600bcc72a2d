using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Sockeye.Diagnostics;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

public sealed class FanoutMetricsTests
{
    [Fact]
    public async Task QueuedSentDroppedPendingAndSlowConsumerDisconnectsArePublished()
    {
        await using var fixture = await FanoutServer.StartAsync(o =>
            o.SendQueue = new SendQueueOptions { HardLimit = 256 * 1024, SoftLimit = 0 });
        var meter = fixture.Server.Meter!;
        using var queued = new MetricCollector<long>(meter, SockeyeMetrics.MessagesQueued);
        using var sentCount = new MetricCollector<long>(meter, SockeyeMetrics.MessagesSent);
        using var dropped = new MetricCollector<long>(meter, SockeyeMetrics.MessagesDropped);
        using var pending = new MetricCollector<long>(meter, SockeyeMetrics.SendQueueBytes);
        using var closed = new MetricCollector<long>(meter, SockeyeMetrics.ConnectionsClosed);
        var clients = await fixture.ConnectAsync(3);
        var readers = clients.Skip(1).Select(c => Task.Run(() => FanoutServer.ReadLinesAsync(c, 100))).ToArray();

        // Member 0's client never reads: 16 KiB lines fill its queue until it is cut.
        var slow = fixture.Group.Members().Single(m => m.RemoteEndPoint!.Equals(clients[0].LocalEndPoint));
        using var big = OutgoingMessage.Create(System.Text.Encoding.ASCII.GetBytes(new string('m', 16 * 1024 - 1) + "\n"));
        var queuedOnSlow = 0;
        while (slow.TrySend(big) == SendResult.Queued && queuedOnSlow++ < 10_000)
        {
            await Task.Yield();
        }

        for (var i = 0; i < 100; i++)
        {
            fixture.Group.Broadcast("tick\n"u8);
        }

        await Task.WhenAll(readers).WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => Latest(sentCount) >= 200, "the 200 ticks to be sent");
        await Loopback.EventuallyAsync(() => Latest(pending) == 0, "nothing left pending");

        Assert.Equal(200 + queuedOnSlow, Latest(queued));
        Assert.True(Latest(dropped) >= 1, "the message past the limit, and what was still queued, are dropped");
        // The slow connection is counted when its handler has finished, just after the abort.
        await Loopback.EventuallyAsync(() =>
        {
            closed.RecordObservableInstruments();
            return closed.GetMeasurementSnapshot().LastOrDefault(m => Equals(m.Tags[SockeyeMetrics.CloseReasonTag], "slow_consumer"))?.Value == 1;
        }, "the slow consumer's close counted under slow_consumer");
        clients.ForEach(c => c.Dispose());
    }

    private static long Latest(MetricCollector<long> collector)
    {
        collector.RecordObservableInstruments();
        return collector.LastMeasurement?.Value ?? 0;
    }
}
