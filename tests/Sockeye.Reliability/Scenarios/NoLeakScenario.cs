using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 9, no leaks: <c>sockeye serve echo --framing length32</c> in a child process (so its
/// descriptor count is the server's alone) goes through a bit of everything at once — well-behaved
/// clients, tricklers, silent clients, 2 GiB claims, mid-frame resets, clients that never read, and a
/// burst past <c>--max-connections</c> — and afterwards its active-connection gauge (from
/// <c>--stats-interval</c>) and its open descriptors (from /proc) are back at their baseline.
/// Every scenario in this suite also ends with the same check on its in-process server.
/// </summary>
public sealed class NoLeakScenario(ITestOutputHelper output)
{
    private const int MaxConnections = 700;

    [Fact]
    public async Task AfterEveryKindOfFaultTheServersGaugeAndDescriptorsReturnToTheirBaseline()
    {
        using var server = CliProcess.Start($"serve echo --port 0 --framing length32 --max-connections {MaxConnections} --stats-interval 200ms --idle-timeout 2s --read-timeout 2s --write-timeout 2s --max-write-buffer 32KiB");
        var endPoint = await server.ListeningAsync();
        using (var warmUp = await Loopback.ConnectAsync(endPoint))
        {
            await warmUp.SendAllAsync(Frame(1, 1));
            await warmUp.ReceiveExactlyAsync(5);
        }

        var baselineStats = await StatsAsync(server, s => s["active"] == 0);
        var baseline = server.OpenDescriptors();
        var baselineSockets = Support.Scenario.OpenSockets(Pid(server));
        var baselineTargets = Targets(server.Id);

        var normal = Enumerable.Range(0, 200).Select(i => NormalAsync(endPoint, i)).ToArray();
        await Task.Delay(200);
        var faults = new List<Task>();
        faults.AddRange(Enumerable.Range(0, 100).Select(_ => TrickleAsync(endPoint)));
        faults.AddRange(Enumerable.Range(0, 100).Select(_ => SilentAsync(endPoint)));
        faults.AddRange(Enumerable.Range(0, 100).Select(_ => SendThenWaitAsync(endPoint, Frame(int.MinValue, 16))));
        faults.AddRange(Enumerable.Range(0, 100).Select(_ => ResetMidFrameAsync(endPoint)));
        faults.AddRange(Enumerable.Range(0, 20).Select(_ => NeverReadAsync(endPoint)));
        faults.AddRange(Enumerable.Range(0, 200).Select(_ => BurstAsync(endPoint)));

        var normalEchoes = await Task.WhenAll(normal);
        await Task.WhenAll(faults);

        var after = await StatsAsync(server, s => s["active"] == 0);
        var sockets = 0;
        try
        {
            await Loopback.EventuallyAsync(() => (sockets = Support.Scenario.OpenSockets(Pid(server))) <= baselineSockets, "the server's sockets return to the baseline");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the server holds {sockets} sockets, baseline {baselineSockets}; descriptors opened since: {Describe(server.Id, baselineTargets)}");
        }

        var descriptors = server.OpenDescriptors();
        Record("gauge active at baseline / after", $"{baselineStats["active"]} / {after["active"]}");
        Record("server sockets at baseline / after", $"{baselineSockets} / {sockets}");
        Record("server descriptors at baseline / after", $"{baseline} / {descriptors} (other than sockets: {Describe(server.Id, baselineTargets)})");
        Record("accepted / rejected / timeouts / protocol errors / handler errors", $"{after["accepted"]} / {after["rejected"]} / {after["timeouts"]} / {after["protocol-errors"]} / {after["handler-errors"]}");
        Record("GC heap at baseline / after", $"{baselineStats["heap"]} / {after["heap"]}");

        Assert.All(normalEchoes, n => Assert.Equal(20, n));
        Assert.Equal(0, after["active"]);
        Assert.Equal(100, after["protocol-errors"]);
        Assert.Equal(0, after["handler-errors"]);
        Assert.True(after["timeouts"] >= 220, $"only {after["timeouts"]} timeouts (100 tricklers, 100 silent, 20 non-readers)");
        Assert.True(after["rejected"] > 0, "the burst never went past --max-connections");
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");
        Assert.True(descriptors - baseline <= 32, $"the server holds {descriptors - baseline} more descriptors than at the baseline");

        void Record(string figure, object value) => Support.Scenario.Record(output, "9 no leaks", figure, value);
    }

    /// <summary>Waits for a stats line printed after this call that satisfies <paramref name="condition"/>.</summary>
    private static async Task<Dictionary<string, long>> StatsAsync(CliProcess server, Func<Dictionary<string, long>, bool> condition)
    {
        var seen = server.Stdout.Length;
        Dictionary<string, long>? match = null;
        await Loopback.EventuallyAsync(() =>
        {
            var fresh = server.Stdout[seen..];
            var last = fresh.Split('\n').LastOrDefault(l => l.StartsWith("sockeye: stats ", StringComparison.Ordinal));
            if (last is null)
            {
                return false;
            }

            var stats = last["sockeye: stats ".Length..].Trim().Split(' ').Select(kv => kv.Split('='))
                .ToDictionary(kv => kv[0], kv => long.Parse(kv[1], CultureInfo.InvariantCulture));
            match = condition(stats) ? stats : null;
            seen = server.Stdout.Length - (server.Stdout.Length - seen - fresh.Length);
            return match is not null;
        }, "a stats line with the expected figures");
        return match!;
    }

    private static string Pid(CliProcess server) => server.Id.ToString(CultureInfo.InvariantCulture);

    private static List<string> Targets(int pid) =>
        Directory.GetFiles($"/proc/{pid}/fd").Select(f => { try { return new FileInfo(f).LinkTarget ?? "?"; } catch (IOException) { return "gone"; } }).ToList();

    /// <summary>The descriptors opened since the baseline, by kind (socket, pipe, anon_inode...), for a failure message.</summary>
    private static string Describe(int pid, List<string> baseline)
    {
        var now = Targets(pid);
        foreach (var target in baseline)
        {
            now.Remove(target);
        }

        return string.Join(", ", now.GroupBy(t => t.Split(':')[0]).Select(g => $"{g.Key} {g.Count()}"));
    }

    private static byte[] Frame(int declared, int fill)
    {
        var bytes = new byte[4 + fill];
        BinaryPrimitives.WriteInt32BigEndian(bytes, declared);
        bytes.AsSpan(4).Fill((byte)'z');
        return bytes;
    }

    private static async Task<int> NormalAsync(IPEndPoint endPoint, int client)
    {
        using var socket = await Loopback.ConnectAsync(endPoint);
        var echoed = 0;
        for (var i = 0; i < 20; i++)
        {
            var frame = Frame(100 + client, 100 + client);
            await socket.SendAllAsync(frame);
            Assert.Equal(frame, await socket.ReceiveExactlyAsync(frame.Length));
            echoed++;
            await Task.Delay(50);
        }

        return echoed;
    }

    private static async Task TrickleAsync(IPEndPoint endPoint)
    {
        using var socket = await Loopback.ConnectAsync(endPoint);
        var end = socket.ReceiveEndAsync();
        var frame = Frame(1000, 1000);
        for (var i = 0; i < frame.Length && !end.IsCompleted; i++)
        {
            try
            {
                await socket.SendAllAsync(frame.AsMemory(i, 1));
            }
            catch (SocketException)
            {
                break;
            }

            await Task.WhenAny(end, Task.Delay(500));
        }

        await end;
    }

    private static async Task SilentAsync(IPEndPoint endPoint)
    {
        using var socket = await Loopback.ConnectAsync(endPoint);
        await socket.ReceiveEndAsync();
    }

    private static async Task SendThenWaitAsync(IPEndPoint endPoint, byte[] bytes)
    {
        using var socket = await Loopback.ConnectAsync(endPoint);
        await socket.SendAllAsync(bytes);
        await socket.ReceiveEndAsync();
    }

    private static async Task ResetMidFrameAsync(IPEndPoint endPoint)
    {
        using var socket = await Loopback.ConnectAsync(endPoint);
        await socket.SendAllAsync(Frame(8000, 3000));
        await Task.Delay(300);
        socket.LingerState = new LingerOption(true, 0);
    }

    /// <summary>Sends 60 KiB frames without reading the echoes until the server gives up on it.</summary>
    private static async Task NeverReadAsync(IPEndPoint endPoint)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, SendBufferSize = 16 * 1024 };
        await socket.ConnectAsync(endPoint).WaitAsync(Loopback.Patience);
        var frame = Frame(60 * 1024, 60 * 1024);
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        try
        {
            while (!timeout.IsCancellationRequested)
            {
                await socket.SendAsync(frame, SocketFlags.None, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
        }

        Assert.False(timeout.IsCancellationRequested, "the server never dropped a client that does not read");
    }

    /// <summary>Connects past the limit and hangs up after a moment, served or refused.</summary>
    private static async Task BurstAsync(IPEndPoint endPoint)
    {
        try
        {
            using var socket = await Loopback.ConnectAsync(endPoint);
            await Task.Delay(500);
        }
        catch (SocketException)
        {
        }
    }
}
