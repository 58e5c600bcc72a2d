using System.Net.Sockets;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

/// <summary>A connection's send queue is taken from its server's pool for a burst of messages and given
/// back when a drain empties it (Transport/OutboxPool.cs), over real loopback sockets.</summary>
public sealed class SendQueuePoolTests
{
    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task AQueueGivenBackAndRetakenUnderConcurrentSendersKeepsOrderAndLosesNothing(IoEngine engine)
    {
        await using var fixture = await FanoutServer.StartAsync(o => o.IoEngine = engine);
        var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];
        const int Senders = 4, PerSender = 3_000;

        var sending = Enumerable.Range(0, Senders).Select(s => Task.Run(async () =>
        {
            for (var i = 0; i < PerSender; i++)
            {
                Assert.Equal(SendResult.Queued, connection.TrySend(Encoding.ASCII.GetBytes($"{s}:{i}\n")));
                if (i % 7 == 0)
                {
                    await Task.Yield(); // lets drains empty the queue and give it back between sends
                }
            }
        })).ToArray();
        var lines = await FanoutServer.ReadLinesAsync(client, Senders * PerSender);
        await Task.WhenAll(sending);

        var next = new int[Senders];
        foreach (var line in lines)
        {
            var parts = line.Split(':');
            Assert.Equal(next[int.Parse(parts[0])]++, int.Parse(parts[1]));
        }

        Assert.All(next, n => Assert.Equal(PerSender, n));
        var pool = fixture.Server.SendQueuePool;
        await Loopback.EventuallyAsync(() => connection.ExtrasIfCreated?.Outbox is null, "the idle connection to give its queue back");
        Assert.Equal(0, pool.InUse);
        Assert.Equal(0, connection.QueuedBytes);
        Assert.True(pool.Created <= Senders + 1, $"{pool.Created} queues made for one connection: each take should reuse a spare one");
        client.Dispose();
    }

    [Fact]
    public async Task MembersHoldNoQueueOnceABroadcastWentOutAndTheNextOneReusesThem()
    {
        const int Members = 40;
        await using var fixture = await FanoutServer.StartAsync();
        var clients = await fixture.ConnectAsync(Members);
        var pool = fixture.Server.SendQueuePool;

        for (var round = 0; round < 3; round++)
        {
            fixture.Group.Broadcast(Encoding.ASCII.GetBytes($"round {round}\n"));
            foreach (var client in clients)
            {
                Assert.Equal($"round {round}", Assert.Single(await FanoutServer.ReadLinesAsync(client, 1)));
            }

            await Loopback.EventuallyAsync(() => fixture.Group.Members().All(m => m.ExtrasIfCreated?.Outbox is null), "every member to give its queue back");
            Assert.Equal(0, pool.InUse);
        }

        Assert.True(pool.Created <= Members, $"{pool.Created} queues made for {Members} members over 3 broadcasts");
        Assert.Equal(0, pool.Retired);
        clients.ForEach(c => c.Dispose());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AConnectionClosedWhileItsQueueIsPooledRefusesSendsAndTakesNoQueue(bool abort)
    {
        var ended = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var helloRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var fixture = await FanoutServer.StartAsync(afterJoin: async connection =>
        {
            Assert.Equal(SendResult.Queued, connection.TrySend("hello\n"u8));
            await Loopback.EventuallyAsync(() => connection.ExtrasIfCreated?.Outbox is null, "the queue given back after the drain");

            // Not before the client has its line: an abort's reset that overtakes the client's connect
            // completion (a loaded machine) makes the connect itself fail with ECONNRESET.
            await helloRead.Task.WaitAsync(Loopback.Patience);
            if (abort)
            {
                connection.Abort("test");
            }
            else
            {
                await connection.CloseAsync();
            }

            ended.SetResult(connection);
            await release.Task.WaitAsync(Loopback.Patience);
        });
        using var client = await Loopback.ConnectAsync(fixture.Server.LocalEndPoint!);
        Assert.Equal("hello", Assert.Single(await FanoutServer.ReadLinesAsync(client, 1)));
        helloRead.SetResult();
        var closed = await ended.Task.WaitAsync(Loopback.Patience);

        Assert.Equal(SendResult.Closed, closed.TrySend("late\n"u8));
        Assert.Null(closed.ExtrasIfCreated?.Outbox);
        var pool = fixture.Server.SendQueuePool;
        Assert.Equal(0, pool.InUse);
        Assert.Equal(0, pool.Retired);
        Assert.Equal(pool.Created, pool.Free);
        release.SetResult();
    }

    [Fact]
    public async Task ManyMembersBroadcastToWhileTheyCloseLoseNoQueueAndNoMessage()
    {
        const int Members = 30, Messages = 200;
        await using var fixture = await FanoutServer.StartAsync();
        var clients = await fixture.ConnectAsync(Members);
        using var message = OutgoingMessage.Create(Encoding.ASCII.GetBytes(new string('m', 300) + "\n"));

        var broadcasting = Task.Run(() =>
        {
            for (var i = 0; i < Messages; i++)
            {
                fixture.Group.Broadcast(message);
            }
        });

        // Half the clients read everything; the other half close (FIN or reset) in the middle.
        var readers = clients.Take(Members / 2).Select(c => FanoutServer.ReadLinesAsync(c, Messages)).ToList();
        foreach (var (client, i) in clients.Skip(Members / 2).Select((c, i) => (c, i)))
        {
            if (i % 2 == 0)
            {
                client.LingerState = new LingerOption(true, 0); // RST
            }

            client.Dispose();
        }

        await broadcasting;
        foreach (var lines in await Task.WhenAll(readers))
        {
            Assert.Equal(Messages, lines.Count);
        }

        clients.Take(Members / 2).ToList().ForEach(c => c.Dispose());
        await Loopback.EventuallyAsync(() => fixture.Server.ActiveConnections == 0, "every connection to end");
        var pool = fixture.Server.SendQueuePool;
        await Loopback.EventuallyAsync(() => pool.InUse == 0, "every queue back in the pool or retired with its connection");
        Assert.Equal(pool.Created, pool.Free + pool.Retired);
        await Loopback.EventuallyAsync(() => message.References == 1, "every queued reference given back");
        await Loopback.EventuallyAsync(() => fixture.Server.FanoutCounters.PendingBytes.Sum == 0, "no bytes counted as pending");
    }

    [Fact]
    public async Task AGroupsOwnLimitsKeepTheMembersQueue()
    {
        var limits = new SendQueueOptions { HardLimit = 64 * 1024, SoftLimit = 0, Overflow = QueueOverflow.DropOldest };
        await using var fixture = await FanoutServer.StartAsync(group: new ConnectionGroup("feed", limits));
        using var client = (await fixture.ConnectAsync(1))[0];
        var connection = fixture.Group.Members()[0];

        fixture.Group.Broadcast("tick\n"u8);
        Assert.Equal("tick", Assert.Single(await FanoutServer.ReadLinesAsync(client, 1)));
        await Task.Delay(100);

        Assert.NotNull(connection.ExtrasIfCreated?.Outbox); // given back, the group's limits would be lost
        Assert.Same(limits, connection.SendQueue);
    }
}
