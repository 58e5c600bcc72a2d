using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Sockeye.Bench;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary><c>bench idle</c> on its own epoll loop (bare descriptors, no .NET <see cref="Socket"/>):
/// the paths the shared idle tests in <see cref="LoadGeneratorTests"/> do not reach.</summary>
public class EpollIdleWorkloadTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private static BenchSettings Settings(int port, int connections, string host = "127.0.0.1") => new()
    {
        Mode = BenchMode.Idle,
        Host = host,
        Port = port,
        Connections = connections,
        Duration = TimeSpan.FromMilliseconds(300),
        Quiet = true,
        IoEngine = IoEngine.Epoll,
    };

    private static Task<BenchResult> RunAsync(BenchSettings settings) =>
        new BenchCoordinator(settings, TextWriter.Null).RunAsync(CancellationToken.None).WaitAsync(Limit);

    /// <summary>Echoes the proving round trip (one 64-byte message) as an honest server would.</summary>
    private static async Task AnswerTheFirstRoundTripAsync(Connection connection)
    {
        var first = await connection.Input.ReadAtLeastAsync(64);
        await connection.Output.WriteAsync(first.Buffer.Slice(0, 64).ToArray());
        connection.Input.AdvanceTo(first.Buffer.GetPosition(64));
    }

    [Fact]
    public void DefaultHoldsPlainTcpOnEpollAndFallsBackToSocketsForTlsAndUnixSockets()
    {
        var plain = new BenchSettings { Mode = BenchMode.Idle };
        Assert.True(plain.IdleOnEpoll);
        Assert.False((plain with { Tls = true }).IdleOnEpoll);
        Assert.False((plain with { UnixPath = "/tmp/x.sock" }).IdleOnEpoll);
        Assert.False((plain with { IoEngine = IoEngine.Sockets }).IdleOnEpoll);
        Assert.IsType<EpollIdleWorkload>(LocalParticipant.CreateWorkload(plain));
        Assert.IsType<IdleWorkload>(LocalParticipant.CreateWorkload(plain with { Tls = true }));
    }

    [Fact]
    public async Task ConnectionsToAPortNobodyListensOnAreConnectFailures()
    {
        var result = await RunAsync(Settings(Loopback.FreePort(), 20));

        Assert.Equal(20, result.ConnectFailures);
        Assert.Equal(0, result.ConnectionsHeld);
        Assert.Equal(0, result.Operations);
    }

    [Fact]
    public async Task AServerThatNeverAnswersTheFirstRoundTripFailsEachConnectionAfterTheTimeout()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        // Reads everything, answers nothing, and keeps the connection open until the client closes it.
        await server.StartAsync(connection => connection.Input.DiscardToEndAsync());

        var started = DateTime.UtcNow;
        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 5) with { ConnectTimeout = TimeSpan.FromMilliseconds(400) });

        Assert.Equal(5, result.ConnectFailures);
        Assert.Equal(0, result.ConnectionsHeld);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(400), "failed before the timeout");
    }

    [Fact]
    public async Task AServerThatStopsAnsweringAfterTheHoldCountsEveryConnectionAsAnError()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            // Answers the proving round trip, then reads the final one and never answers it.
            await AnswerTheFirstRoundTripAsync(connection);
            await connection.Input.DiscardToEndAsync();
        });

        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 6) with { ConnectTimeout = TimeSpan.FromMilliseconds(400) });

        Assert.Equal(6, result.ConnectionsHeld);
        Assert.Equal(0, result.Operations);
        Assert.Equal(6, result.Errors);
        Assert.Equal(0, result.ConnectionsOpen);
    }

    [Fact]
    public async Task MessagesLargerThanTheSocketBuffersAreSentAndCheckedInPieces()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 4) with { Size = 256 * 1024 });

        Assert.Equal(4, result.ConnectionsHeld);
        Assert.Equal(4, result.Operations);
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
    }

    [Fact]
    public async Task ACorruptedFinalReplyIsAMismatch()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            await AnswerTheFirstRoundTripAsync(connection);
            var second = await connection.Input.ReadAtLeastAsync(64);
            var flipped = second.Buffer.ToArray();
            flipped[^1] ^= 0xFF;
            await connection.Output.WriteAsync(flipped);
            connection.Input.AdvanceTo(second.Buffer.End);
            await connection.Input.ReadAsync();
        });

        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 3));

        Assert.Equal(3, result.ConnectionsHeld);
        Assert.Equal(3, result.Mismatches);
        Assert.Equal(3, result.Errors);
        Assert.Equal(0, result.Operations);
    }

    [Fact]
    public async Task ConnectionsAreSpreadOverTheSourceAddressesRoundRobin()
    {
        var seen = new ConcurrentDictionary<IPAddress, int>();
        await using var server = new TcpServer(new TcpServerOptions { EndPoint = new IPEndPoint(IPAddress.Any, 0) });
        await server.StartAsync(async connection =>
        {
            seen.AddOrUpdate(((IPEndPoint)connection.RemoteEndPoint!).Address, 1, (_, n) => n + 1);
            await EchoHandler.Instance.HandleAsync(connection);
        });
        Assert.True(SourceAddresses.TryParse("127.0.0.2-127.0.0.4", out var sources, out _));

        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 30) with { SourceAddresses = sources });

        Assert.Equal(30, result.Operations);
        Assert.Equal(0, result.Errors);
        Assert.Equal(new Dictionary<IPAddress, int>
        {
            [IPAddress.Parse("127.0.0.2")] = 10,
            [IPAddress.Parse("127.0.0.3")] = 10,
            [IPAddress.Parse("127.0.0.4")] = 10,
        }, seen.ToDictionary());
    }

    [Fact]
    public async Task HoldsIpv6ConnectionsToo()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return;
        }

        await using var server = new TcpServer(new TcpServerOptions { EndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 0) });
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server.LocalEndPoint!.Port, 10, host: "::1"));

        Assert.Equal(10, result.ConnectionsHeld);
        Assert.Equal(10, result.Operations);
        Assert.Equal(0, result.Errors);
    }

    [Fact]
    public void SourceAddressesOfAnotherFamilyThanTheServerAreRefused()
    {
        Assert.True(SourceAddresses.TryParse("127.0.0.2", out var sources, out _));
        var settings = Settings(9, 1, host: "::1") with { SourceAddresses = sources };
        var error = Assert.Throws<ArgumentException>(() => new EpollIdleWorkload(settings));
        Assert.Contains("same address family", error.Message, StringComparison.Ordinal);
    }
}
