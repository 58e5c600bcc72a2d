using System.Net.Sockets;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

public sealed class SendQueueTests
{
    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task MessagesSentFromSeveralTasksArriveWholeOnceAndInOrderPerSender(IoEngine engine)
    {
        await using var fixture = await FanoutServer.StartAsync(o => o.IoEngine = engine);
        var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];
        const int Senders = 4, PerSender = 2_000;

        var sending = Enumerable.Range(0, Senders).Select(s => Task.Run(() =>
        {
            for (var i = 0; i < PerSender; i++)
            {
                Assert.Equal(SendResult.Queued, connection.TrySend(Encoding.ASCII.GetBytes($"{s}:{i}:{new string('x', i % 97)}\n")));
            }
        })).ToArray();
        var lines = await FanoutServer.ReadLinesAsync(client, Senders * PerSender);
        await Task.WhenAll(sending);

        var next = new int[Senders];
        foreach (var line in lines)
        {
            var parts = line.Split(':');
            var sender = int.Parse(parts[0]);
            Assert.Equal(next[sender]++, int.Parse(parts[1]));
            Assert.Equal(new string('x', int.Parse(parts[1]) % 97), parts[2]);
        }

        Assert.All(next, n => Assert.Equal(PerSender, n));
        client.Dispose();
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task TheHandlersFlushesAndQueuedMessagesNeverInterleave(IoEngine engine)
    {
        const int Frames = 200, Messages = 2_000;
        var handlerLine = new string('H', 20_000) + "\n";
        var started = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var fixture = await FanoutServer.StartAsync(afterJoin: async connection =>
        {
            started.SetResult(connection);
            for (var i = 0; i < Frames; i++)
            {
                await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(handlerLine));
            }

            await connection.Input.ReadAsync(); // until the client ends
        }, configure: o => o.IoEngine = engine);
        using var client = await Loopback.ConnectAsync(fixture.Server.LocalEndPoint!);
        var connection = await started.Task.WaitAsync(Loopback.Patience);

        var queued = Task.Run(() =>
        {
            for (var i = 0; i < Messages; i++)
            {
                Assert.Equal(SendResult.Queued, connection.TrySend(Encoding.ASCII.GetBytes($"M{i}\n")));
            }
        });
        var lines = await FanoutServer.ReadLinesAsync(client, Frames + Messages);
        await queued;

        Assert.Equal(Frames, lines.Count(l => l == handlerLine[..^1]));
        var messages = lines.Where(l => l.StartsWith('M')).Select(l => int.Parse(l[1..])).ToList();
        Assert.Equal(Enumerable.Range(0, Messages), messages);
    }

    [Fact]
    public async Task AConsumerThatStopsReadingIsDisconnectedAtTheHardLimitAndCountedAsSlow()
    {
        await using var fixture = await FanoutServer.StartAsync(o =>
            o.SendQueue = new SendQueueOptions { HardLimit = 256 * 1024, SoftLimit = 0 });
        using var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];
        using var message = OutgoingMessage.Create(new byte[16 * 1024]);

        var results = new List<SendResult>();
        for (var i = 0; i < 10_000 && (results.Count == 0 || results[^1] == SendResult.Queued); i++)
        {
            results.Add(connection.TrySend(message));
            await Task.Yield();
        }

        // The kernel's buffers take some first; then the queue fills to its limit and the connection goes.
        Assert.Equal(SendResult.Disconnected, results[^1]);
        Assert.Equal(SendResult.Closed, connection.TrySend(message));
        await Loopback.EventuallyAsync(() => fixture.Server.GetClosedCount(ConnectionCloseReason.SlowConsumer) == 1, "the slow consumer counted");
        await Loopback.EventuallyAsync(() => fixture.Group.Count == 0, "the disconnected member left the group");
        await Loopback.EventuallyAsync(() => message.References == 1, "every queued reference to be given back (a send in flight at the abort ends with it)");
    }

    [Fact]
    public async Task DropNewestKeepsTheConnectionAndBoundsWhatIsQueued()
    {
        var limit = 128 * 1024;
        await using var fixture = await FanoutServer.StartAsync(o =>
            o.SendQueue = new SendQueueOptions { HardLimit = limit, SoftLimit = 0, Overflow = QueueOverflow.DropNewest });
        using var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];
        using var message = OutgoingMessage.Create(new byte[8 * 1024]);

        var dropped = 0;
        for (var i = 0; i < 2_000; i++)
        {
            if (connection.TrySend(message) == SendResult.Dropped)
            {
                dropped++;
            }

            Assert.True(connection.QueuedBytes <= limit, $"{connection.QueuedBytes} bytes queued over a {limit}-byte limit");
        }

        Assert.True(dropped > 0, "a consumer that never reads must see drops");
        Assert.Equal(1, fixture.Group.Count);
        Assert.Equal(0, fixture.Server.GetClosedCount(ConnectionCloseReason.SlowConsumer));
    }

    [Fact]
    public async Task DropOldestDeliversTheNewestMessagesOnceTheConsumerReadsAgain()
    {
        await using var fixture = await FanoutServer.StartAsync(o =>
            o.SendQueue = new SendQueueOptions { HardLimit = 64 * 1024, SoftLimit = 0, Overflow = QueueOverflow.DropOldest });
        using var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];
        const int Sent = 20_000;
        for (var i = 0; i < Sent; i++)
        {
            // The newest is always kept, even while a batch the consumer does not read is in flight.
            Assert.Equal(SendResult.Queued, connection.TrySend(Encoding.ASCII.GetBytes($"{i:D8}{new string('p', 500)}\n")));
            Assert.True(connection.QueuedBytes <= 64 * 1024 + 509, $"{connection.QueuedBytes} bytes queued: more than the limit and one message");
        }

        // Read everything that arrives: the last line is the newest message; older ones were dropped.
        var seen = new List<int>();
        var reader = new System.IO.StreamReader(new System.Net.Sockets.NetworkStream(client), Encoding.ASCII);
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        var last = -1;
        while (last != Sent - 1)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException($"the server closed after {seen.Count} lines");
            last = int.Parse(line[..8]);
            seen.Add(last);
        }

        Assert.True(seen.Count < Sent, "a full queue must have dropped the oldest");
        Assert.Equal(seen.OrderBy(x => x), seen); // what arrives is still in order
        Assert.Equal(1, fixture.Group.Count);
    }

    [Fact]
    public async Task MessagesQueuedBeforeTheHandlerReturnsGoOutBeforeTheFin()
    {
        const int Messages = 5_000;
        await using var fixture = await FanoutServer.StartAsync(afterJoin: connection =>
        {
            for (var i = 0; i < Messages; i++)
            {
                connection.TrySend(Encoding.ASCII.GetBytes($"{i}\n"));
            }

            return Task.CompletedTask; // the server closes the connection now
        });
        using var client = await Loopback.ConnectAsync(fixture.Server.LocalEndPoint!);
        var lines = await FanoutServer.ReadLinesAsync(client, Messages);
        Assert.Equal(Enumerable.Range(0, Messages).Select(i => i.ToString()), lines);
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Fact]
    public void OptionsOutOfRangeAreRefusedWithTheValueNamed()
    {
        Assert.Contains("HardLimit", Assert.Throws<ArgumentException>(() => new SendQueueOptions { HardLimit = 0 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("SoftLimit", Assert.Throws<ArgumentException>(() => new SendQueueOptions { HardLimit = 10, SoftLimit = 11 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("SoftLimitTime", Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { SendQueue = new SendQueueOptions { SoftLimitTime = TimeSpan.FromSeconds(-1) } })).Message, StringComparison.Ordinal);
    }
}
