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
            lock (server.Kv.Lock)
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
            lock (server.Kv.Lock)
            {
                return server.Kv.Databases[0].Count == 1 && server.Kv.Databases[0].ExpiresCount == 1;
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
    public async Task SelectGivesEachConnectionItsOwnDatabaseOfSixteenWithIsolatedKeys()
    {
        await using var server = await KvTestServer.StartAsync();
        using var first = await RawRespClient.ConnectAsync(server.EndPoint);
        using var second = await RawRespClient.ConnectAsync(server.EndPoint);

        // redis-server 7.0.15's replies.
        await first.SendAsync("SELECT 16\r\nSELECT -1\r\nSELECT abc\r\nSELECT 99999999999\r\nSELECT 01\r\n");
        Assert.Equal(
            "-ERR DB index is out of range\r\n-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n" +
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n-ERR value is not an integer or out of range\r\n",
            await first.ReadRepliesAsync(5));

        await first.SendAsync("SET k zero\r\nSELECT 15\r\nGET k\r\nSET k fifteen\r\nSET only15 x\r\nDBSIZE\r\nKEYS *\r\n");
        Assert.Equal("+OK\r\n+OK\r\n$-1\r\n+OK\r\n+OK\r\n:2\r\n", await first.ReadRepliesAsync(6));
        Assert.Equal(2, (await first.ReadRepliesAsync()).Split("\r\n$").Length - 1);

        // Another connection starts in db 0 and does not see db 15's keys; SELECT is per connection.
        await second.SendAsync("GET k\r\nEXISTS only15\r\nDBSIZE\r\nSELECT 15\r\nGET k\r\nDEL only15\r\n");
        Assert.Equal("$4\r\nzero\r\n:0\r\n:1\r\n+OK\r\n$7\r\nfifteen\r\n:1\r\n", await second.ReadRepliesAsync(6));
        await first.SendAsync("EXISTS only15\r\nSCAN 0 COUNT 100\r\nSELECT 0\r\nGET k\r\n");
        Assert.Equal(":0\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n+OK\r\n$4\r\nzero\r\n", await first.ReadRepliesAsync(4));

        await first.SendAsync("INFO\r\n");
        var info = await first.ReadRepliesAsync();
        Assert.Contains("db0:keys=1,expires=0,avg_ttl=0\r\ndb15:keys=1,expires=0,avg_ttl=0\r\n", info, StringComparison.Ordinal);
        Assert.DoesNotContain("db1:", info, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlushDbEmptiesTheSelectedDatabaseAndFlushAllEmptiesThemAll()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync("SET a 1\r\nSELECT 3\r\nSET b 2\r\nSET c 3\r\nSELECT 7\r\nSET d 4\r\n");
        await client.ReadRepliesAsync(6);

        await client.SendAsync("FLUSHDB\r\nDBSIZE\r\nSELECT 3\r\nDBSIZE\r\nSELECT 0\r\nDBSIZE\r\n");
        Assert.Equal("+OK\r\n:0\r\n+OK\r\n:2\r\n+OK\r\n:1\r\n", await client.ReadRepliesAsync(6));

        await client.SendAsync("FLUSHALL\r\nDBSIZE\r\nSELECT 3\r\nDBSIZE\r\nGET b\r\n");
        Assert.Equal("+OK\r\n:0\r\n+OK\r\n:0\r\n$-1\r\n", await client.ReadRepliesAsync(5));
        Assert.Equal(0, server.Kv.TotalKeys);
    }

    [Fact]
    public async Task TheActiveSweepCoversEveryDatabase()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync(string.Concat(Enumerable.Range(0, 16).Select(db => $"SELECT {db}\r\nSET short v PX 50\r\nSET long v EX 1000\r\n")));
        await client.ReadRepliesAsync(48);

        await Loopback.EventuallyAsync(() =>
        {
            lock (server.Kv.Lock)
            {
                return server.Kv.Databases.All(db => db.Count == 1 && db.ExpiresCount == 1);
            }
        }, "the sweep deleted the expired key of each of the 16 databases and kept the long-lived ones");
    }

    [Fact]
    public void TheSweepDeletesOnlyTheKeysWhoseTimeHasCome()
    {
        var keys = new Keyspace();
        var now = Keyspace.Now;
        for (var i = 0; i < 10_000; i++)
        {
            var key = Encoding.ASCII.GetBytes($"k{i}");
            keys.SetExpiry(keys.Set(key, "v"u8.ToArray()), i < 10 ? now + 1 : now + 3_600_000);
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
            keys.SetExpiry(entry, now + 3_600_000 + i);
            Assert.True(keys.ExpiryHeapCount <= (2 * keys.ExpiresCount) + 64, $"{keys.ExpiryHeapCount} heap elements for {keys.ExpiresCount} expiring key after {i + 1} EXPIREs");
        }

        // Flipping between two times (two elements can then carry the current time) and PERSIST stay bounded too.
        for (var i = 0; i < 100_000; i++)
        {
            keys.SetExpiry(entry, now + 3_600_000 + (i % 2));
            if (i % 3 == 0)
            {
                keys.ClearExpiry(entry);
            }
        }

        keys.SetExpiry(entry, now + 3_600_001);
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

        lock (server.Kv.Lock)
        {
            var keys = server.Kv.Databases[0];
            Assert.True(keys.ExpiryHeapCount <= (2 * keys.ExpiresCount) + 64, $"{keys.ExpiryHeapCount} heap elements for {keys.ExpiresCount} expiring keys");
        }
    }

    [Fact]
    public async Task AScanIterationWithCountReturnsEveryKeyPresentThroughoutInBoundedStepsWhileKeysComeAndGo()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        for (var batch = 0; batch < 10; batch++)
        {
            // 10,000 keys that stay, 5,000 that are deleted while the iteration runs.
            await client.SendAsync(string.Concat(Enumerable.Range(batch * 1000, 1000).Select(i => $"SET k{i} v\r\n")) +
                string.Concat(Enumerable.Range(batch * 500, 500).Select(i => $"SET gone{i} v\r\n")));
            await client.ReadRepliesAsync(1500);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var cursor = "0";
        var calls = 0;
        var added = 0;
        do
        {
            var (next, keys) = await ScanAsync(client, $"SCAN {cursor} COUNT 100");
            calls++;
            Assert.True(keys.Count < 10_000, $"one SCAN COUNT 100 returned {keys.Count} keys");
            Assert.True(keys.Count <= 100, $"one SCAN COUNT 100 returned {keys.Count} keys (this server looks at 10 × COUNT slots at most)");
            seen.UnionWith(keys);
            cursor = next;

            // Between steps: delete 50 of the doomed keys (holes before and after the cursor) and add 30 new ones.
            var churn = string.Concat(Enumerable.Range(calls * 50 % 5000, 50).Select(i => $"DEL gone{i}\r\n")) +
                string.Concat(Enumerable.Range(added, 30).Select(i => $"SET new{i} v\r\n"));
            added += 30;
            await client.SendAsync(churn);
            await client.ReadRepliesAsync(80);
        }
        while (cursor != "0" && calls < 10_000);

        Assert.Equal("0", cursor);
        Assert.True(calls > 10_000 / 100 / 4, $"the iteration took {calls} calls: a call must not return the whole keyspace");
        var missing = Enumerable.Range(0, 10_000).Select(i => $"k{i}").Where(k => !seen.Contains(k)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} keys present throughout were not returned, e.g. {string.Join(' ', missing.Take(5))}");
        Assert.All(seen, key => Assert.Matches("^(k|gone|new)[0-9]+$", key));
    }

    [Fact]
    public async Task ScanFiltersByMatchAndTypeAndEndsAtCursorZero()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync(string.Concat(Enumerable.Range(0, 300).Select(i => i % 3 == 0 ? $"LPUSH list{i} x\r\n" : $"SET str{i} v\r\n")));
        await client.ReadRepliesAsync(300);

        async Task<List<string>> AllAsync(string options)
        {
            var all = new List<string>();
            var cursor = "0";
            for (var calls = 0; calls < 1000; calls++)
            {
                var (next, keys) = await ScanAsync(client, $"SCAN {cursor} {options}");
                all.AddRange(keys);
                cursor = next;
                if (cursor == "0")
                {
                    return all;
                }
            }

            throw new InvalidOperationException("the iteration never ended");
        }

        var lists = await AllAsync("TYPE LIST COUNT 7");
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"list{i * 3}").Order(StringComparer.Ordinal), lists.Order(StringComparer.Ordinal));
        var matching = await AllAsync("MATCH str1?");
        Assert.Equal(new[] { "str10", "str11", "str13", "str14", "str16", "str17", "str19" }, matching.Order(StringComparer.Ordinal));
        Assert.Equal(300, (await AllAsync("COUNT 1000")).Count);
        Assert.Empty(await AllAsync("TYPE zset"));
    }

    [Fact]
    public async Task ScanRejectsABadCursorAndBadOptionsWithRedisErrors()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync("SET a 1\r\n");
        await client.ReadRepliesAsync();

        // The replies redis-server 7.0.15 gives (its cursor is C's strtoul: -1 wraps to 2^64 - 1, past every slot).
        await client.SendAsync(
            "SCAN abc\r\nSCAN 1x\r\nSCAN 18446744073709551616\r\nSCAN 0 COUNT 0\r\nSCAN 0 COUNT -1\r\nSCAN 0 COUNT abc\r\n" +
            "SCAN 0 FOO\r\nSCAN 0 MATCH\r\nSCAN -1\r\nSCAN 18446744073709551615\r\nSCAN 0\r\n");

        Assert.Equal(
            "-ERR invalid cursor\r\n-ERR invalid cursor\r\n-ERR invalid cursor\r\n-ERR syntax error\r\n-ERR syntax error\r\n" +
            "-ERR value is not an integer or out of range\r\n-ERR syntax error\r\n-ERR syntax error\r\n" +
            "*2\r\n$1\r\n0\r\n*0\r\n*2\r\n$1\r\n0\r\n*0\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n",
            await client.ReadRepliesAsync(11));
    }

    [Fact]
    public async Task ScanDeletesTheExpiredKeysItMeets()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);
        await client.SendAsync("SET a v PX 1\r\nSET b v PX 1\r\nSET c v\r\n");
        await client.ReadRepliesAsync(3);
        await Task.Delay(20);

        await client.SendAsync("SCAN 0\r\nDBSIZE\r\n");

        Assert.Equal("*2\r\n$1\r\n0\r\n*1\r\n$1\r\nc\r\n:1\r\n", await client.ReadRepliesAsync(2));
    }

    [Fact]
    public async Task ZRangeByScoreAndByLexOverAThousandMembersMatchTheirDefinitions()
    {
        await using var server = await KvTestServer.StartAsync();
        using var client = await RawRespClient.ConnectAsync(server.EndPoint);

        // Scores 0 to 99, ten members each (m000 to m999), so ties are ordered by member bytes; lex: equal scores.
        var members = Enumerable.Range(0, 1000).Select(i => (Score: i % 100, Member: $"m{i:D3}")).ToList();
        await client.SendAsync(string.Concat(members.Select(m => $"ZADD zs {m.Score} {m.Member}\r\nZADD zl 0 {m.Member}\r\n")));
        await client.ReadRepliesAsync(2000);
        var ordered = members.OrderBy(m => m.Score).ThenBy(m => m.Member, StringComparer.Ordinal).ToList();

        static string Array(IEnumerable<string> items) => $"*{items.Count()}\r\n" + string.Concat(items.Select(i => $"${i.Length}\r\n{i}\r\n"));

        await client.SendAsync("ZRANGE zs (10 20 BYSCORE\r\n");
        Assert.Equal(Array(ordered.Where(m => m.Score is > 10 and <= 20).Select(m => m.Member)), await client.ReadRepliesAsync());

        await client.SendAsync("ZRANGE zs (50 -inf BYSCORE REV LIMIT 5 12\r\n");
        Assert.Equal(Array(Enumerable.Reverse(ordered).Where(m => m.Score < 50).Skip(5).Take(12).Select(m => m.Member)), await client.ReadRepliesAsync());

        await client.SendAsync("ZRANGE zs 98 +inf BYSCORE WITHSCORES\r\n");
        Assert.Equal(Array(ordered.Where(m => m.Score >= 98).SelectMany(m => new[] { m.Member, m.Score.ToString(System.Globalization.CultureInfo.InvariantCulture) })), await client.ReadRepliesAsync());

        await client.SendAsync("ZRANGE zs 10 -990 REV\r\n");
        Assert.Equal(Array(Enumerable.Reverse(ordered).Skip(10).Take(1).Select(m => m.Member)), await client.ReadRepliesAsync());

        var byName = members.Select(m => m.Member).Order(StringComparer.Ordinal).ToList();
        await client.SendAsync("ZRANGE zl [m100 (m200 BYLEX LIMIT 10 20\r\n");
        Assert.Equal(Array(byName.Where(m => string.CompareOrdinal(m, "m100") >= 0 && string.CompareOrdinal(m, "m200") < 0).Skip(10).Take(20)), await client.ReadRepliesAsync());

        await client.SendAsync("ZRANGE zl (m990 - BYLEX REV\r\n");
        Assert.Equal(Array(Enumerable.Reverse(byName).Where(m => string.CompareOrdinal(m, "m990") < 0)), await client.ReadRepliesAsync());

        await client.SendAsync("ZRANGE zs 1 x BYSCORE\r\nZRANGE zl a b BYLEX\r\nZRANGE zs 0 -1 LIMIT 0 1\r\nZRANGE zl - + BYLEX WITHSCORES\r\n");
        Assert.Equal(
            "-ERR min or max is not a float\r\n-ERR min or max not valid string range item\r\n" +
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n" +
            "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n",
            await client.ReadRepliesAsync(4));
    }

    /// <summary>Sends one SCAN and splits its reply into the next cursor and the keys (ASCII keys only).</summary>
    private static async Task<(string Cursor, List<string> Keys)> ScanAsync(RawRespClient client, string command)
    {
        await client.SendAsync(command + "\r\n");
        var lines = (await client.ReadRepliesAsync()).Split("\r\n");
        Assert.True(lines[0] == "*2", $"SCAN answered {string.Join("|", lines)}");
        var count = int.Parse(lines[3][1..], System.Globalization.CultureInfo.InvariantCulture);
        return (lines[2], Enumerable.Range(0, count).Select(i => lines[5 + (2 * i)]).ToList());
    }
}
