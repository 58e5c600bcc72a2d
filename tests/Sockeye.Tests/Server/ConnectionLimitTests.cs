using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

public class ConnectionLimitTests
{
    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task RejectsConnectionsOverTheLimitAndServesTheRest(IoEngine engine)
    {
        const int Limit = 50;
        const int Burst = 4 * Limit;
        var running = 0;
        var mostRunning = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = Limit, IoEngine = engine });
        await server.StartAsync(async connection =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref mostRunning, now);
            try
            {
                // Answer one byte, then hold the connection until the test lets go.
                var result = await connection.Input.ReadAsync();
                await connection.Output.WriteAsync(result.Buffer.First[..1]);
                connection.Input.AdvanceTo(result.Buffer.End);
                await release.Task.WaitAsync(connection.ConnectionClosed);
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        });

        // A refused client sees the reset at its first read, or already at connect when the RST
        // arrives before the client's connect completes.
        var clients = await Task.WhenAll(Enumerable.Range(0, Burst).Select(_ => ConnectOrNullAsync(server)));
        var outcomes = await Task.WhenAll(clients.Select(async c =>
        {
            if (c is null)
            {
                return "refused";
            }

            try
            {
                await c.SendAllAsync(new byte[] { 42 });
                return (await c.ReceiveExactlyAsync(1))[0] == 42 ? "served" : "wrong byte";
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException)
            {
                return "refused";
            }
        }));

        Assert.Equal(Limit, outcomes.Count(o => o == "served"));
        Assert.Equal(Burst - Limit, outcomes.Count(o => o == "refused"));
        Assert.Equal(Burst - Limit, server.RejectedConnections);
        Assert.Equal(Limit, server.ActiveConnections);
        Assert.True(mostRunning <= Limit, $"{mostRunning} handlers ran at once, limit {Limit}");

        // Slots come back when connections end: a new client is served once the others leave.
        release.SetResult();
        foreach (var c in clients)
        {
            c?.Dispose();
        }

        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "all slots are released");
        using var late = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await late.SendAllAsync(new byte[] { 7 });
        Assert.Equal(7, (await late.ReceiveExactlyAsync(1))[0]);
    }

    [Theory]
    [InlineData(IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets)]
    public async Task RefusedConnectionIsResetPromptly(IoEngine engine)
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = 1, IoEngine = engine });
        await server.StartAsync(c => hold.Task.WaitAsync(c.ConnectionClosed));
        using var first = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the first connection holds the slot");

        using var second = await ConnectOrNullAsync(server);
        var end = second is null ? SocketError.ConnectionReset : await second.ReceiveEndAsync();

        Assert.Equal(SocketError.ConnectionReset, end);
        Assert.Equal(1, server.RejectedConnections);
        Assert.Equal(1, server.AcceptedConnections);
        hold.SetResult();
    }

    private static async Task<Socket?> ConnectOrNullAsync(TcpServer server)
    {
        try
        {
            return await Loopback.ConnectAsync(server.LocalEndPoint!);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return null;
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var current = Volatile.Read(ref target); value > current; current = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, current) == current)
            {
                return;
            }
        }
    }
}
