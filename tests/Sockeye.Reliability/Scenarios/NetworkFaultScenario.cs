using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Reliability.Chaos;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 8, network faults without netem: 300 clients echo 2–16 KiB each through the chaos proxy,
/// which splits every write into pieces of 1–64 bytes, delays some, stalls a few for 200 ms, and
/// resets 15% of the connections part-way (seed 8). Every connection the proxy did not reset gets
/// exactly its bytes back in order; every reset one ends in a clean ConnectionReset on the client,
/// having received only a correct prefix, and in a <see cref="ConnectionLostException"/> in the
/// server's handler, which the server does not count as a handler fault.
/// </summary>
public sealed class NetworkFaultScenario(ITestOutputHelper output)
{
    private const int Clients = 300;

    [Fact]
    public async Task ThroughAChaosProxyEveryConnectionNotResetGetsExactlyItsBytesAndResetsAreCleanOnBothSides()
    {
        var serverResets = 0;
        var serverOther = new System.Collections.Concurrent.ConcurrentBag<string>();
        await using var scenario = await Scenario.StartAsync(output, "8 network faults", new TcpServerOptions { MaxConnections = 1000 }, async connection =>
        {
            try
            {
                await EchoHandler.Instance.HandleAsync(connection);
            }
            catch (ConnectionLostException)
            {
                Interlocked.Increment(ref serverResets);
                throw;
            }
            catch (Exception ex)
            {
                serverOther.Add(ex.GetType().Name);
                throw;
            }
        });
        var settings = new ChaosSettings(Seed: 8);
        var outcomes = new Dictionary<IPEndPoint, string>();
        await using (var proxy = new ChaosProxy(scenario.EndPoint, settings))
        {
            var results = await Measure.InBatchesAsync(Enumerable.Range(0, Clients).ToArray(), 100, i => ClientAsync(proxy.EndPoint, i));
            foreach (var (local, outcome) in results)
            {
                outcomes[local] = outcome;
            }

            await Loopback.EventuallyAsync(() => scenario.Server.ActiveConnections == 0, "the server ended every connection");
            var carried = proxy.Connections.ToArray();
            var reset = carried.Where(c => c.WasReset).ToArray();
            var intact = carried.Where(c => !c.WasReset).ToArray();
            scenario.Record("connections / reset by plan / reset by reaction", $"{carried.Length} / {reset.Count(c => c.ResetByPlan)} / {reset.Count(c => !c.ResetByPlan)}");
            scenario.Record("pieces forwarded / bytes", $"{carried.Sum(c => c.Pieces)} / {carried.Sum(c => c.Forwarded)}");
            scenario.Record("client outcomes", string.Join(", ", outcomes.Values.GroupBy(o => o).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
            scenario.Record("server handlers ended by reset / otherwise", $"{serverResets} / {serverOther.Count}");

            Assert.Equal(Clients, carried.Length);
            Assert.All(reset, c => Assert.True(c.ResetByPlan, $"the proxy reset {c.Client} without a plan: one side failed first"));
            Assert.InRange(reset.Length, Clients / 20, Clients / 4);
            Assert.All(intact, c => Assert.Equal("intact", outcomes[c.Client]));
            Assert.All(reset, c => Assert.Equal("reset", outcomes[c.Client]));
            Assert.Equal(reset.Length, serverResets);
            Assert.Empty(serverOther);
            Assert.Equal(0, scenario.Server.HandlerErrors);
        }

        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>
    /// Sends a seeded payload in seeded chunks while reading the echo, then FIN, then expects the
    /// server's FIN. "intact": every byte back in order and a clean close; "reset": a ConnectionReset
    /// after a correct prefix; anything else names what went wrong.
    /// </summary>
    private static async Task<(IPEndPoint Local, string Outcome)> ClientAsync(IPEndPoint proxy, int client)
    {
        var random = new Random(client);
        var payload = new byte[random.Next(2048, 16 * 1024)];
        random.NextBytes(payload);
        using var socket = await Loopback.ConnectAsync(proxy);
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var sending = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length;)
            {
                var chunk = Math.Min(random.Next(1, 4096), payload.Length - offset);
                await socket.SendAllAsync(payload.AsMemory(offset, chunk));
                offset += chunk;
            }

            socket.Shutdown(SocketShutdown.Send);
        });

        var received = new byte[payload.Length + 1]; // one spare byte, so an extra byte shows
        var got = 0;
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(received.AsMemory(got), SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    await Record.ExceptionAsync(() => sending);
                    return (local, got == payload.Length ? "intact" : $"closed after {got} of {payload.Length} bytes");
                }

                if (got + n > payload.Length)
                {
                    return (local, $"{got + n - payload.Length} bytes too many");
                }

                if (!received.AsSpan(got, n).SequenceEqual(payload.AsSpan(got, n)))
                {
                    return (local, $"corrupt at byte {got}");
                }

                got += n;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            await Record.ExceptionAsync(() => sending);
            return (local, "reset");
        }
        catch (Exception ex)
        {
            await Record.ExceptionAsync(() => sending);
            return (local, $"{ex.GetType().Name} after {got} bytes");
        }
    }
}
