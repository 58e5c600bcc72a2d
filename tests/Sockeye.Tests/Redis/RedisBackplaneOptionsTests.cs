using System.Text;
using Sockeye.Fanout;
using Sockeye.Redis;

namespace Sockeye.Tests.Redis;

/// <summary>The <c>redis://</c> URL of <c>--backplane</c>, and the envelope a broadcast travels in.</summary>
public sealed class RedisBackplaneOptionsTests
{
    [Theory]
    [InlineData("redis://127.0.0.1:6380", "127.0.0.1:6380", "sockeye:groups", null, null)]
    [InlineData("redis://redis.internal", "redis.internal:6379", "sockeye:groups", null, null)]
    [InlineData("redis://10.0.0.5:7000/?channel-prefix=chat-eu:", "10.0.0.5:7000", "chat-eu:groups", null, null)]
    [InlineData("redis://:s3cret@[::1]:6379/", "[::1]:6379", "sockeye:groups", null, "s3cret")]
    [InlineData("redis://app:p%40ss@host:1", "host:1", "sockeye:groups", "app", "p@ss")]
    public void AValidUrlGivesTheEndPointChannelAndCredentials(string url, string endPoint, string channel, string? user, string? password)
    {
        Assert.True(RedisBackplaneOptions.TryParse(url, out var options, out var error), error);
        Assert.Equal(endPoint, options.EndPoint);
        Assert.Equal(channel, options.Channel);
        Assert.Equal(user, options.User);
        Assert.Equal(password, options.Password);
    }

    [Theory]
    [InlineData("127.0.0.1:6379", "not a URL")]
    [InlineData("http://127.0.0.1:6379", "the scheme must be redis, not http")]
    [InlineData("redis://127.0.0.1:99999", "not a URL")]
    [InlineData("redis://127.0.0.1:0", "port 0")]
    [InlineData("redis://127.0.0.1:6379/2", "unexpected path '/2'")]
    [InlineData("redis://127.0.0.1:6379/?db=2", "unknown parameter 'db' (known: channel-prefix)")]
    [InlineData("redis://127.0.0.1:6379/?channel-prefix=", "channel-prefix must be 1-64 printable ASCII characters without spaces, got ''")]
    public void ABadUrlIsRefusedNamingWhatIsWrong(string url, string expected)
    {
        Assert.False(RedisBackplaneOptions.TryParse(url, out var options, out var error));
        Assert.Null(options);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEnvelopeCarriesOriginGroupAndPayloadUnchanged()
    {
        var origin = Guid.NewGuid();
        var payload = Encoding.UTF8.GetBytes("lobby zoë: hi\n");
        var envelope = RedisGroupBackplane.Encode(new BackplaneMessage(origin, "lobby-é", payload));

        Assert.True(RedisGroupBackplane.TryDecode(envelope, out var decoded));
        Assert.Equal(origin, decoded.Origin);
        Assert.Equal("lobby-é", decoded.Group);
        Assert.Equal(payload, decoded.Payload.ToArray());

        // Truncated, another version, or not ours at all: refused, not misread.
        Assert.False(RedisGroupBackplane.TryDecode(envelope.AsMemory(0, 20), out _));
        envelope[0] = 2;
        Assert.False(RedisGroupBackplane.TryDecode(envelope, out _));
        Assert.False(RedisGroupBackplane.TryDecode("hello"u8.ToArray(), out _));
    }
}
