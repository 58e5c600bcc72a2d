using System.Net.Sockets;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Samples.Kv.Store;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Samples;

/// <summary>samples/Kv over raw sockets: byte-exact replies (checked against redis-server 7.0), pipelining,
/// subscriber mode, and bad input that must end in an error or a close, never a crash.</summary>
public class KvProtocolTests
{
    [Fact]
    public async Task PipelinedCommandsInOneSendAreAnsweredInOrder()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(string.Concat(Enumerable.Repeat("*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n", 500)) + "GET n\r\n");

        var expected = string.Concat(Enumerable.Range(1, 500).Select(i => $":{i}\r\n")) + "$3\r\n500\r\n";
        Assert.Equal(expected, await client.ReadRepliesAsync(501));
    }

    [Fact]
    public async Task ATruncatedFrameIsAnsweredOnceTheRestArrives()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel");
        await Task.Delay(100);
        await client.SendAsync("lo\r\n*2\r\n$3\r\nGET\r\n$1");
        await Task.Delay(100);
        await client.SendAsync("\r\nk\r\n");

        Assert.Equal("+OK\r\n$5\r\nhello\r\n", await client.ReadRepliesAsync(2));
    }

    [Theory]
    [InlineData("*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$99999999999999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*99999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*2\r\n*1\r\n$1\r\na\r\n", "-ERR Protocol error: expected '$', got '*'\r\n")]
    [InlineData("SET \"unclosed\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n")]
    public async Task ABrokenRequestGetsRedisErrorAndAGracefulClose(string request, string reply)
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync("PING\r\n" + request + "PING\r\n");

        var (text, end) = await client.ReadToEndAsync();
        Assert.Equal("+PONG\r\n" + reply, text);
        Assert.Equal(SocketError.Success, end);
    }

    [Fact]
    public async Task AHugeClaimedBulkWithinTheLimitAllocatesNothingUntilItsBytesArrive()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        var before = GC.GetTotalAllocatedBytes();

        // 512 MB claimed (the default limit), 16 bytes sent: the server must wait, not allocate.
        await client.SendAsync("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nsixteen bytes...");
        await Task.Delay(300);

        Assert.True(GC.GetTotalAllocatedBytes() - before < 128L * 1024 * 1024, $"{GC.GetTotalAllocatedBytes() - before} bytes were allocated while a 512 MB bulk was claimed");
        using var other = await RawRespClient.ConnectAsync(server.EndPoint);
        await other.SendAsync("PING\r\n");
        Assert.Equal("+PONG\r\n", await other.ReadRepliesAsync());
    }

    [Fact]
    public async Task BinaryKeysAndValuesRoundTripByteForByte()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        var key = "k\0\r\n\xff";
        var value = "\0\x01\r\n$3\r\n*";

        await client.SendAsync($"*3\r\n$3\r\nSET\r\n${key.Length}\r\n{key}\r\n${value.Length}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n${key.Length}\r\n{key}\r\n*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n");

        Assert.Equal($"+OK\r\n${value.Length}\r\n{value}\r\n*1\r\n${key.Length}\r\n{key}\r\n", await client.ReadRepliesAsync(3));
    }

    [Fact]
    public async Task GarbageBetweenValidCommandsGetsErrorsWhileTheValidOnesRun()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync("PING\r\n\x01\x02 junk \xfe\r\n*1\r\n$4\r\nPING\r\n%%%\nECHO ok\r\n");

        Assert.Equal(
            "+PONG\r\n-ERR unknown command '\x01\x02', with args beginning with: 'junk' '\xfe' \r\n+PONG\r\n-ERR unknown command '%%%', with args beginning with: \r\n$2\r\nok\r\n",
            await client.ReadRepliesAsync(5));
    }

    [Fact]
    public async Task SubscriberModeAllowsOnlyPubSubCommandsAndPingAsRedisDoes()
    {
        await using var server = await KvTestServer.StartAsync();
        using var subscriber = await RawRespClient.ConnectAsync(server.EndPoint);
        using var publisher = await RawRespClient.ConnectAsync(server.EndPoint);

        // The same bytes redis-server 7.0 sends for this input.
        await subscriber.SendAsync("SUBSCRIBE c\r\nGET k\r\nPING\r\nPING x\r\n");
        Assert.Equal(
            "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n" +
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n" +
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$1\r\nx\r\n",
            await subscriber.ReadRepliesAsync(4));

        await publisher.SendAsync("PUBLISH c hi\r\n");
        Assert.Equal(":1\r\n", await publisher.ReadRepliesAsync());
        Assert.Equal("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n", await subscriber.ReadRepliesAsync());

        await subscriber.SendAsync("UNSUBSCRIBE\r\nPING\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\n");
        Assert.Equal(
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n+PONG\r\n*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
            await subscriber.ReadRepliesAsync(4));
        await publisher.SendAsync("PUBLISH c again\r\n");
        Assert.Equal(":0\r\n", await publisher.ReadRepliesAsync());
    }

    [Fact]
    public async Task ASubscriberThatStopsReadingIsCutByTheSendQueueLimitAndLeavesItsChannels()
    {
        var limits = new SendQueueOptions { HardLimit = 256 * 1024, SoftLimit = 0 };
        await using var server = await KvTestServer.StartAsync(sendQueue: limits);
        using var subscriber = await RawRespClient.ConnectAsync(server.EndPoint);
        using var publisher = await RawRespClient.ConnectAsync(server.EndPoint);
        await subscriber.SendAsync("SUBSCRIBE feed\r\n");
        Assert.Contains("subscribe", await subscriber.ReadRepliesAsync(), StringComparison.Ordinal);

        // The subscriber reads nothing more: 64 MB published must overflow its queue and the kernel's buffers.
        var payload = new string('p', 64 * 1024);
        var receivers = new List<string>();
        for (var i = 0; i < 1000 && !receivers.Contains(":0\r\n"); i++)
        {
            await publisher.SendAsync($"*3\r\n$7\r\nPUBLISH\r\n$4\r\nfeed\r\n${payload.Length}\r\n{payload}\r\n");
            receivers.Add(await publisher.ReadRepliesAsync());
        }

        Assert.Contains(":0\r\n", receivers);
        Assert.Equal(":1\r\n", receivers[0]);
        await Loopback.EventuallyAsync(() =>
        {
            lock (server.Kv.Keyspace.Lock)
            {
                return server.Kv.Hub.ChannelCount == 0;
            }
        }, "the cut subscriber left its channel");
    }

    [Fact]
    public async Task ExpiredKeysAreDeletedByTheActiveSweepWithoutBeingRead()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(string.Concat(Enumerable.Range(0, 200).Select(i => $"SET short{i} v PX 50\r\n")) + "SET long v EX 1000\r\n");
        await client.ReadRepliesAsync(201);

        await Loopback.EventuallyAsync(() =>
        {
            lock (server.Kv.Keyspace.Lock)
            {
                return server.Kv.Keyspace.Count == 1 && server.Kv.Keyspace.ExpiresCount == 1;
            }
        }, "the sweep deleted the 200 expired keys and kept the long-lived one");
    }

    [Fact]
    public async Task QuitIsAnsweredAndTheConnectionClosedWithAFin()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync("QUIT\r\nPING\r\n");

        Assert.Equal(("+OK\r\n", SocketError.Success), await client.ReadToEndAsync());
    }

    [Fact]
    public async Task SelectOfAnotherDatabaseIsRefusedSinceOnlyDbZeroExists()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        await client.SendAsync("SELECT 0\r\nSELECT 1\r\n");

        Assert.Equal("+OK\r\n-ERR DB index is out of range\r\n", await client.ReadRepliesAsync(2));
    }

    [Fact]
    public void TheSweepDeletesOnlyTheKeysWhoseTimeHasCome()
    {
        var keys = new Keyspace();
        var now = Keyspace.Now;
        for (var i = 0; i < 10_000; i++)
        {
            var key = Encoding.ASCII.GetBytes($"k{i}");
            keys.SetExpiry(key, keys.Set(key, "v"u8.ToArray()), i < 10 ? now + 1 : now + 3_600_000);
        }

        Assert.Equal(0, keys.SweepExpired(now, 100));
        Assert.Equal(10, keys.SweepExpired(now + 2, 100_000));
        Assert.Equal(9_990, keys.Count);
    }

    [Fact]
    public void ReExpiringOneKeyManyTimesKeepsTheExpiryHeapBounded()
    {
        var keys = new Keyspace();
        var key = "k"u8.ToArray();
        var entry = keys.Set(key, "v"u8.ToArray());
        var now = Keyspace.Now;
        for (var i = 0; i < 100_000; i++)
        {
            // Far in the future, so no sweep would ever reach the old elements.
            keys.SetExpiry(key, entry, now + 3_600_000 + i);
            Assert.True(keys.ExpiryHeapCount <= (2 * keys.ExpiresCount) + 64, $"{keys.ExpiryHeapCount} heap elements for {keys.ExpiresCount} expiring key after {i + 1} EXPIREs");
        }

        // Flipping between two times (two elements can then carry the current time) and PERSIST stay bounded too.
        for (var i = 0; i < 100_000; i++)
        {
            keys.SetExpiry(key, entry, now + 3_600_000 + (i % 2));
            if (i % 3 == 0)
            {
                keys.ClearExpiry(entry);
            }
        }

        keys.SetExpiry(key, entry, now + 3_600_001);
        Assert.True(keys.ExpiryHeapCount <= (2 * keys.ExpiresCount) + 64, $"{keys.ExpiryHeapCount} heap elements for {keys.ExpiresCount} expiring key");
        Assert.Equal(1, keys.ExpiresCount);

        // The key still expires when its time comes, once.
        Assert.Equal(0, keys.SweepExpired(now + 3_599_999, 100));
        Assert.Equal(1, keys.SweepExpired(now + 3_600_002, 100));
        Assert.Equal(0, keys.Count);
        Assert.Equal(0, keys.ExpiresCount);
    }

    [Fact]
    public async Task ReExpiringAKeyOverTheProtocolKeepsTheExpiryHeapBounded()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync("SET k v\r\n");
        await client.ReadRepliesAsync();

        for (var batch = 0; batch < 20; batch++)
        {
            await client.SendAsync(string.Concat(Enumerable.Range(0, 1000).Select(i => $"EXPIRE k {100_000 + (batch * 1000) + i}\r\n")) + "PERSIST k\r\nDEL k\r\nSET k v\r\n");
            await client.ReadRepliesAsync(1003);
        }

        lock (server.Kv.Keyspace.Lock)
        {
            var keys = server.Kv.Keyspace;
            Assert.True(keys.ExpiryHeapCount <= (2 * keys.ExpiresCount) + 64, $"{keys.ExpiryHeapCount} heap elements for {keys.ExpiresCount} expiring keys");
        }
    }
}
