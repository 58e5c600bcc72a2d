using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Sockeye.Diagnostics;
using Sockeye.Handlers;
using Sockeye.Server;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Server;

/// <summary>The server core's shape: options read once, one slot limiter, counters that the
/// metrics read without knowing the servers.</summary>
public class ServerCompositionTests
{
    [Fact]
    public async Task OptionsChangedAfterTheConstructorHaveNoEffectOnTheServer()
    {
        var options = new TcpServerOptions { MaxConnections = 1 };
        await using var server = new TcpServer(options);

        // Out of range and on another port: neither may reach the server now, nor skip Validate().
        options.MaxConnections = 0;
        options.EndPoint = new IPEndPoint(IPAddress.Loopback, 1);
        options.DeniedSources.Add(IPNetwork.Parse("127.0.0.0/8"));
        await server.StartAsync(EchoHandler.Instance);

        Assert.NotEqual(1, server.LocalEndPoint!.Port);
        using var first = await Loopback.ConnectAsync(server.LocalEndPoint);
        await first.SendAllAsync(new byte[] { 7 });
        Assert.Equal(7, (await first.ReceiveExactlyAsync(1))[0]);

        // The limit the server was built with (1) still holds: a second client is refused.
        // (The reset may even beat the client's connect.)
        try
        {
            using var second = await Loopback.ConnectAsync(server.LocalEndPoint);
            Assert.NotEqual(SocketError.Success, await second.ReceiveEndAsync());
        }
        catch (SocketException)
        {
        }

        Assert.Equal(1, server.RejectedConnections);
        Assert.Equal(0, server.RefusedConnections);
    }

    [Fact]
    public async Task UdpOptionsChangedAfterTheConstructorHaveNoEffectOnTheServer()
    {
        var options = new UdpServerOptions { MaxDatagramSize = 16, ReceiveSockets = 1 };
        await using var server = new UdpServer(options);
        options.MaxDatagramSize = 4;
        options.ReceiveSockets = 0;
        await server.StartAsync(DatagramEchoHandler.Instance);

        using var client = UdpLoopback.Connect(server.LocalEndPoint!);
        var reply = await client.RoundTripAsync(new byte[16]);
        Assert.Equal(16, reply.Length);
        Assert.Equal(1, server.ReceiveSockets);
        Assert.Equal(0, server.OversizeDrops);
    }

    [Fact]
    public async Task SlotLimiterNeverHandsOutMoreThanItsLimitUnderContention()
    {
        const int Limit = 8;
        var slots = new SlotLimiter(Limit);
        var most = 0;
        var overLimit = 0;
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < 100_000; i++)
            {
                if (!slots.TryTake())
                {
                    continue;
                }

                var taken = slots.Taken;
                if (taken > Limit)
                {
                    Interlocked.Increment(ref overLimit);
                }

                InterlockedMax(ref most, taken);
                slots.Release();
            }
        })).ToArray();

        start.SetResult();
        await Task.WhenAll(workers).WaitAsync(Loopback.Patience);
        Assert.Equal(0, overLimit);
        Assert.InRange(most, 1, Limit);
        Assert.Equal(0, slots.Taken);
    }

    [Fact]
    public void SlotLimiterRefusesAtTheLimitAndSaysWhenTheLastSlotIsBack()
    {
        var slots = new SlotLimiter(2);
        Assert.True(slots.TryTake());
        Assert.True(slots.TryTake());
        Assert.False(slots.TryTake());
        Assert.Equal(2, slots.Taken);
        Assert.False(slots.Release());
        Assert.True(slots.Release());
    }

    [Fact]
    public void EnumCountersRefuseAnEnumThatIsNotIntBased()
    {
        var error = Assert.Throws<TypeInitializationException>(() => new EnumCounters<ByteBased>());
        Assert.Contains("ByteBased is based on Byte", error.InnerException!.Message);
    }

    [Fact]
    public void EnumCountersRefuseAnEnumWithGaps()
    {
        var error = Assert.Throws<TypeInitializationException>(() => new EnumCounters<WithGap>());
        Assert.Contains("WithGap.Second is 2", error.InnerException!.Message);
    }

    [Fact]
    public void DiagnosticsTypesNeverReferToTheServers()
    {
        var servers = new[] { typeof(TcpServer), typeof(UdpServer) };
        var offenders = typeof(TcpServer).Assembly.GetTypes()
            .Where(t => t.Namespace == "Sockeye.Diagnostics")
            .SelectMany(t => t.GetFields(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
                    .Select(f => (t, f.FieldType, f.Name))
                .Concat(t.GetConstructors(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
                    .SelectMany(c => c.GetParameters()).Select(p => (t, p.ParameterType, p.Name ?? ""))))
            .Where(x => servers.Contains(x.Item2))
            .Select(x => $"{x.t.Name}.{x.Item3}: {x.Item2.Name}")
            .ToList();
        Assert.Empty(offenders);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    private enum ByteBased : byte
    {
        First,
    }

    private enum WithGap
    {
        First = 0,
        Second = 2,
    }
}
