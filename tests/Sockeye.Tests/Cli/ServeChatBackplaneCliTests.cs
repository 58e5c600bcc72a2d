using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.Samples;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

/// <summary><c>sockeye serve chat --backplane redis://...</c>: two real chat processes sharing one real
/// redis-server, as two instances behind a load balancer would.</summary>
public sealed partial class ServeChatBackplaneCliTests
{
    [RedisFact]
    public async Task ARoomSpansTwoInstancesAndEachMemberGetsEachLineOnce()
    {
        using var redis = await RedisServer.StartAsync();
        using var a = await ChatProcess.StartAsync(redis.Port);
        using var b = await ChatProcess.StartAsync(redis.Port);
        using var alice = await a.JoinAsync("alice");
        using var carol = await a.JoinAsync("carol");
        using var bob = await b.JoinAsync("bob");

        await alice.Socket.SendAllAsync("MSG lobby one\nMSG lobby two\n"u8.ToArray());
        Assert.Equal(["lobby alice: one", "lobby alice: two"], await carol.ReadAsync(2));
        Assert.Equal(["lobby alice: one", "lobby alice: two"], await bob.ReadAsync(2));

        // Each one's next line is the next message: no line came twice, alice did not get her own,
        // and bob's line went the other way.
        await bob.Socket.SendAllAsync("MSG lobby three\n"u8.ToArray());
        Assert.Equal(["lobby bob: three"], await alice.ReadAsync(1));
        Assert.Equal(["lobby bob: three"], await carol.ReadAsync(1));
        await carol.Socket.SendAllAsync("MSG lobby four\n"u8.ToArray());
        Assert.Equal(["lobby carol: four"], await bob.ReadAsync(1));

        // One PUBLISH per broadcast: instance a published 3 (one, two, four) for its 1 remote member,
        // b received those 3 and a received b's 1.
        // (A publish is counted when Redis's reply comes back, which may be after the line arrived.)
        await Loopback.EventuallyAsync(async () => Sample(await a.MetricsAsync(), "sockeye_backplane_messages_published_total") == 3, "a counts 3 published");
        await Loopback.EventuallyAsync(async () => Sample(await b.MetricsAsync(), "sockeye_backplane_messages_published_total") == 1, "b counts 1 published");
        var metricsA = await a.MetricsAsync();
        var metricsB = await b.MetricsAsync();
        Assert.Equal(3, Sample(metricsA, "sockeye_backplane_messages_published_total"));
        Assert.Equal(1, Sample(metricsA, "sockeye_backplane_messages_received_total"));
        Assert.Equal(3, Sample(metricsB, "sockeye_backplane_messages_received_total"));
        Assert.Equal(1, Sample(metricsB, "sockeye_backplane_messages_published_total"));
        Assert.Equal(0, Sample(metricsA, "sockeye_backplane_messages_lost_total"));
        Assert.Equal(1, Sample(metricsA, "sockeye_backplane_connected"));
        Assert.Equal((200, "ready\nbackplane: connected\n"), await a.ReadyzAsync());
    }

