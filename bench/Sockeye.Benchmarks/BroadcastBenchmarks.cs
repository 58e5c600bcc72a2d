using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Sockeye.Fanout;

namespace Sockeye.Benchmarks;

/// <summary>
/// One broadcast of a 64-byte message to a group of 1,000 or 5,000 live loopback connections, until
/// every member's kernel took it: what a chat room's message costs, and that it allocates nothing per
/// recipient (the message is shared, queue nodes are pooled, drains are the queues themselves as
/// thread-pool work items). The clients read in the background with one buffer each.
/// </summary>
[MemoryDiagnoser]
public class BroadcastBenchmarks
{
    private TcpServer _server = null!;
    private ConnectionGroup _group = null!;
    private OutgoingMessage _message = null!;
    private readonly List<Socket> _clients = [];
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Members of the group.</summary>
    [Params(1_000, 5_000)]
    public int Members { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _group = new ConnectionGroup("bench");
        _server = new TcpServer(new TcpServerOptions { MaxConnections = 20_000 });
        _server.StartAsync(async connection =>
        {
            _group.Add(connection);
            var result = await connection.Input.ReadAsync();
            while (!result.IsCompleted)
            {
                connection.Input.AdvanceTo(result.Buffer.End);
                result = await connection.Input.ReadAsync();
            }
        }).GetAwaiter().GetResult();
        for (var i = 0; i < Members; i++)
        {
            var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            client.Connect(_server.LocalEndPoint!);
            _clients.Add(client);
            _ = DrainAsync(client, _stop.Token);
        }

        while (_group.Count < Members)
        {
            Thread.Sleep(10);
        }

        _message = OutgoingMessage.Create(new byte[64]);
    }

    /// <summary>Queues the message on every member and waits until every send completed.</summary>
    [Benchmark]
    public int Broadcast()
    {
        var result = _group.Broadcast(_message);
        var fanout = _server.FanoutCounters;
        var spins = new SpinWait();
        while (fanout.PendingBytes.Sum != 0)
        {
            spins.SpinOnce();
        }

        return result.Queued;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop.Cancel();
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        _message.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static async Task DrainAsync(Socket client, CancellationToken stop)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (await client.ReceiveAsync(buffer, SocketFlags.None, stop) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
