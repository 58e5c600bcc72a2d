using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 6, slow consumers: 500 clients ask for a stream and never read it, while 20 clients on
/// the same server keep doing 64-byte round trips. Every stream stalls on back-pressure with at most
/// <see cref="TcpServerOptions.MaxWriteBufferSize"/> buffered in user space, and
/// <see cref="TcpServerOptions.WriteTimeout"/> drops every one of them.
/// </summary>
public sealed class SlowConsumerScenario(ITestOutputHelper output)
{
    private const int SlowClients = 500;
    private const int NormalClients = 20;
    private const int Chunk = 16 * 1024;
    private const long MaxWrite = 32 * 1024;
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(2);
    private static readonly byte[] Payload = Enumerable.Range(0, Chunk).Select(i => (byte)i).ToArray();

    [Fact]
    public async Task FiveHundredClientsThatNeverReadAreHeldToTheBufferLimitAndDroppedByWriteTimeoutWhileOthersAreServed()
    {
        await using var scenario = await Scenario.StartAsync(output, "6 slow consumers", new TcpServerOptions
        {
            MaxConnections = 2000,
            MaxWriteBufferSize = MaxWrite,
            SendBufferSize = 32 * 1024,
            WriteTimeout = WriteTimeout,
            TimeoutResolution = TimeSpan.FromMilliseconds(100),
        }, HandleAsync);
        var server = scenario.Server;
        var workingSetBefore = Environment.WorkingSet;

        var normal = await Task.WhenAll(Enumerable.Range(0, NormalClients).Select(_ => Loopback.ConnectAsync(scenario.EndPoint)));
        var latencies = new ConcurrentBag<TimeSpan>();
        using var stopNormal = new CancellationTokenSource();
        var normalLoops = normal.Select(s => EchoLoopAsync(s, latencies, stopNormal.Token)).ToArray();

        var started = Stopwatch.GetTimestamp();
        var slow = await Measure.InBatchesAsync(Enumerable.Range(0, SlowClients).ToArray(), 50, async _ =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await socket.ConnectAsync(scenario.EndPoint).WaitAsync(Loopback.Patience);
            await socket.SendAllAsync("S"u8.ToArray());
            return socket;
        });

        var peakPool = 0L;
        await Loopback.EventuallyAsync(() =>
        {
            peakPool = Math.Max(peakPool, server.MemoryPool.BlocksAllocated * PinnedBlockMemoryPool.BlockSize);
            return server.GetTimeoutCount(ConnectionTimeoutKind.Write) == SlowClients;
        }, "every slow consumer is dropped by the write timeout");
        var allDroppedAfter = Measure.Since(started);
        var workingSetGrowth = Environment.WorkingSet - workingSetBefore;

        await stopNormal.CancelAsync();
        var served = await Task.WhenAll(normalLoops);

        // Each slow client, reading at last, finds the streamed bytes and then the reset.
        var ends = await Task.WhenAll(slow.Select(s => s.ReceiveEndAsync()));
        foreach (var socket in slow.Concat(normal))
        {
            socket.Dispose();
        }

        var p99 = Measure.Percentile(latencies, 99);
        var bound = (SlowClients + NormalClients) * (MaxWrite + Chunk + PinnedBlockMemoryPool.BlockSize);
        scenario.Record("dropped by WriteTimeout", $"{server.GetTimeoutCount(ConnectionTimeoutKind.Write)} of {SlowClients} (WriteTimeout {WriteTimeout.TotalSeconds} s), all within {Measure.Ms(allDroppedAfter)}");
        scenario.Record("pool blocks ever allocated", $"{Measure.MiB(peakPool)} (bound {Measure.MiB(bound)}: per connection MaxWriteBufferSize {MaxWrite / 1024} KiB + one {Chunk / 1024} KiB write + a block)");
        scenario.Record("working set growth", Measure.MiB(workingSetGrowth));
        scenario.Record("normal round trips / p50 / p99", $"{latencies.Count} / {Measure.Ms(Measure.Percentile(latencies, 50))} / {Measure.Ms(p99)}");

        Assert.Equal(SlowClients, server.GetTimeoutCount(ConnectionTimeoutKind.Write));
        Assert.All(ends, end => Assert.Equal(SocketError.ConnectionReset, end));
        Assert.True(peakPool <= bound, $"the pool allocated {peakPool} bytes, bound {bound}");
        Assert.All(served, n => Assert.True(n >= 10, $"a normal client got only {n} answers"));
        Assert.True(p99 < TimeSpan.FromSeconds(1), $"normal clients' p99 was {p99}");
        Assert.Equal(0, server.HandlerErrors);
        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>'S' asks for an endless stream of 16 KiB writes, each flushed; 'E' for an echo.</summary>
    private static async Task HandleAsync(Connection connection)
    {
        var result = await connection.Input.ReadAsync();
        if (result.Buffer.IsEmpty)
        {
            return;
        }

        var mode = result.Buffer.FirstSpan[0];
        connection.Input.AdvanceTo(result.Buffer.GetPosition(1));
        if (mode == (byte)'S')
        {
            while (true)
            {
                connection.Output.Write(Payload);
                await connection.Output.FlushAsync();
            }
        }

        await Handlers.EchoHandler.Instance.HandleAsync(connection);
    }

    private static async Task<int> EchoLoopAsync(Socket socket, ConcurrentBag<TimeSpan> latencies, CancellationToken stop)
    {
        await socket.SendAllAsync("E"u8.ToArray());
        var message = new byte[64];
        var served = 0;
        while (!stop.IsCancellationRequested)
        {
            message[0] = (byte)served;
            var sent = Stopwatch.GetTimestamp();
            await socket.SendAllAsync(message);
            Assert.Equal(message, await socket.ReceiveExactlyAsync(message.Length));
            latencies.Add(Measure.Since(sent));
            served++;
            await Task.Delay(20, CancellationToken.None);
        }

        return served;
    }
}
