using System.Net.Sockets;
using Sockeye.Cli.Chat;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

/// <summary><see cref="GroupBroadcaster"/> over in-process backplanes: chat servers in one test process
/// standing for instances, over real sockets.</summary>
public sealed class GroupBroadcasterTests
{
    [Fact]
    public async Task ARoomsLineReachesItsMembersOnAnotherInstanceOnceAndPublishesOncePerBroadcast()
    {
        var bus = new InProcessBackplane();
        await using var a = await ChatInstance.StartAsync(bus);
        await using var b = await ChatInstance.StartAsync(bus.CreatePeer());
        using var alice = await a.JoinAsync("alice", "lobby");
        using var carol = await a.JoinAsync("carol", "lobby");
        using var bob = await b.JoinAsync("bob", "lobby");
        using var dave = await b.JoinAsync("dave", "lobby");

        await alice.SendAllAsync("MSG lobby one\nMSG lobby two\n"u8.ToArray());
        foreach (var member in new[] { carol, bob, dave })
        {
            Assert.Equal(["lobby alice: one", "lobby alice: two"], await FanoutServer.ReadLinesAsync(member, 2));
        }

        // Two broadcasts, two publishes, whatever the number of members on the other instance.
        // Counted when the publish completes, which may be after the members read their lines.
        await Loopback.EventuallyAsync(() => a.Rooms.Broadcaster.Published == 2, "two publishes counted");
        Assert.Equal(2, b.Rooms.Broadcaster.Received);

        // The next line each one reads is bob's: nobody got a line twice, and alice not her own.
        await bob.SendAllAsync("MSG lobby end\n"u8.ToArray());
        foreach (var member in new[] { alice, carol, dave })
        {
            Assert.Equal(["lobby bob: end"], await FanoutServer.ReadLinesAsync(member, 1));
        }
    }

    [Fact]
    public async Task AMessageTheBackplaneHandsBackToItsSenderIsNotDeliveredTwice()
    {
        // Like Redis, this backplane delivers every message to every subscriber, the publisher too.
        await using var a = await ChatInstance.StartAsync(new EchoingBackplane());
        using var alice = await a.JoinAsync("alice", "lobby");
        using var carol = await a.JoinAsync("carol", "lobby");

        await alice.SendAllAsync("MSG lobby once\n"u8.ToArray());
        Assert.Equal(["lobby alice: once"], await FanoutServer.ReadLinesAsync(carol, 1));
        await carol.SendAllAsync("MSG lobby next\n"u8.ToArray());
        Assert.Equal(["lobby carol: next"], await FanoutServer.ReadLinesAsync(alice, 1));
        Assert.Equal(0, a.Rooms.Broadcaster.Received);
        // Counted when the publish completes, which may be after the members read their lines.
        await Loopback.EventuallyAsync(() => a.Rooms.Broadcaster.Published == 2, "two publishes counted");
    }

    [Fact]
    public async Task WhileTheBackplaneIsDownLocalMembersStillGetTheLineAndItIsCountedAsLost()
    {
        var down = new DownBackplane();
        await using var a = await ChatInstance.StartAsync(down);
        using var alice = await a.JoinAsync("alice", "lobby");
        using var carol = await a.JoinAsync("carol", "lobby");

        await alice.SendAllAsync("MSG lobby anyone\nMSG lobby there\n"u8.ToArray());
        Assert.Equal(["lobby alice: anyone", "lobby alice: there"], await FanoutServer.ReadLinesAsync(carol, 2));
        Assert.Equal(BackplaneState.Disconnected, a.Rooms.Broadcaster.State);
        Assert.Equal(2, a.Rooms.Broadcaster.Lost);
        Assert.Equal(0, a.Rooms.Broadcaster.Published);

        // A backplane that throws loses the message too, and the sender's connection goes on.
        down.Throw = true;
        await alice.SendAllAsync("MSG lobby still\n"u8.ToArray());
        Assert.Equal(["lobby alice: still"], await FanoutServer.ReadLinesAsync(carol, 1));
        await alice.SendAllAsync("JOIN other\n"u8.ToArray());
        Assert.Equal(["OK JOIN other"], await FanoutServer.ReadLinesAsync(alice, 1));
        Assert.Equal(3, a.Rooms.Broadcaster.Lost);
    }

    [Fact]
    public async Task ALineForARoomWithNoMembersHereIsReceivedAndDropped()
    {
        var bus = new InProcessBackplane();
        await using var a = await ChatInstance.StartAsync(bus);
        await using var b = await ChatInstance.StartAsync(bus.CreatePeer());
        using var alice = await a.JoinAsync("alice", "lobby");
        using var bob = await b.JoinAsync("bob", "kitchen");

        await alice.SendAllAsync("MSG lobby hello\n"u8.ToArray());
        await Loopback.EventuallyAsync(() => b.Rooms.Broadcaster.Received == 1, "the line reaches instance b");
        Assert.Null(b.Rooms.Find("lobby")); // receiving creates no room

        // Bob, in another room there, got nothing: the next line he reads is his own reply.
        await bob.SendAllAsync("PART kitchen\n"u8.ToArray());
        Assert.Equal(["OK PART kitchen"], await FanoutServer.ReadLinesAsync(bob, 1));
    }

    /// <summary>A chat server (the CLI's handler) on its own backplane, standing for one instance.</summary>
    private sealed class ChatInstance : IAsyncDisposable
    {
        private ChatInstance(TcpServer server, ChatRooms rooms)
        {
            Server = server;
            Rooms = rooms;
        }

        public TcpServer Server { get; }

        public ChatRooms Rooms { get; }

        public static async Task<ChatInstance> StartAsync(IGroupBackplane backplane)
        {
            var rooms = new ChatRooms(backplane);
            await rooms.Broadcaster.StartAsync();
            var server = new TcpServer(new TcpServerOptions());
            await server.StartAsync(new ChatHandler(rooms, 4096));
            return new ChatInstance(server, rooms);
        }

        /// <summary>A client named <paramref name="nick"/> in <paramref name="room"/>, its replies read.</summary>
        public async Task<Socket> JoinAsync(string nick, string room)
        {
            var client = await Loopback.ConnectAsync(Server.LocalEndPoint!);
            await client.SendAllAsync(System.Text.Encoding.ASCII.GetBytes($"NICK {nick}\nJOIN {room}\n"));
            Assert.Equal([$"OK NICK {nick}", $"OK JOIN {room}"], await FanoutServer.ReadLinesAsync(client, 2));
            return client;
        }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Rooms.DisposeAsync();
        }
    }

    private sealed class EchoingBackplane : IGroupBackplane
    {
        private Action<BackplaneMessage>? _receive;

        public string Name => "echoing";

        public BackplaneState State => BackplaneState.Connected;

        public Task StartAsync(Action<BackplaneMessage> receive, CancellationToken cancellationToken = default)
        {
            _receive = receive;
            return Task.CompletedTask;
        }

        public ValueTask<bool> PublishAsync(BackplaneMessage message)
        {
            _receive!(message);
            return ValueTask.FromResult(true);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class DownBackplane : IGroupBackplane
    {
        public volatile bool Throw;

        public string Name => "down";

        public BackplaneState State => BackplaneState.Disconnected;

        public Task StartAsync(Action<BackplaneMessage> receive, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public ValueTask<bool> PublishAsync(BackplaneMessage message) =>
            Throw ? throw new InvalidOperationException("a defect in the backplane") : ValueTask.FromResult(false);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
