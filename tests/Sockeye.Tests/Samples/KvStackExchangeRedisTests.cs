using System.Net;
using StackExchange.Redis;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Samples;

/// <summary>samples/Kv driven by StackExchange.Redis, a client nobody on this team wrote.</summary>
public class KvStackExchangeRedisTests
{
    [Fact]
    public async Task StringsWorkThroughStackExchangeRedisIncludingBinaryKeys()
    {
        await using var server = await KvTestServer.StartAsync();
        await using var redis = await ConnectAsync(server.EndPoint);
        var db = redis.GetDatabase();
        byte[] binaryKey = [0, 0xff, (byte)'\r', (byte)'\n', 7];

        Assert.True(await db.StringSetAsync("greeting", "hello"));
        Assert.Equal("hello", (string?)await db.StringGetAsync("greeting"));
        Assert.True(await db.StringSetAsync(binaryKey, new byte[] { 1, 0, 2 }));
        Assert.Equal(new byte[] { 1, 0, 2 }, (byte[]?)await db.StringGetAsync(binaryKey));
        Assert.Equal(5, await db.StringIncrementAsync("n", 5));
        Assert.Equal(3, await db.StringDecrementAsync("n", 2));
        Assert.Equal(11, await db.StringAppendAsync("greeting", " world"));
        Assert.Equal(["hello world", null, "3"], (await db.StringGetAsync(["greeting", "missing", "n"])).Select(v => (string?)v));
        Assert.False(await db.StringSetAsync("greeting", "again", when: When.NotExists));
        Assert.Equal("hello world", (string?)await db.StringGetDeleteAsync("greeting"));
        Assert.False(await db.KeyExistsAsync("greeting"));
        await Assert.ThrowsAsync<RedisServerException>(() => db.ListLeftPushAsync("n", "x"));
    }

    [Fact]
    public async Task KeysExpireAndTheirTimeToLiveIsReported()
    {
        await using var server = await KvTestServer.StartAsync();
        await using var redis = await ConnectAsync(server.EndPoint);
        var db = redis.GetDatabase();

        await db.StringSetAsync("soon", "v", TimeSpan.FromMilliseconds(300));
        await db.StringSetAsync("later", "v");
        Assert.True(await db.KeyExpireAsync("later", TimeSpan.FromSeconds(100)));

        var ttl = await db.KeyTimeToLiveAsync("later");
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(100));
        Assert.True(await db.KeyPersistAsync("later"));
        Assert.Null(await db.KeyTimeToLiveAsync("later"));
        await Loopback.EventuallyAsync(async () => !await db.KeyExistsAsync("soon"), "the 300 ms key expired");
        Assert.True(await db.KeyExistsAsync("later"));
    }

    [Fact]
    public async Task APipelinedBatchIsExecutedInOrder()
    {
        await using var server = await KvTestServer.StartAsync();
        await using var redis = await ConnectAsync(server.EndPoint);
        var db = redis.GetDatabase();

        var batch = db.CreateBatch();
        var increments = Enumerable.Range(0, 1000).Select(_ => batch.StringIncrementAsync("counter")).ToArray();
        var push = batch.ListRightPushAsync("list", ["a", "b", "c"]);
        var hash = batch.HashSetAsync("h", [new HashEntry("f", "v"), new HashEntry("g", "w")]);
        var set = batch.SetAddAsync("s", ["x", "y", "x"]);
        var zset = batch.SortedSetAddAsync("z", [new SortedSetEntry("one", 1), new SortedSetEntry("two", 2)]);
        batch.Execute();

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), await Task.WhenAll(increments).WaitAsync(Loopback.Patience));
        Assert.Equal(3, await push);
        await hash;
        Assert.Equal(2, await set);
        Assert.Equal(2, await zset);
        Assert.Equal(["a", "b", "c"], (await db.ListRangeAsync("list")).Select(v => (string?)v));
        Assert.Equal("w", (string?)await db.HashGetAsync("h", "g"));
        Assert.Equal(2, await db.SetLengthAsync("s"));
        Assert.Equal(2.0, await db.SortedSetScoreAsync("z", "two"));
        Assert.Equal("one", (string?)(await db.SortedSetPopAsync("z"))!.Value.Element);
    }

    [Fact]
    public async Task PubSubDeliversToChannelAndPatternSubscribers()
    {
        await using var server = await KvTestServer.StartAsync();
        await using var subscriberConnection = await ConnectAsync(server.EndPoint);
        await using var publisherConnection = await ConnectAsync(server.EndPoint);
        var subscriber = subscriberConnection.GetSubscriber();
        var literal = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pattern = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        await subscriber.SubscribeAsync(RedisChannel.Literal("news.sport"), (_, message) => literal.TrySetResult(message!));
        await subscriber.SubscribeAsync(RedisChannel.Pattern("news.*"), (channel, message) => pattern.TrySetResult($"{channel} {message}"));
        var receivers = await publisherConnection.GetSubscriber().PublishAsync(RedisChannel.Literal("news.sport"), "goal");

        Assert.Equal(2, receivers);
        Assert.Equal("goal", await literal.Task.WaitAsync(Loopback.Patience));
        Assert.Equal("news.sport goal", await pattern.Task.WaitAsync(Loopback.Patience));

        await subscriber.UnsubscribeAsync(RedisChannel.Literal("news.sport"));
        Assert.Equal(1, await publisherConnection.GetSubscriber().PublishAsync(RedisChannel.Literal("news.sport"), "again"));
    }

    [Fact]
    public async Task TheClientReconnectsAfterTheServerRestarts()
    {
        var server = await KvTestServer.StartAsync();
        var port = server.EndPoint.Port;
        await using var redis = await ConnectAsync(server.EndPoint);
        var db = redis.GetDatabase();
        await db.StringSetAsync("before", "restart");

        await server.DisposeAsync();
        await Loopback.EventuallyAsync(() => !redis.IsConnected, "the client noticed the server went away");
        await using var restarted = await KvTestServer.StartAsync(port);

        await Loopback.EventuallyAsync(async () =>
        {
            try
            {
                await db.PingAsync();
                return true;
            }
            catch (RedisConnectionException)
            {
                return false;
            }
        }, "the client reconnected to the restarted server", every: TimeSpan.FromMilliseconds(200));
        Assert.False(await db.KeyExistsAsync("before")); // memory only: the restart forgot it
        Assert.True(await db.StringSetAsync("after", "restart"));
        Assert.Equal("restart", (string?)await db.StringGetAsync("after"));
    }

    private static Task<ConnectionMultiplexer> ConnectAsync(IPEndPoint endPoint) =>
        ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { endPoint },
            ConnectTimeout = 10_000,
            SyncTimeout = 10_000,
            AsyncTimeout = 10_000,
            AbortOnConnectFail = false,
            ConnectRetry = 5,
            ReconnectRetryPolicy = new LinearRetry(200),
        });
}
