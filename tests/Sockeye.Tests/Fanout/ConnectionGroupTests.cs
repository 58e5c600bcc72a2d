using System.Text;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

public sealed class ConnectionGroupTests
{
    [Fact]
    public async Task EveryMessageBroadcastToTwoHundredClientsArrivesOnceAndInOrder()
    {
        const int Clients = 200, Messages = 500;
        await using var fixture = await FanoutServer.StartAsync();
        var clients = await fixture.ConnectAsync(Clients);

        var readers = clients.Select(c => Task.Run(() => FanoutServer.ReadLinesAsync(c, Messages))).ToArray();
        var queued = 0;
        for (var i = 0; i < Messages; i++)
        {
            using var message = OutgoingMessage.Create(Encoding.ASCII.GetBytes($"message {i}\n"));
            var result = fixture.Group.Broadcast(message);
            queued += result.Queued;
            Assert.Equal(0, result.Dropped);
        }

        Assert.Equal(Clients * Messages, queued);
        foreach (var lines in await Task.WhenAll(readers))
        {
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => $"message {i}"), lines);
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task ABroadcastSharesOneMessageAndGivesItBackWhenEveryMemberSentIt()
    {
        await using var fixture = await FanoutServer.StartAsync();
        var clients = await fixture.ConnectAsync(10);
        var message = OutgoingMessage.Create("shared\n"u8);
        var result = fixture.Group.Broadcast(message, except: fixture.Group.Members()[0]);
        Assert.Equal(new BroadcastResult(9, 0), result);

        // Nine clients get the line; the excluded member's client gets nothing.
        var reads = clients.Select(async c =>
        {
            var task = FanoutServer.ReadLinesAsync(c, 1);
            return await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(2))) == task && task.Result[0] == "shared";
        }).ToArray();
        Assert.Equal(9, (await Task.WhenAll(reads)).Count(got => got));

        await Loopback.EventuallyAsync(() => message.References == 1, "every queue to give its reference back");
        message.Dispose();
        Assert.Equal(0, message.References);
        Assert.Throws<ObjectDisposedException>(() => message.Dispose());
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task AMemberThatClosesLeavesEveryGroupItIsIn()
    {
        var second = new ConnectionGroup("second");
        await using var fixture = await FanoutServer.StartAsync(afterJoin: async connection =>
        {
            second.Add(connection);
            await connection.Input.DiscardToEndAsync();
        });
        var clients = await fixture.ConnectAsync(5);
        await Loopback.EventuallyAsync(() => second.Count == 5, "five members in the second group");

        clients[0].Dispose();
        clients[1].Dispose();
        await Loopback.EventuallyAsync(() => fixture.Group.Count == 3 && second.Count == 3, "the closed members to leave both groups");
        Assert.Equal(new BroadcastResult(3, 0), second.Broadcast("still here\n"u8));
        clients.Skip(2).ToList().ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task AMemberThatLeftOneOfThreeGroupsLeavesTheOtherTwoWhenItCloses()
    {
        // The first group a connection joins is tracked in a field, the rest in a list made at the
        // second: leaving the first and then closing must still leave the others.
        var second = new ConnectionGroup("second");
        var third = new ConnectionGroup("third");
        await using var fixture = await FanoutServer.StartAsync(afterJoin: async connection =>
        {
            second.Add(connection);
            third.Add(connection);
            await connection.Input.DiscardToEndAsync();
        });
        var clients = await fixture.ConnectAsync(2);
        await Loopback.EventuallyAsync(() => third.Count == 2, "two members in the third group");
        foreach (var member in fixture.Group.Members())
        {
            Assert.True(fixture.Group.Remove(member));
            Assert.False(fixture.Group.Remove(member));
        }

        clients[0].Dispose();
        await Loopback.EventuallyAsync(() => second.Count == 1 && third.Count == 1, "the closed member to leave the other two groups");
        Assert.Equal(0, fixture.Group.Count);
        Assert.Equal(new BroadcastResult(1, 0), third.Broadcast("still here\n"u8));
        clients[1].Dispose();
        await Loopback.EventuallyAsync(() => second.Count == 0 && third.Count == 0, "the last member to leave both");
    }

    [Fact]
    public async Task JoinsAndLeavesDuringBroadcastsNeverThrowAndEndConsistent()
    {
        await using var fixture = await FanoutServer.StartAsync();
        var clients = await fixture.ConnectAsync(50);
        var members = fixture.Group.Members();
        var other = new ConnectionGroup("churning");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));

        var churn = Task.Run(() =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                var member = members[i++ % members.Count];
                if (!other.Add(member))
                {
                    other.Remove(member);
                }
            }
        });
        var broadcasts = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                other.Broadcast("x\n"u8);
            }
        });
        await Task.WhenAll(churn, broadcasts).WaitAsync(Loopback.Patience);

        Assert.Equal(other.Members().Count, other.Count);
        Assert.All(other.Members(), m => Assert.Contains(m, members));
        clients.ForEach(c => c.Dispose());
    }
}
