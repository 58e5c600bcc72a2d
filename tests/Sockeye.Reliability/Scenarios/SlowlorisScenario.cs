using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sockeye.Framing;
using Sockeye.Handlers;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 1, slowloris: 2,000 connections each trickle one byte a second and never finish a line,
/// while 100 normal clients on the same server keep sending lines and timing the echoes. The read
/// timeout must cut every trickler (a byte a second keeps an idle timeout happy, so only a timeout
/// on the whole frame catches them) and the normal clients must not notice.
/// </summary>
public sealed class SlowlorisScenario(ITestOutputHelper output)
{
    private const int Tricklers = 2000;
    private const int NormalClients = 100;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(3);

    // Generous: the machine is shared with other builds. The measured p99 is recorded beside it.
    private static readonly TimeSpan NormalP99Bound = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task TwoThousandTricklersAreAllCutByTheReadTimeoutWhileNormalClientsKeepGettingAnswers()
    {
        await using var scenario = await Scenario.StartAsync(output, "1 slowloris", new TcpServerOptions
        {
            MaxConnections = 5000,
            ReadTimeout = ReadTimeout,
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
        }, new FramedEchoHandler(() => new LineCodec(maxLineLength: 1024)).HandleAsync);

        var normal = await Task.WhenAll(Enumerable.Range(0, NormalClients).Select(_ => Loopback.ConnectAsync(scenario.EndPoint)));
        var latencies = new ConcurrentBag<TimeSpan>();
        using var stopNormal = new CancellationTokenSource();
        var normalLoops = normal.Select((socket, i) => NormalClientAsync(socket, i, latencies, stopNormal.Token)).ToArray();

        var tricklers = new ConcurrentBag<(Socket Socket, long Started)>();
        var closedAfter = new ConcurrentBag<TimeSpan>();
        var connected = Measure.InBatchesAsync(Enumerable.Range(0, Tricklers).ToArray(), 50, async index =>
        {
            var started = Stopwatch.GetTimestamp();
            var socket = await Loopback.ConnectAsync(scenario.EndPoint);
            tricklers.Add((socket, started));
            _ = socket.ReceiveEndAsync(TimeSpan.FromSeconds(60)).ContinueWith(ended => closedAfter.Add(Measure.Since(started)), TaskScheduler.Default);
            return true;
        });

        // One byte a second to every open trickler, until all are cut (bounded: 60 s).
        var trickleClock = Stopwatch.StartNew();
        while ((!connected.IsCompleted || closedAfter.Count < Tricklers) && trickleClock.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (var (socket, _) in tricklers)
            {
                try
                {
                    socket.Send("x"u8);
                }
                catch (SocketException)
                {
                    // Already cut by the server.
                }
            }

            await Task.Delay(1000);
        }

        await connected;
        await stopNormal.CancelAsync();
        var served = await Task.WhenAll(normalLoops);
        foreach (var (socket, _) in tricklers)
        {
            socket.Dispose();
        }

        foreach (var socket in normal)
        {
            socket.Dispose();
        }

        var p99 = Measure.Percentile(latencies, 99);
        scenario.Record("tricklers cut by ReadTimeout", $"{scenario.Server.GetTimeoutCount(ConnectionTimeoutKind.Read)} of {Tricklers}");
        scenario.Record("trickler lifetime min / max", $"{Measure.Ms(closedAfter.Min())} / {Measure.Ms(closedAfter.Max())} (ReadTimeout {ReadTimeout.TotalSeconds} s)");
        scenario.Record("normal round trips", latencies.Count);
        scenario.Record("normal latency p50 / p99 / max", $"{Measure.Ms(Measure.Percentile(latencies, 50))} / {Measure.Ms(p99)} / {Measure.Ms(latencies.Max())}");

        Assert.Equal(Tricklers, closedAfter.Count);
        Assert.Equal(Tricklers, scenario.Server.GetTimeoutCount(ConnectionTimeoutKind.Read));
        Assert.Equal(Tricklers, scenario.Server.TimedOutConnections);
        Assert.All(closedAfter, lived => Assert.True(lived >= ReadTimeout, $"a trickler was cut after {lived}, before the read timeout"));
        Assert.True(closedAfter.Max() < ReadTimeout + TimeSpan.FromSeconds(15), $"a trickler lived {closedAfter.Max()}");
        Assert.All(served, count => Assert.True(count >= 10, $"a normal client got only {count} answers"));
        Assert.True(p99 < NormalP99Bound, $"normal clients' p99 was {p99}");
        Assert.Equal(0, scenario.Server.HandlerErrors);
        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>Sends a numbered 16-byte line every 20 ms, checks its echo, times it; returns how many it got.</summary>
    private static async Task<int> NormalClientAsync(Socket socket, int client, ConcurrentBag<TimeSpan> latencies, CancellationToken stop)
    {
        var served = 0;
        while (!stop.IsCancellationRequested)
        {
            var line = Encoding.ASCII.GetBytes(FormattableString.Invariant($"c{client:D4}-{served:D9}\n"));
            var started = Stopwatch.GetTimestamp();
            await socket.SendAllAsync(line);
            var echo = await socket.ReceiveExactlyAsync(line.Length);
            latencies.Add(Measure.Since(started));
            Assert.Equal(line, echo);
            served++;
            await Task.Delay(20, CancellationToken.None);
        }

        return served;
    }
}
