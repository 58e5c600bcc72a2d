using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 2, connection flood: three times <see cref="TcpServerOptions.MaxConnections"/> clients
/// connect at once and every accepted one holds its connection until all have had their answer. The
/// limit is never exceeded (neither by running handlers nor by the server's own gauge, sampled all
/// along), the excess is reset promptly and counted, and every accepted client is served.
/// </summary>
public sealed class ConnectionFloodScenario(ITestOutputHelper output)
{
    private const int Limit = 400;
    private const int Clients = 3 * Limit;

    [Fact]
    public async Task ThreeTimesMaxConnectionsAtOnceNeverExceedTheLimitAndTheExcessIsRefusedPromptlyAndCounted()
    {
        var running = 0;
        var mostRunning = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var scenario = await Scenario.StartAsync(output, "2 connection flood", new TcpServerOptions { MaxConnections = Limit }, async connection =>
        {
            Measure.InterlockedMax(ref mostRunning, Interlocked.Increment(ref running));
            try
            {
                // Echo one byte, hold until the test lets go, then echo one more and finish.
                for (var round = 0; round < 2; round++)
                {
                    var result = await connection.Input.ReadAsync();
                    if (result.Buffer.IsEmpty)
                    {
                        return;
                    }

                    await connection.Output.WriteAsync(result.Buffer.First[..1]);
                    connection.Input.AdvanceTo(result.Buffer.GetPosition(1));
                    if (round == 0)
                    {
                        await release.Task.WaitAsync(connection.ConnectionClosed);
                    }
                }
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        });
        var server = scenario.Server;
        var acceptedBefore = server.AcceptedConnections;

        // The gauge, sampled as fast as a thread can while the flood lasts.
        var gaugeMax = 0;
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Factory.StartNew(() =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                Measure.InterlockedMax(ref gaugeMax, server.ActiveConnections);
                Thread.SpinWait(100);
            }
        }, TaskCreationOptions.LongRunning);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => TryAsync(scenario.EndPoint)));
        await stopSampling.CancelAsync();
        await sampler;

        var served = outcomes.Where(o => o.Served).ToArray();
        var refused = outcomes.Where(o => !o.Served).ToArray();
        var refusedAfter = refused.Select(o => o.Elapsed).ToArray();
        scenario.Record("refused at connect (reset before the handshake completed)", refusedAfter.Count(e => e == TimeSpan.Zero));
        scenario.Record("served / refused (client side)", $"{served.Length} / {refused.Length} of {Clients}, MaxConnections {Limit}");
        scenario.Record("accepted / rejected (server counters)", $"{server.AcceptedConnections - acceptedBefore} / {server.RejectedConnections}");
        scenario.Record("most handlers at once / gauge max", $"{mostRunning} / {gaugeMax}");
        scenario.Record("refusal seen after connect p50 / p99 / max", $"{Measure.Ms(Measure.Percentile(refusedAfter, 50))} / {Measure.Ms(Measure.Percentile(refusedAfter, 99))} / {Measure.Ms(refusedAfter.Max())}");

        Assert.Equal(Limit, served.Length);
        Assert.Equal(Clients - Limit, refused.Length);
        Assert.Equal(Clients - Limit, server.RejectedConnections);
        Assert.Equal(Limit, server.AcceptedConnections - acceptedBefore);
        Assert.True(mostRunning <= Limit, $"{mostRunning} handlers ran at once, limit {Limit}");
        Assert.True(gaugeMax <= Limit, $"ActiveConnections read {gaugeMax}, limit {Limit}");
        Assert.True(refusedAfter.Max() < TimeSpan.FromSeconds(5), $"a refused client waited {refusedAfter.Max()} for its reset");

        // Every accepted client is served again after the flood, without error.
        release.SetResult();
        var second = await Task.WhenAll(served.Select(async o =>
        {
            await o.Socket!.SendAllAsync(new byte[] { 43 });
            return (await o.Socket!.ReceiveExactlyAsync(1))[0] == 43 && await o.Socket!.ReceiveEndAsync() == SocketError.Success;
        }));
        Assert.All(second, Assert.True);
        Assert.Equal(0, server.HandlerErrors);

        foreach (var o in outcomes)
        {
            o.Socket?.Dispose();
        }

        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>Connects and asks for one echo. Served: the echo came and the socket is kept open.
    /// Refused: a reset or close at connect or at the read, with the time from the completed connect
    /// to seeing it (zero when the reset beat the connect). The connect itself is not timed: with
    /// 1,200 SYNs at once the kernel's backlog overflows and some SYNs are retried a second later,
    /// which says nothing about how fast the server refuses.</summary>
    private static async Task<(bool Served, Socket? Socket, TimeSpan Elapsed)> TryAsync(System.Net.IPEndPoint endPoint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        long? connected = null;
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(Loopback.Patience);
            connected = Stopwatch.GetTimestamp();
            await socket.SendAllAsync(new byte[] { 42 });
            var echo = await socket.ReceiveExactlyAsync(1);
            Assert.Equal(42, echo[0]);
            return (true, socket, Measure.Since(connected.Value));
        }
        catch (Exception ex) when (ex is SocketException or EndOfStreamException)
        {
            var elapsed = connected is { } at ? Measure.Since(at) : TimeSpan.Zero;
            socket.Dispose();
            return (false, null, elapsed);
        }
    }
}
