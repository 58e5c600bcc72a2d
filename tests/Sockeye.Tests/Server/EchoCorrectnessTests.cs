using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

public class EchoCorrectnessTests
{
    [Fact]
    public async Task EchoesOneMessage()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var message = "hello, sockeye"u8.ToArray();
        await client.SendAllAsync(message);
        Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length));
    }

    [Fact]
    public async Task ThousandConcurrentClientsGetEveryByteBackInOrder()
    {
        const int Clients = 1000;
        await using var server = new TcpServer(new TcpServerOptions { MaxConnections = Clients });
        await server.StartAsync(EchoHandler.Instance);
        var seed = Random.Shared.Next();
        var random = new Random(seed);

        // Each client pipelines a few messages of 1 B to 256 KiB (log-uniform, so both ends are
        // exercised), written in random splits while a reader checks every byte as it comes back.
        var plans = Enumerable.Range(0, Clients).Select(_ => MakePlan(random)).ToArray();
        var total = plans.Sum(p => p.Payload.Length);
        var results = await Task.WhenAll(plans.Select(p => RunClientAsync(server, p)));

        Assert.All(results, r => Assert.True(r is null, $"seed {seed}: {r}"));
        Assert.Equal(Clients, server.AcceptedConnections);
        Assert.True(total > 0);
    }

    private sealed record Plan(byte[] Payload, int[] Splits, int Seed);

    private static Plan MakePlan(Random random)
    {
        var messages = random.Next(1, 4);
        var sizes = Enumerable.Range(0, messages).Select(_ => (int)Math.Pow(2, random.NextDouble() * 18)).ToArray();
        var payload = new byte[sizes.Sum()];
        random.NextBytes(payload);

        // Random write sizes, from a byte to 64 KiB, so messages are split and joined arbitrarily.
        var splits = new List<int>();
        for (var left = payload.Length; left > 0;)
        {
            var n = Math.Min(left, random.Next(4) == 0 ? random.Next(1, 16) : random.Next(1, 65536));
            splits.Add(n);
            left -= n;
        }

        return new Plan(payload, [.. splits], random.Next());
    }

    private static async Task<string?> RunClientAsync(TcpServer server, Plan plan)
    {
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var writer = Task.Run(async () =>
        {
            var offset = 0;
            foreach (var n in plan.Splits)
            {
                await socket.SendAllAsync(plan.Payload.AsMemory(offset, n));
                offset += n;
            }
        });

        var received = await socket.ReceiveExactlyAsync(plan.Payload.Length, TimeSpan.FromSeconds(60));
        await writer;
        var mismatch = received.AsSpan().CommonPrefixLength(plan.Payload);
        if (mismatch != plan.Payload.Length)
        {
            return $"first wrong byte at {mismatch} of {plan.Payload.Length}";
        }

        // Nothing more than what was sent may come back.
        socket.Shutdown(SocketShutdown.Send);
        return await socket.ReceiveEndAsync() == SocketError.Success ? null : "connection did not end with FIN";
    }
}
