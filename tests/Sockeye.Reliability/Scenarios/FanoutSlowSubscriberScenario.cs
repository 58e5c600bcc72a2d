using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 13, fan-out with slow subscribers: 300 subscribers in one group, 10 of which never read,
/// and a publisher broadcasting 2,000 messages of 1 KiB, paced. Every reading subscriber receives every
/// message once and in order; each non-reader stays over the soft limit and is disconnected as a slow
/// consumer within the soft-limit time (plus the time its kernel buffers took to fill); memory stays
/// within the hard limit per slow subscriber; nothing queued is left behind.
/// </summary>
public sealed class FanoutSlowSubscriberScenario(ITestOutputHelper output)
{
    private const int Subscribers = 300;
    private const int NonReaders = 10;
    private const int Messages = 2_000;
    private const int Size = 1024;
    private const long HardLimit = 8 * 1024 * 1024;
    private const long SoftLimit = 4L * 1024 * 1024;
    private static readonly TimeSpan SoftLimitTime = TimeSpan.FromSeconds(1);

    // By this many messages a non-reader's queue is over the soft limit: the limit's worth of messages
    // plus what its kernel buffers (32 KiB send, 4 KiB receive, each doubled by the kernel) can hold,
    // with room to spare. The cut is timed from here, so a machine that publishes slowly does not
    // count against the policy.
    private const int OverSoftLimitAfter = (int)((SoftLimit + (256 * 1024)) / Size);

    [Fact]
    public async Task ReadersGetEveryMessageInOrderAndEachNonReaderIsCutAtTheSoftLimitTime()
    {
        var group = new ConnectionGroup("room");
        await using var scenario = await Scenario.StartAsync(output, "13 fan-out slow subscribers", new TcpServerOptions
        {
            MaxConnections = 2_000,
            SendBufferSize = 32 * 1024,
            SendQueue = new SendQueueOptions { HardLimit = HardLimit, SoftLimit = SoftLimit, SoftLimitTime = SoftLimitTime },
        }, async connection =>
        {
            group.Add(connection);
            var result = await connection.Input.ReadAsync();
            while (!result.IsCompleted)
            {
                connection.Input.AdvanceTo(result.Buffer.End);
                result = await connection.Input.ReadAsync();
            }
        });
        var server = scenario.Server;
        var workingSetBefore = Environment.WorkingSet;

        var sockets = await Measure.InBatchesAsync(Enumerable.Range(0, Subscribers).ToArray(), 50, async i =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            if (i < NonReaders)
            {
                socket.ReceiveBufferSize = 4096;
            }

            await socket.ConnectAsync(scenario.EndPoint).WaitAsync(Loopback.Patience);
            return socket;
        });
        await Loopback.EventuallyAsync(() => group.Count == Subscribers, "every subscriber joined");
        var readers = sockets.Skip(NonReaders).Select(s => Task.Run(() => ReadAllAsync(s))).ToArray();

        // Paced (10 ms per 10 messages: 2 s or more), so a non-reader's queue stays over
        // the soft limit longer than allowed before publishing ends.
        var started = Stopwatch.GetTimestamp();
        using var stopSampling = new CancellationTokenSource();
        var lastCut = Task.Run(async () =>
        {
            // When the last non-reader went: sampled every 10 ms.
            while (server.GetClosedCount(ConnectionCloseReason.SlowConsumer) < NonReaders && !stopSampling.IsCancellationRequested)
            {
                await Task.Delay(10);
            }

            return Measure.Since(started);
        });
        var payload = new byte[Size];
        // At least Messages messages, and on until every non-reader is cut: the soft limit is checked
        // when a message is queued, so a publisher that stops leaves an over-limit member connected.
        var published = 0;
        long? overSoftLimit = null; // when a non-reader's queue must have passed the soft limit
        while (published < Messages
            || (server.GetClosedCount(ConnectionCloseReason.SlowConsumer) < NonReaders && Measure.Since(started) < Loopback.Patience * 2))
        {
            Encoding.ASCII.GetBytes($"{published:D8}").CopyTo(payload, 0);
            payload.AsSpan(8, Size - 9).Fill((byte)'p');
            payload[^1] = (byte)'\n';
            using (var message = OutgoingMessage.Create(payload))
            {
                group.Broadcast(message);
            }

            if (++published == OverSoftLimitAfter)
            {
                overSoftLimit = Stopwatch.GetTimestamp();
            }

            if (published % 10 == 0)
            {
                await Task.Delay(10);
            }
        }

