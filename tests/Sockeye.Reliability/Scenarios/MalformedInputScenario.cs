using System.Buffers.Binary;
using System.Net.Sockets;
using Sockeye.Framing;
using Sockeye.Handlers;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 4, malformed input: a length-prefixed echo server (4-byte big-endian length, frames of at
/// most 64 KiB) gets, 50 of each at once, garbage bytes, oversize frames, length prefixes claiming
/// 2 GiB, and connections reset in the middle of a frame, while 20 well-behaved clients echo frames
/// throughout. Only the offending connections are closed, each kind is counted, and the server's
/// memory stays a small multiple of the frame limit rather than of the claimed sizes.
/// </summary>
public sealed class MalformedInputScenario(ITestOutputHelper output)
{
    private const int MaxFrame = 64 * 1024;
    private const int EachKind = 50;
    private const int GoodClients = 20;
    private const int GoodFrames = 100;

    [Fact]
    public async Task GarbageOversizeFramesTwoGigabyteClaimsAndMidFrameResetsCloseOnlyTheOffendersAndAreCounted()
    {
        var resetsSeen = 0;
        var otherEnds = 0;
        var echo = new FramedEchoHandler(() => new LengthPrefixCodec(MaxFrame));
        await using var scenario = await Scenario.StartAsync(output, "4 malformed input", new TcpServerOptions
        {
            MaxConnections = 1000,
            MaxReadBufferSize = 4 * MaxFrame,
        }, async connection =>
        {
            try
            {
                await echo.HandleAsync(connection);
            }
            catch (ConnectionLostException)
            {
                Interlocked.Increment(ref resetsSeen);
                throw;
            }
            catch (Exception ex) when (ex is not (FrameTooLargeException or InvalidDataException))
            {
                Interlocked.Increment(ref otherEnds);
                throw;
            }
        });
        var server = scenario.Server;
        var workingSetBefore = Environment.WorkingSet;
        var gcBefore = GC.GetGCMemoryInfo().HeapSizeBytes;

        var good = Enumerable.Range(0, GoodClients).Select(GoodClientAsync).ToArray();
        var garbage = Enumerable.Range(0, EachKind).Select(i => OffenderAsync(Garbage(i))).ToArray();
        var oversize = Enumerable.Range(0, EachKind).Select(i => OffenderAsync(Frame(MaxFrame + 1 + i, fill: MaxFrame + 1 + i))).ToArray();
        var claims = Enumerable.Range(0, EachKind).Select(_ => OffenderAsync(Frame(int.MinValue, fill: 100))).ToArray(); // 0x80000000: 2 GiB
        var resets = Enumerable.Range(0, EachKind).Select(_ => ResetMidFrameAsync()).ToArray();

        var goodResults = await Task.WhenAll(good);
        var closedAfter = (await Task.WhenAll(garbage.Concat(oversize).Concat(claims))).ToArray();
        await Task.WhenAll(resets);
        await Loopback.EventuallyAsync(() => Volatile.Read(ref resetsSeen) == EachKind, $"the server saw every reset ({resetsSeen} so far)");

        var poolBytes = server.MemoryPool.BlocksAllocated * PinnedBlockMemoryPool.BlockSize;
        var workingSetGrowth = Environment.WorkingSet - workingSetBefore;
        var gcGrowth = GC.GetGCMemoryInfo().HeapSizeBytes - gcBefore;
        scenario.Record("protocol errors counted", $"{server.ProtocolErrors} (expected {3 * EachKind}: garbage, oversize, 2 GiB claims)");
        scenario.Record("mid-frame resets seen by handlers", $"{resetsSeen} of {EachKind}");
        scenario.Record("offenders closed after their bytes p50 / max", $"{Measure.Ms(Measure.Percentile(closedAfter, 50))} / {Measure.Ms(closedAfter.Max())}");
        scenario.Record("good frames echoed", $"{goodResults.Sum()} of {GoodClients * GoodFrames}");
        scenario.Record("pool blocks ever allocated", $"{Measure.MiB(poolBytes)} (claimed: {EachKind} x 2 GiB + {EachKind} oversize)");
        scenario.Record("working set / GC heap growth", $"{Measure.MiB(workingSetGrowth)} / {Measure.MiB(gcGrowth)}");

        Assert.All(goodResults, n => Assert.Equal(GoodFrames, n));
        Assert.Equal(3 * EachKind, server.ProtocolErrors);
        Assert.Equal(EachKind, resetsSeen);
        Assert.Equal(0, otherEnds);
        Assert.Equal(0, server.HandlerErrors);
        Assert.True(closedAfter.Max() < TimeSpan.FromSeconds(5), $"an offender stayed connected {closedAfter.Max()} after its bytes");

        // Every connection at once may hold one partial frame in and one echo out; never a claimed size.
        var bound = (GoodClients + (4 * EachKind)) * (long)(MaxFrame + (64 * 1024));
        Assert.True(poolBytes < bound, $"the pool allocated {poolBytes} bytes, bound {bound}");
        Assert.True(workingSetGrowth < 512L << 20, $"the working set grew by {workingSetGrowth} bytes");
        await scenario.AssertNoLeaksAsync();

        // A well-behaved client: frames of 1 byte to 8 KiB, each echoed whole before the next.
        async Task<int> GoodClientAsync(int client)
        {
            using var socket = await Loopback.ConnectAsync(scenario.EndPoint);
            var random = new Random(client);
            var echoed = 0;
            for (var i = 0; i < GoodFrames; i++)
            {
                var payload = new byte[random.Next(1, 8 * 1024)];
                random.NextBytes(payload);
                var frame = Frame(payload.Length, payload);
                await socket.SendAllAsync(frame);
                Assert.Equal(frame, await socket.ReceiveExactlyAsync(frame.Length));
                echoed++;
            }

            return echoed;
        }

        // An offender sends its bytes and keeps the connection open; the server must close it.
        async Task<TimeSpan> OffenderAsync(byte[] bytes)
        {
            using var socket = await Loopback.ConnectAsync(scenario.EndPoint);
            try
            {
                await socket.SendAllAsync(bytes);
            }
            catch (SocketException)
            {
                // Closed by the server while the rest was still being sent: that is the point.
            }

            var sent = System.Diagnostics.Stopwatch.GetTimestamp();
            var end = await socket.ReceiveEndAsync();
            Assert.True(end is SocketError.ConnectionReset or SocketError.Success, $"the offender's connection ended with {end}");
            return Measure.Since(sent);
        }

        // Half of a 32 KiB frame, then RST.
        async Task ResetMidFrameAsync()
        {
            using var socket = await Loopback.ConnectAsync(scenario.EndPoint);
            var frame = Frame(32 * 1024, fill: 16 * 1024);
            await socket.SendAllAsync(frame);
            await Loopback.EventuallyAsync(() => server.ActiveConnections > 0, "the server holds the connection");
            await Task.Delay(100);
            socket.LingerState = new LingerOption(true, 0);
        }
    }

    /// <summary>A 4-byte big-endian length, then <paramref name="fill"/> bytes (or the payload).</summary>
    private static byte[] Frame(int declared, byte[]? payload = null, int fill = 0)
    {
        var bytes = new byte[4 + (payload?.Length ?? fill)];
        BinaryPrimitives.WriteInt32BigEndian(bytes, declared);
        payload?.CopyTo(bytes, 4);
        return bytes;
    }

    /// <summary>4 KiB of seeded random bytes whose first byte is not zero, so the length they happen
    /// to declare is at least 16 MiB: garbage the codec must refuse at its header.</summary>
    private static byte[] Garbage(int seed)
    {
        var bytes = new byte[4096];
        new Random(seed).NextBytes(bytes);
        bytes[0] |= 1;
        return bytes;
    }
}
