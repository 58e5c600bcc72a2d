using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Reliability.Chaos;

/// <summary>The chaos proxy itself, tested before anything is judged through it.</summary>
public sealed class ChaosProxyTests
{
    [Fact]
    public async Task WithoutFaultsEveryByteArrivesInOrderSplitIntoTinyPieces()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        await using var proxy = new ChaosProxy(server.LocalEndPoint!, new ChaosSettings(Seed: 1, MaxPiece: 7, DelayProbability: 0, StallProbability: 0, ResetProbability: 0));
        var payload = new byte[64 * 1024];
        new Random(1).NextBytes(payload);

        using var client = await Loopback.ConnectAsync(proxy.EndPoint);
        var sending = client.SendAllAsync(payload);
        var echo = await client.ReceiveExactlyAsync(payload.Length);
        await sending;

        Assert.Equal(payload, echo);
        var connection = Assert.Single(proxy.Connections);
        Assert.False(connection.WasReset);
        Assert.Equal(2 * payload.Length, connection.Forwarded);
        Assert.True(connection.Pieces >= 2 * payload.Length / 7, $"only {connection.Pieces} pieces for {2 * payload.Length} bytes of at most 7");
    }

    [Fact]
    public async Task AClientsFinIsForwardedAndTheServersFinComesBack()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        await using var proxy = new ChaosProxy(server.LocalEndPoint!, new ChaosSettings(Seed: 2, ResetProbability: 0));

        using var client = await Loopback.ConnectAsync(proxy.EndPoint);
        await client.SendAllAsync("bye"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("bye"u8.ToArray(), await client.ReceiveExactlyAsync(3));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Fact]
    public void TheSameSeedGivesTheSamePlanAndTheResetShareFollowsTheProbability()
    {
        var settings = new ChaosSettings(Seed: 42, ResetProbability: 0.15);

        var plan = ChaosProxy.Plan(settings, 2000);

        Assert.Equal(plan, ChaosProxy.Plan(settings, 2000));
        Assert.NotEqual(plan, ChaosProxy.Plan(settings with { Seed = 43 }, 2000));
        Assert.InRange(plan.Count(p => p.ResetAfterBytes is not null), 200, 400);
        Assert.All(plan, p => Assert.True(p.ResetAfterBytes is null or >= 1 and <= 2048));
    }

    [Fact]
    public async Task APlannedResetReachesBothEndsAsAConnectionReset()
    {
        var serverSaw = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            try
            {
                await EchoHandler.Instance.HandleAsync(connection);
                serverSaw.TrySetResult(null);
            }
            catch (Exception ex)
            {
                serverSaw.TrySetResult(ex);
                throw;
            }
        });
        await using var proxy = new ChaosProxy(server.LocalEndPoint!, new ChaosSettings(Seed: 3, ResetProbability: 1, ResetWithinBytes: 100));

        using var client = await Loopback.ConnectAsync(proxy.EndPoint);
        await client.SendAllAsync(new byte[1000]);
        var clientEnd = await client.ReceiveEndAsync();

        Assert.Equal(SocketError.ConnectionReset, clientEnd);
        Assert.IsType<ConnectionLostException>(await serverSaw.Task.WaitAsync(Loopback.Patience));
        var connection = Assert.Single(proxy.Connections);
        Assert.True(connection.WasReset && connection.ResetByPlan);
        Assert.Equal(0, server.HandlerErrors);
    }

    [Fact]
    public async Task AStallHoldsThePieceBackForTheStallTime()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        await using var proxy = new ChaosProxy(server.LocalEndPoint!, new ChaosSettings(Seed: 4, MaxPiece: 1024, StallProbability: 1, StallMs: 300, ResetProbability: 0));

        using var client = await Loopback.ConnectAsync(proxy.EndPoint);
        var started = Stopwatch.GetTimestamp();
        await client.SendAllAsync("x"u8.ToArray());
        await client.ReceiveExactlyAsync(1);

        // One stall on the way there and one on the way back; Task.Delay may end up to a timer tick
        // (about 1 ms, more on Linux's coarse clock) before the stopwatch agrees.
        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(580), $"the round trip took {Stopwatch.GetElapsedTime(started)}");
    }
}