    [RedisFact]
    public async Task WhenRedisStopsLocalDeliveryGoesOnLinesAreCountedLostAndCrossingResumesAfterItReturns()
    {
        using var redis = await RedisServer.StartAsync();
        using var a = await ChatProcess.StartAsync(redis.Port);
        using var b = await ChatProcess.StartAsync(redis.Port);
        using var alice = await a.JoinAsync("alice");
        using var carol = await a.JoinAsync("carol");
        using var bob = await b.JoinAsync("bob");
        await alice.Socket.SendAllAsync("MSG lobby before\n"u8.ToArray());
        Assert.Equal(["lobby alice: before"], await bob.ReadAsync(1));
        Assert.Equal(["lobby alice: before"], await carol.ReadAsync(1));

        redis.Stop();

        // Not required: still ready (200), and the body says the backplane is down.
        await Loopback.EventuallyAsync(async () => (await a.ReadyzAsync()).Body.Contains("backplane: disconnected", StringComparison.Ordinal), "instance a sees the outage");
        Assert.Equal((200, "ready\nbackplane: disconnected\n"), await a.ReadyzAsync());
        await alice.Socket.SendAllAsync("MSG lobby during\n"u8.ToArray());
        Assert.Equal(["lobby alice: during"], await carol.ReadAsync(1));
        // (Counted just after the local delivery.)
        await Loopback.EventuallyAsync(async () => Sample(await a.MetricsAsync(), "sockeye_backplane_messages_lost_total") >= 1, "a counts the line lost");
        Assert.Equal(1, Sample(await a.MetricsAsync(), "sockeye_backplane_messages_lost_total"));
        Assert.Equal(0, Sample(await a.MetricsAsync(), "sockeye_backplane_connected"));

        // Redis returns on the same port: the instances reconnect and subscribe again by themselves.
        await redis.RestartAsync();
        var back = Stopwatch.StartNew();
        string? first = null;
        for (var probe = 0; first is null && back.Elapsed < TimeSpan.FromSeconds(30); probe++)
        {
            await alice.Socket.SendAllAsync(Encoding.ASCII.GetBytes($"MSG lobby probe {probe}\n"));
            Assert.Equal([$"lobby alice: probe {probe}"], await carol.ReadAsync(1));
            first = await bob.TryReadAsync(TimeSpan.FromMilliseconds(250));
        }

        // At-most-once: what was said during the outage is not delivered late; the first line through is a probe.
        Assert.True(first is not null, $"no line crossed within {back.Elapsed.TotalSeconds:F1} s of redis-server's return");
        Assert.StartsWith("lobby alice: probe ", first, StringComparison.Ordinal);
        Assert.Equal((200, "ready\nbackplane: connected\n"), await a.ReadyzAsync());
    }

