using Sockeye.Bench;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary><c>bench fanout</c> against chat servers on loopback: a tiny one in this process (so the
/// counting is checked without Go) and the Go reference peer.</summary>
public class FanoutLoadGeneratorTests
{
    // The run plus its drain after the window (at most FanoutWorkload.DrainLimit), with room to spare.
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static BenchSettings Settings(int port, int subscribers, int rooms, int publishers) => new()
    {
        Mode = BenchMode.Fanout,
        Host = "127.0.0.1",
        Port = port,
        Subscribers = subscribers,
        Rooms = rooms,
        Publishers = publishers,
        Connections = subscribers + publishers,
        // 400 messages/s for half a second: about 200 measured messages per publisher.
        Rate = 400,
        Duration = TimeSpan.FromMilliseconds(500),
        Warmup = TimeSpan.FromMilliseconds(100),
        Quiet = true,
    };

    private static Task<BenchResult> RunAsync(BenchSettings settings) =>
        new BenchCoordinator(settings, TextWriter.Null).RunAsync(CancellationToken.None).WaitAsync(Limit);

    [Fact]
    public async Task EveryMessageReachesEveryOtherMemberOfItsRoomAndNoneIsLost()
    {
        await using var server = new TinyChatServer();

        var result = await RunAsync(Settings(server.Port, subscribers: 20, rooms: 2, publishers: 2));

        // Each room: 10 subscribers and 1 publisher, so each message owes 10 deliveries.
        Assert.Equal(22, result.ConnectionsHeld);
        Assert.True(result.Messages > 50, $"only {result.Messages} messages were published in the window");
        Assert.Equal(result.Messages * 10, result.ExpectedDeliveries);
        Assert.Equal(result.ExpectedDeliveries, result.Operations);
        Assert.Equal(0, result.LostDeliveries);
        Assert.Equal(0, result.DisconnectedSubscribers);
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.True(result.Passed);
        Assert.True(result.P50Microseconds > 0, "no delivery latency was recorded");
        Assert.True(result.MaxMicroseconds >= result.P99Microseconds);
    }

    [Fact]
    public async Task PublishersInOneRoomDeliverToEachOtherToo()
    {
        await using var server = new TinyChatServer();

        var result = await RunAsync(Settings(server.Port, subscribers: 3, rooms: 1, publishers: 2));

        // One room of 5 members: each message owes 4 deliveries, one of them to the other publisher.
        Assert.Equal(result.Messages * 4, result.ExpectedDeliveries);
        Assert.Equal(result.ExpectedDeliveries, result.Operations);
        Assert.Equal(0, result.LostDeliveries);
    }

    [Fact]
    public async Task ASubscriberTheServerDropsIsReportedAsDisconnectedAndItsDeliveriesAsLost()
    {
        await using var server = new TinyChatServer(dropNick: "s3");

        var result = await RunAsync(Settings(server.Port, subscribers: 6, rooms: 1, publishers: 1));

        Assert.Equal(1, server.Dropped);
        Assert.Equal(1, result.DisconnectedSubscribers);
        Assert.Equal(0, result.DisconnectedPublishers);
        // s3 owed one delivery per measured message and received none of them.
        Assert.Equal(result.Messages, result.LostDeliveries);
        Assert.Equal(result.ExpectedDeliveries - result.Messages, result.Operations);
        Assert.Equal(0, result.Errors); // A slow-consumer drop is the server's policy, not a failure.
        Assert.True(result.Passed, "a loss the server accounted for by disconnecting must not fail the run");
    }

    [Fact]
    public void LostDeliveriesWithNoSubscriberDroppedFailTheRun()
    {
        var result = new BenchResult { LostDeliveries = 3, DisconnectedSubscribers = 0 };

        Assert.False(result.Passed);
        Assert.True((result with { DisconnectedSubscribers = 1 }).Passed);
    }

    [Fact]
    public async Task AgainstTheGoReferencePeerEveryDeliveryArrivesAndItsCpuIsCharged()
    {
        await using var peer = await GoChatPeer.StartAsync();

        var result = await RunAsync(Settings(peer.Port, subscribers: 40, rooms: 2, publishers: 2) with { ServerPid = peer.ProcessId });

        Assert.Equal(42, result.ConnectionsHeld);
        Assert.True(result.Messages > 50, $"only {result.Messages} messages were published in the window");
        Assert.Equal(result.Messages * 20, result.ExpectedDeliveries);
        Assert.Equal(result.ExpectedDeliveries, result.Operations);
        Assert.Equal(0, result.LostDeliveries);
        Assert.Equal(0, result.DisconnectedSubscribers);
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.NotNull(result.ServerCpuMicrosecondsPerOperation);
    }

    [Fact]
    public async Task TheGoReferencePeerDropsAMemberThatStopsReading()
    {
        await using var peer = await GoChatPeer.StartAsync();
        var endPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, peer.Port);
        // A small receive buffer, so that the kernel's buffers fill and go-chat's 256-line queue backs up.
        using var stalled = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(endPoint).WaitAsync(Loopback.Patience);
        using var publisher = await Loopback.ConnectAsync(endPoint);
        await stalled.SendAllAsync("JOIN r\n"u8.ToArray());
        await publisher.SendAllAsync("JOIN r\n"u8.ToArray());
        Assert.Equal("OK JOIN r\n", System.Text.Encoding.ASCII.GetString(await publisher.ReceiveExactlyAsync(10)));

        // 4,000-byte messages, bounded: 2,000 of them (8 MB) are far more than 256 lines plus the socket buffers.
        var message = System.Text.Encoding.ASCII.GetBytes("MSG r " + new string('x', 4000) + "\n");
        for (var i = 0; i < 2000; i++)
        {
            await publisher.SendAllAsync(message);
        }

        // Now read: what was queued before the drop, then the end of the connection.
        var buffer = new byte[65536];
        long received = 0;
        int n;
        while ((n = await stalled.ReceiveAsync(buffer).WaitAsync(Loopback.Patience)) > 0)
        {
            received += n;
        }

        // Each delivery is "r guest1: " + 4,000 x + "\n" (4,011 bytes): it was cut off before the last.
        Assert.True(received is > 0 and < 2000L * 4011, $"{received} bytes arrived before the end of the connection");
    }

    [Theory]
    [InlineData("room3 p7: 12 345 xxxx", true, 7, 12, 345)]
    [InlineData("room0 p0: 0 99", true, 0, 0, 99)]
    [InlineData("room0 p10: 3 4 x", true, 10, 3, 4)]
    [InlineData("room0 s1: 3 4 x", false, -1, 0, 0)]
    [InlineData("room0 p1: 3", false, 1, 3, 0)]
    [InlineData("room0 p1x: 3 4", false, 1, 0, 0)]
    [InlineData("room0 p1: 3 4x", false, 1, 3, 4)]
    [InlineData("OK JOIN room0", false, -1, 0, 0)]
    public void ParsesDeliveriesAndRefusesAnythingElse(string line, bool parses, int publisher, long sequence, long stamp)
    {
        var ok = ChatMember.TryParseDelivery(System.Text.Encoding.ASCII.GetBytes(line), out var p, out var s, out var t);

        Assert.Equal(parses, ok);
        if (parses)
        {
            Assert.Equal((publisher, sequence, stamp), (p, s, t));
        }
    }
}
