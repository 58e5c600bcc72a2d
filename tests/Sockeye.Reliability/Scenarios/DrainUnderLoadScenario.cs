using System.Net.Sockets;
using System.Text;
using Sockeye.Framing;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 7, drain under load: 1,000 clients each loop request → reply over a line protocol whose
/// handler works 5–50 ms per request, so at any moment most requests are inside a handler. Then the
/// server stops with a 10 s drain timeout. Every request a handler received is answered and the
/// answer reaches its client (the server's count of received requests equals the clients' count of
/// replies), new connections are refused from the moment the stop begins, and the stop ends well
/// within the drain timeout with nothing aborted.
/// </summary>
public sealed class DrainUnderLoadScenario(ITestOutputHelper output)
{
    private const int Clients = 1000;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ShutdownWithAThousandClientsMidRequestLosesNoResponseRefusesNewcomersAndEndsWithinTheDrainTimeout()
    {
        var codec = new LineCodec(maxLineLength: 64);
        long received = 0;
        long answered = 0;
        var inHandler = 0;
        await using var scenario = await Scenario.StartAsync(output, "7 drain under load", new TcpServerOptions { MaxConnections = 2000 }, async connection =>
        {
            var random = new Random((int)connection.Id);
            while (await connection.ReadFrameAsync(codec, connection.ShutdownRequested) is { } request)
            {
                Interlocked.Increment(ref received);
                Interlocked.Increment(ref inHandler);

                // The request in hand is finished even when the stop begins meanwhile.
                await Task.Delay(random.Next(5, 50), CancellationToken.None);
                connection.WriteFrame(codec, request);
                await connection.Output.FlushAsync();
                Interlocked.Increment(ref answered);
                Interlocked.Decrement(ref inHandler);
            }
        });
        var server = scenario.Server;

        var replies = new int[Clients];
        var sockets = await Measure.InBatchesAsync(Enumerable.Range(0, Clients).ToArray(), 100, _ => Loopback.ConnectAsync(scenario.EndPoint));
        var loops = sockets.Select((s, i) => ClientAsync(s, i, replies)).ToArray();
        await Loopback.EventuallyAsync(() => Enumerable.Range(0, Clients).All(i => Volatile.Read(ref replies[i]) >= 2), "every client has had two replies");

        // Stop while many requests are inside handlers, which is what this scenario is about. On a
        // loaded machine the clients lag and fewer are in at a given moment: wait for a quarter.
        await Loopback.EventuallyAsync(() => Volatile.Read(ref inHandler) >= Clients / 4, "a quarter of the clients are mid-request");
        var midRequest = Volatile.Read(ref inHandler);
        var stopping = server.StopAsync(DrainTimeout);
        var newcomers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(scenario.EndPoint).WaitAsync(Loopback.Patience);
                return SocketError.Success;
            }
            catch (SocketException ex)
            {
                return ex.SocketErrorCode;
            }
        }));
        var summary = await stopping.WaitAsync(DrainTimeout + TimeSpan.FromSeconds(10));
        var ends = await Task.WhenAll(loops);
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        var repliesSeen = replies.Sum();
        scenario.Record("requests inside handlers when the stop began", $"{midRequest} of {Clients} clients");
        scenario.Record("requests received / answered by handlers / replies seen by clients", $"{received} / {answered} / {repliesSeen}");
        scenario.Record("newcomers refused during the drain", $"{newcomers.Count(e => e == SocketError.ConnectionRefused)} of {newcomers.Length}");
        scenario.Record("stop summary", $"open {summary.Open}, drained {summary.Drained}, aborted {summary.Aborted}, in {Measure.Ms(summary.Elapsed)} (drain timeout {DrainTimeout.TotalSeconds} s)");
        scenario.Record("client endings", string.Join(", ", ends.GroupBy(e => e).Select(g => $"{g.Key} {g.Count()}")));

        Assert.True(midRequest >= Clients / 4, $"only {midRequest} requests were in handlers when the stop began");
        Assert.Equal(received, answered);
        Assert.Equal(received, repliesSeen);
        Assert.All(newcomers, e => Assert.Equal(SocketError.ConnectionRefused, e));
        Assert.Equal(Clients, summary.Open);
        Assert.Equal(Clients, summary.Drained);
        Assert.Equal(0, summary.Aborted);
        Assert.True(summary.Elapsed < DrainTimeout, $"the stop took {summary.Elapsed}");
        Assert.Equal(0, server.HandlerErrors);
        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>Request → reply until the server ends the connection; every reply must match its
    /// request. Returns how the connection ended.</summary>
    private static async Task<string> ClientAsync(Socket socket, int client, int[] replies)
    {
        for (var seq = 0; ; seq++)
        {
            var request = Encoding.ASCII.GetBytes(FormattableString.Invariant($"{client:D5}-{seq:D9}\n"));
            try
            {
                await socket.SendAllAsync(request);
                var reply = await socket.ReceiveExactlyAsync(request.Length);
                Assert.Equal(request, reply);
                Interlocked.Increment(ref replies[client]);
            }
            catch (EndOfStreamException)
            {
                return "FIN";
            }
            catch (SocketException ex)
            {
                return ex.SocketErrorCode.ToString();
            }
        }
    }
}