    [RedisFact]
    public async Task WithBackplaneRequiredReadyzIs503UntilRedisIsUpAndAgainWhileItIsDown()
    {
        var port = Loopback.FreePort();
        using var a = await ChatProcess.StartAsync(port, "--backplane-required");
        Assert.Equal((503, "not ready: the backplane is disconnected (--backplane-required)\nbackplane: disconnected\n"), await a.ReadyzAsync());

        using var redis = await RedisServer.StartAsync(port);
        await Loopback.EventuallyAsync(async () => (await a.ReadyzAsync()).Status == 200, "ready once redis-server is up", within: TimeSpan.FromSeconds(30));
        Assert.Equal((200, "ready\nbackplane: connected\n"), await a.ReadyzAsync());

        redis.Stop();
        await Loopback.EventuallyAsync(async () => (await a.ReadyzAsync()).Status == 503, "not ready once redis-server is gone");
        Assert.Contains("backplane: disconnected\n", (await a.ReadyzAsync()).Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--backplane 127.0.0.1:6379", "--backplane must be redis://HOST:PORT (optionally /?channel-prefix=NAME), got '127.0.0.1:6379': not a URL")]
    [InlineData("--backplane nats://127.0.0.1:4222", "--backplane must be redis://HOST:PORT (optionally /?channel-prefix=NAME), got 'nats://127.0.0.1:4222': the scheme must be redis, not nats")]
    [InlineData("--backplane redis://127.0.0.1:6379/?prefix=x", "got 'redis://127.0.0.1:6379/?prefix=x': unknown parameter 'prefix' (known: channel-prefix)")]
    [InlineData("--backplane-required", "--backplane-required needs --backplane redis://HOST:PORT")]
    public async Task ABadBackplaneIsRefusedWithOneLineNamingTheFlagAndTheValue(string arguments, string expected)
    {
        var (code, _, stderr) = await CliProcess.RunAsync($"serve chat --port 0 {arguments}");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    /// <summary>The value of a series with no labels besides the scope's and the backplane's (0 when absent).</summary>
    private static long Sample(string metrics, string name)
    {
        var match = Regex.Match(metrics, $@"^{name}\{{[^}}]*\}} (\d+)", RegexOptions.Multiline);
        return match.Success ? long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>One instance: <c>sockeye serve chat</c> on a free port with the admin port on, over
    /// the redis-server at <paramref name="redisPort"/> (which need not be up).</summary>
    private sealed class ChatProcess : IDisposable
    {
        private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
        private readonly CliProcess _cli;
        private readonly int _metricsPort;

        private ChatProcess(CliProcess cli, EndPoint endPoint, int metricsPort)
        {
            _cli = cli;
            EndPoint = endPoint;
            _metricsPort = metricsPort;
        }

        public EndPoint EndPoint { get; }

        public static async Task<ChatProcess> StartAsync(int redisPort, string extra = "")
        {
            var metricsPort = Loopback.FreePort();
            var cli = CliProcess.Start($"serve chat --port 0 --metrics-port {metricsPort} --backplane redis://127.0.0.1:{redisPort} {extra}");
            var endPoint = await cli.ListeningAsync();
            await Loopback.EventuallyAsync(() => cli.Stdout.Contains($"metrics on http://127.0.0.1:{metricsPort}/metrics", StringComparison.Ordinal) || cli.HasExited, "the metrics line");
            Assert.False(cli.HasExited, cli.Stderr);
            return new ChatProcess(cli, endPoint, metricsPort);
        }

        /// <summary>A client in the room <c>lobby</c>, its replies read.</summary>
        public async Task<ChatClient> JoinAsync(string nick)
        {
            var client = new ChatClient(await Loopback.ConnectAsync(EndPoint));
            await client.Socket.SendAllAsync(Encoding.ASCII.GetBytes($"NICK {nick}\nJOIN lobby\n"));
            Assert.Equal([$"OK NICK {nick}", "OK JOIN lobby"], await client.ReadAsync(2));
            return client;
        }

        public async Task<(int Status, string Body)> ReadyzAsync()
        {
            using var response = await Http.GetAsync(new Uri($"http://127.0.0.1:{_metricsPort}/readyz"));
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        public Task<string> MetricsAsync() => Http.GetStringAsync(new Uri($"http://127.0.0.1:{_metricsPort}/metrics"));

        public void Dispose()
        {
            if (!_cli.HasExited)
            {
                _cli.Signal("TERM");
            }

            _cli.Dispose();
        }
    }

    /// <summary>A chat client's socket and the lines it has read, with a bounded wait for each.</summary>
    private sealed class ChatClient(Socket socket) : IDisposable
    {
        private readonly byte[] _buffer = new byte[4096];
        private readonly StringBuilder _pending = new();
        private Task<int>? _receiving;

        public Socket Socket { get; } = socket;

        public async Task<List<string>> ReadAsync(int count)
        {
            var lines = new List<string>();
            while (lines.Count < count)
            {
                lines.Add(await TryReadAsync(Loopback.Patience) ?? throw new TimeoutException($"{lines.Count} of {count} lines in {Loopback.Patience}: [{string.Join(", ", lines)}]"));
            }

            return lines;
        }

        /// <summary>The next line, or null when none arrives within <paramref name="within"/> (a read
        /// still under way is kept for the next call, so no byte is lost).</summary>
        public async Task<string?> TryReadAsync(TimeSpan within)
        {
            var deadline = Task.Delay(within);
            while (true)
            {
                var text = _pending.ToString();
                var end = text.IndexOf('\n', StringComparison.Ordinal);
                if (end >= 0)
                {
                    _pending.Remove(0, end + 1);
                    return text[..end];
                }

                _receiving ??= Socket.ReceiveAsync(_buffer, SocketFlags.None);
                if (await Task.WhenAny(_receiving, deadline) != _receiving)
                {
                    return null;
                }

                var read = await _receiving;
                _receiving = null;
                if (read == 0)
                {
                    throw new InvalidOperationException($"the server closed; unread: '{_pending}'");
                }

                _pending.Append(Encoding.ASCII.GetString(_buffer, 0, read));
            }
        }

        public void Dispose() => Socket.Dispose();
    }
}
