using System.Text;
using Sockeye.Framing;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 5, faulty handlers: 1,000 clients, each sends its id and then five numbered lines; the
/// handler of one connection in ten (chosen by a seeded draw on the id, which the test repeats)
/// throws, at one of four points: before any reply, after two replies, with a reply written but not
/// flushed, or after the last reply. Every other connection must complete: five echoes and then a
/// clean FIN. The faulty ones end with a reset and are counted as handler errors, exactly.
/// </summary>
public sealed class FaultyHandlerScenario(ITestOutputHelper output)
{
    private const int Clients = 1000;
    private const int Rounds = 5;
    private const int Seed = 10;

    [Fact]
    public async Task WhenOneHandlerInTenThrowsAtARandomPointEveryOtherConnectionCompletes()
    {
        var codec = new LineCodec(maxLineLength: 64);
        await using var scenario = await Scenario.StartAsync(output, "5 faulty handlers", new TcpServerOptions { MaxConnections = 2000 }, async connection =>
        {
            var first = await connection.ReadFrameAsync(codec);
            if (first is not { } idFrame)
            {
                return;
            }

            var id = int.Parse(Encoding.ASCII.GetString(idFrame), System.Globalization.CultureInfo.InvariantCulture);
            var fault = FaultFor(id);
            if (fault == FaultPoint.BeforeAnyReply)
            {
                throw new InvalidOperationException($"handler {id} failed before replying");
            }

            for (var round = 0; round < Rounds; round++)
            {
                if (await connection.ReadFrameAsync(codec) is not { } line)
                {
                    return;
                }

                connection.WriteFrame(codec, line);
                if (fault == FaultPoint.WithAReplyUnflushed && round == 2)
                {
                    throw new InvalidOperationException($"handler {id} failed with a reply unflushed");
                }

                await connection.Output.FlushAsync();
                if (fault == FaultPoint.AfterTwoReplies && round == 1)
                {
                    throw new InvalidOperationException($"handler {id} failed after two replies");
                }
            }

            if (fault == FaultPoint.AfterTheLastReply)
            {
                throw new InvalidOperationException($"handler {id} failed after its last reply");
            }
        });

        var completed = await Measure.InBatchesAsync(Enumerable.Range(0, Clients).ToArray(), 200, id => ClientAsync(scenario, id));

        var faulty = Enumerable.Range(0, Clients).Where(id => FaultFor(id) != FaultPoint.None).ToHashSet();
        var didNotComplete = Enumerable.Range(0, Clients).Where(id => !completed[id]).ToHashSet();
        scenario.Record("faulty handlers (seeded draw)", $"{faulty.Count} of {Clients}: {string.Join(", ", faulty.GroupBy(FaultFor).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))}");
        scenario.Record("clients that completed", Clients - didNotComplete.Count);
        scenario.Record("handler errors counted", scenario.Server.HandlerErrors);

        Assert.InRange(faulty.Count, 50, 150);
        Assert.Equal(faulty.Order(), didNotComplete.Order());
        Assert.Equal(faulty.Count, scenario.Server.HandlerErrors);
        Assert.Equal(0, scenario.Server.ProtocolErrors);
        await scenario.AssertNoLeaksAsync();
    }

    /// <summary>Sends the id and five lines; true when all five came back and the server then closed
    /// with a FIN. A faulty handler shows as a reset, or as a close before the replies.</summary>
    private static async Task<bool> ClientAsync(Scenario scenario, int id)
    {
        using var socket = await Loopback.ConnectAsync(scenario.EndPoint);
        try
        {
            await socket.SendAllAsync(Encoding.ASCII.GetBytes(FormattableString.Invariant($"{id:D8}\n")));
            for (var round = 0; round < Rounds; round++)
            {
                var line = Encoding.ASCII.GetBytes(FormattableString.Invariant($"{id:D8}-{round}\n"));
                await socket.SendAllAsync(line);
                Assert.Equal(line, await socket.ReceiveExactlyAsync(line.Length));
            }

            return await socket.ReceiveEndAsync() == System.Net.Sockets.SocketError.Success;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or EndOfStreamException)
        {
            return false;
        }
    }

    private static FaultPoint FaultFor(int id)
    {
        var random = new Random(Seed + (id * 7919));
        return random.NextDouble() < 0.1 ? (FaultPoint)(1 + random.Next(4)) : FaultPoint.None;
    }

    private enum FaultPoint
    {
        None,
        BeforeAnyReply,
        AfterTwoReplies,
        WithAReplyUnflushed,
        AfterTheLastReply,
    }
}
