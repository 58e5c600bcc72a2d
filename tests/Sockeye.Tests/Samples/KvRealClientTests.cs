using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Samples;

/// <summary>samples/Kv judged by Redis's own tools: redis-cli against a real redis-server, redis-benchmark,
/// and the sample as a program (admin port, SIGTERM drain, bad flags).</summary>
public class KvRealClientTests
{
    [RedisFact]
    public async Task ARedisCliSessionGetsTheSameOutputFromKvAsFromRedisServerLineByLine()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Samples", "Kv", "redis-cli-session.txt");
        await using var kv = await KvTestServer.StartAsync();
        using var redis = await RedisServer.StartAsync();

        var expected = (await RunAsync("redis-cli", $"-p {redis.Port}", File.ReadAllText(script))).Stdout.Split('\n');
        var actual = (await RunAsync("redis-cli", $"-p {kv.EndPoint.Port}", File.ReadAllText(script))).Stdout.Split('\n');

        Assert.True(expected.Length > 200, $"redis-server answered only {expected.Length} lines");
        for (var i = 0; i < Math.Max(expected.Length, actual.Length); i++)
        {
            var want = i < expected.Length ? expected[i] : "<no line>";
            var got = i < actual.Length ? actual[i] : "<no line>";
            Assert.True(want == got, $"line {i + 1}: redis-server said '{want}', kv said '{got}'");
        }
    }

    [RedisFact]
    public async Task RedisBenchmarkRunsItsDefaultTestListWithoutAnErrorReply()
    {
        await using var kv = await KvTestServer.StartAsync();

        var (code, stdout, stderr) = await RunAsync("redis-benchmark", $"-p {kv.EndPoint.Port} -n 500 -c 10 -q", input: null);

        Assert.True(code == 0, $"redis-benchmark exited with {code}: {stderr}");
        Assert.DoesNotContain("ERR", stdout + stderr, StringComparison.Ordinal);
        foreach (var test in new[] { "PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100", "LRANGE_600", "MSET" })
        {
            Assert.Matches($@"(^|\r|\n)\s*{Regex.Escape(test)}[^\n]*: [0-9.]+ requests per second", stdout);
        }
    }

    [RedisFact]
    public async Task TheSampleServesRedisCliAndItsAdminPortAndDrainsOnSigterm()
    {
        using var app = StartKv("--port 0 --metrics-port 0");
        var endPoint = await app.ListeningAsync();
        var admin = await AdminPortAsync(app);

        var (_, pong, _) = await RunAsync("redis-cli", $"-p {endPoint.Port} PING", input: null);
        Assert.Equal("PONG", pong.Trim());
        using var http = new HttpClient { Timeout = Loopback.Patience };
        Assert.Equal("ok\n", await http.GetStringAsync($"http://127.0.0.1:{admin}/healthz"));
        Assert.Equal("ready\n", await http.GetStringAsync($"http://127.0.0.1:{admin}/readyz"));
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{admin}/metrics");
        Assert.Contains("kv_commands", metrics, StringComparison.Ordinal);
        Assert.Contains("sockeye_", metrics, StringComparison.Ordinal);

        using var idle = await Loopback.ConnectAsync(endPoint);
        app.Signal("TERM");

        Assert.Equal(SocketError.Success, await idle.ReceiveEndAsync());
        Assert.Equal(0, await app.WaitForExitAsync());
        Assert.Contains("kv stopped: 1 connections drained, 0 aborted", app.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--port 70000", "kv: --port must be an integer between 0 and 65535, got '70000'")]
    [InlineData("--max-bulk lots", "kv: --max-bulk must be a size between 1 and 2147483591 bytes (suffix kb, mb or gb allowed), got 'lots'")]
    [InlineData("--colour blue", "kv: unknown option '--colour' (known: --port --host --max-bulk --max-array --max-clients --metrics-port --drain-timeout)")]
    [InlineData("--port", "kv: --port needs a value")]
    public async Task ABadFlagGetsOneLineOnStderrAndExitCodeTwo(string arguments, string line)
    {
        using var app = StartKv(arguments);

        Assert.Equal(2, await app.WaitForExitAsync());
        Assert.Equal(line, app.Stderr.Trim());
    }

    private static CliProcess StartKv(string arguments)
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var root = testOutput.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var output = Path.Combine(root, "samples", "Kv", "bin", testOutput.Parent.Name, testOutput.Name);
        return CliProcess.StartProgram(Path.Combine(output, "Kv.dll"), arguments, output);
    }

    private static async Task<int> AdminPortAsync(CliProcess app)
    {
        var port = 0;
        await Loopback.EventuallyAsync(() =>
        {
            var match = Regex.Match(app.Stdout, @"kv admin on http://[^:]+:(\d+)");
            port = match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            return port != 0 || app.HasExited;
        }, "the sample prints its admin port");
        return port != 0 ? port : throw new InvalidOperationException($"kv exited: {app.Stderr}");
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string tool, string arguments, string? input)
    {
        var info = new ProcessStartInfo(RedisFactAttribute.Tool(tool)!, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {arguments} did not finish in 2 minutes");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