        group.Broadcast("END\n"u8); // the readers stop here
        var publishTime = Measure.Since(started);
        await Loopback.EventuallyAsync(() => server.GetClosedCount(ConnectionCloseReason.SlowConsumer) >= NonReaders, "every non-reader disconnected as a slow consumer");
        await stopSampling.CancelAsync();
        var cutAfter = await lastCut;
        var cutAfterOverLimit = overSoftLimit is { } over ? cutAfter - Stopwatch.GetElapsedTime(started, over) : cutAfter;
        var workingSetGrowth = Environment.WorkingSet - workingSetBefore;
        var received = await Task.WhenAll(readers).WaitAsync(Loopback.Patience);

        var ends = await Task.WhenAll(sockets.Take(NonReaders).Select(s => s.ReceiveEndAsync()));
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "every connection closed");
        var fanout = server.FanoutCounters;
        var bound = NonReaders * HardLimit + 150L * 1024 * 1024;
        scenario.Record("published", $"{published} × {Size} B to {Subscribers} subscribers in {Measure.Ms(publishTime)} ({published * (long)(Subscribers - NonReaders) * Size / 1048576.0:F0} MiB delivered to readers)");
        scenario.Record("non-readers cut as slow consumers", $"{server.GetClosedCount(ConnectionCloseReason.SlowConsumer)} of {NonReaders}, the last {Measure.Ms(cutAfter)} after publishing began, {Measure.Ms(cutAfterOverLimit)} after its queue was over the soft limit (soft limit {SoftLimit / 1024} KiB for {SoftLimitTime.TotalSeconds} s)");
        scenario.Record("working set growth", $"{Measure.MiB(workingSetGrowth)} (bound {Measure.MiB(bound)}: hard limit × non-readers + 150 MiB)");
        scenario.Record("messages queued / sent / dropped; bytes still pending", $"{fanout.Queued.Sum} / {fanout.Sent.Sum} / {fanout.Dropped.Sum}; {fanout.PendingBytes.Sum}");

        // A reader is never cut: it stays far below the soft limit (1 MiB = 1,000 messages behind for 1 s).
        Assert.All(received, r => Assert.Equal(published, r));
        Assert.Equal(NonReaders, server.GetClosedCount(ConnectionCloseReason.SlowConsumer));
        Assert.All(ends, end => Assert.Equal(SocketError.ConnectionReset, end));
        Assert.True(cutAfterOverLimit < SoftLimitTime + TimeSpan.FromSeconds(5),
            $"the last non-reader was cut {cutAfterOverLimit} after its queue was over the soft limit ({cutAfter} after publishing began); soft limit time {SoftLimitTime}");
        Assert.True(workingSetGrowth <= bound, $"the working set grew {workingSetGrowth} bytes, bound {bound}");
        Assert.Equal(0, fanout.PendingBytes.Sum);
        Assert.True(fanout.Sent.Sum >= (Subscribers - NonReaders) * (long)published, $"{fanout.Sent.Sum} messages sent");
        Assert.True(fanout.Sent.Sum + fanout.Dropped.Sum >= fanout.Queued.Sum, "every queued message was sent or counted as dropped");
        Assert.Equal(0, group.Count);
        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>Reads lines until <c>END</c> (or the server's FIN); checks the order; returns how many came before it.</summary>
    private static async Task<int> ReadAllAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var timeout = new CancellationTokenSource(Loopback.Patience * 3);
        var count = 0;
        while (await reader.ReadLineAsync(timeout.Token) is { } line && line != "END")
        {
            Assert.Equal(count, int.Parse(line.AsSpan(0, 8), System.Globalization.CultureInfo.InvariantCulture));
            count++;
        }

        return count;
    }
}
