using System.Net.Sockets;
using System.Text;
using Sockeye.Cli.Chat;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

/// <summary><c>sockeye serve chat</c>'s handler over real sockets: the protocol of docs/CHAT.md.</summary>
public sealed class ChatServerTests
{
    private static async Task<TcpServer> StartAsync(int maxLine = 4096)
    {
        var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(new ChatHandler(new ChatRooms(), maxLine));
        return server;
    }

    [Fact]
    public async Task CommandsAreAnsweredAndAMessageReachesEveryOtherMemberOfTheRoom()
    {
        await using var server = await StartAsync();
        using var alice = await Loopback.ConnectAsync(server.LocalEndPoint!);
        using var bob = await Loopback.ConnectAsync(server.LocalEndPoint!);
        using var carol = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await alice.SendAllAsync("NICK alice\nJOIN lobby\n"u8.ToArray());
        Assert.Equal(["OK NICK alice", "OK JOIN lobby"], await FanoutServer.ReadLinesAsync(alice, 2));
        await carol.SendAllAsync("JOIN kitchen\n"u8.ToArray());
        Assert.Equal(["OK JOIN kitchen"], await FanoutServer.ReadLinesAsync(carol, 1));
        await bob.SendAllAsync("NICK bob\nJOIN lobby\nMSG lobby hello, there\nMSG lobby\nMSG nowhere x\nFOO bar\nPART kitchen\nJOIN bad/room\nNICK\n"u8.ToArray());

        Assert.Equal(
            ["OK NICK bob", "OK JOIN lobby", "ERR not in room nowhere", "ERR unknown command FOO", "ERR not in room kitchen", "ERR bad argument room", "ERR bad argument nick"],
            await FanoutServer.ReadLinesAsync(bob, 7));
        Assert.Equal(["lobby bob: hello, there", "lobby bob: "], await FanoutServer.ReadLinesAsync(alice, 2));

        await bob.SendAllAsync("PART lobby\nQUIT\n"u8.ToArray());
        Assert.Equal(["OK PART lobby", "OK QUIT"], await FanoutServer.ReadLinesAsync(bob, 2));
        Assert.Equal(SocketError.Success, await bob.ReceiveEndAsync());

        // Carol, in another room, heard nothing of the lobby.
        await carol.SendAllAsync("QUIT\n"u8.ToArray());
        Assert.Equal(["OK QUIT"], await FanoutServer.ReadLinesAsync(carol, 1));
    }

    [Fact]
    public async Task EveryMessageToARoomOfTwoHundredArrivesOnceAndInOrder()
    {
        const int Members = 200, Messages = 300;
        await using var server = await StartAsync();
        var clients = new List<Socket>();
        for (var i = 0; i < Members; i++)
        {
            var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync(Encoding.ASCII.GetBytes($"NICK m{i}\nJOIN room\n"));
            clients.Add(client);
        }

        foreach (var client in clients)
        {
            Assert.Equal(2, (await FanoutServer.ReadLinesAsync(client, 2)).Count);
        }

        var publisher = clients[0];
        var readers = clients.Skip(1).Select(c => Task.Run(() => FanoutServer.ReadLinesAsync(c, Messages))).ToArray();
        var text = new StringBuilder();
        for (var i = 0; i < Messages; i++)
        {
            text.Append("MSG room ").Append(i).Append('\n');
        }

        await publisher.SendAllAsync(Encoding.ASCII.GetBytes(text.ToString()));
        foreach (var lines in await Task.WhenAll(readers))
        {
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => $"room m0: {i}"), lines);
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task ALineOverTheLimitIsAnsweredAndTheConnectionClosed()
    {
        await using var server = await StartAsync(maxLine: 64);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync(Encoding.ASCII.GetBytes("MSG room " + new string('x', 100) + "\n"));
        Assert.Equal(["ERR line too long"], await FanoutServer.ReadLinesAsync(client, 1));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Fact]
    public async Task CommandsSentOneByteAtATimeAreAnsweredInOrder()
    {
        await using var server = await StartAsync();
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        foreach (var b in "NICK alice\r\nJOIN lobby\nFOO\nQUIT\n"u8.ToArray())
        {
            await client.SendAllAsync(new[] { b });
            await Task.Delay(1);
        }

        Assert.Equal(["OK NICK alice", "OK JOIN lobby", "ERR unknown command FOO", "OK QUIT"], await FanoutServer.ReadLinesAsync(client, 4));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Fact]
    public async Task AJoinedMemberThatIsIdleHoldsNoReadBufferNoFramingReaderAndNoGroupList()
    {
        // Issue 17's idle subscriber: after NICK and JOIN it holds none of what a read or a second
        // room would need, and still gets the room's lines.
        var connections = new TaskCompletionSource<Sockeye.Transport.SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new ChatHandler(new ChatRooms(), 4096);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(connection =>
        {
            connections.TrySetResult((Sockeye.Transport.SocketConnection)connection);
            return handler.HandleAsync(connection);
        });
        using var member = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await member.SendAllAsync("NICK idle\nJOIN lobby\n"u8.ToArray());
        Assert.Equal(["OK NICK idle", "OK JOIN lobby"], await FanoutServer.ReadLinesAsync(member, 2));
        var connection = await connections.Task.WaitAsync(Loopback.Patience);

        await Loopback.EventuallyAsync(() => connection.Reader.IsReceivePending, "the idle member waits for input");
        var pool = server.MemoryPool;
        await Loopback.EventuallyAsync(() => pool.BlocksAllocated - pool.FreeBlocks == 0, "every block is back in the pool");
        Assert.Null(connection.FrameReader);
        Assert.IsType<Sockeye.Fanout.ConnectionGroup>(connection.ExtrasIfCreated?.Groups);

        using var speaker = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await speaker.SendAllAsync("NICK bob\nJOIN lobby\nMSG lobby hi\n"u8.ToArray());
        Assert.Equal(["lobby bob: hi"], await FanoutServer.ReadLinesAsync(member, 1));
    }

    [Fact]
    public async Task WhoamiNamesTheClientFromTheProxyHeaderAndTheInstancesOwnAddress()
    {
        var options = Security.ProxyProtocolTests.Options();
        await using var server = new TcpServer(options);
        await server.StartAsync(new ChatHandler(new ChatRooms(), 4096));
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var original = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("203.0.113.7"), 51234);
        var proxied = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.51.100.1"), 7000);

        await client.SendAllAsync(Security.ProxyHeaders.V2(original, proxied).Concat("WHOAMI\nWHOAMI x\n"u8.ToArray()).ToArray());

        // The PROXY header's client, then the socket's real local address (not the header's destination).
        Assert.Equal(
            [$"OK WHOAMI 203.0.113.7:51234 {server.LocalEndPoint}", "ERR bad argument whoami"],
            await FanoutServer.ReadLinesAsync(client, 2));
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("room-1.test_2", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("slash/room", false)]
    [InlineData("0123456789012345678901234567890123", false)]
    public void NamesAreOneToThirtyTwoLettersDigitsAndUnderscoreDotDash(string name, bool valid) =>
        Assert.Equal(valid, ChatHandler.IsName(name));
}
