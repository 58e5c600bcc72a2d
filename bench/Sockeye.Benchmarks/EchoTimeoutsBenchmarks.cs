using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Sockeye.Handlers;

namespace Sockeye.Benchmarks;

/// <summary>
/// A 64-byte echo round trip over loopback with every timeout on (idle, read, write, minimum rate)
/// and with all of them off, in the same run: what deadlines add per round trip. Client and server
/// share the process, so the figure is the round trip's total time, not the server's CPU alone.
/// </summary>
[MemoryDiagnoser]
public class EchoTimeoutsBenchmarks
{
    private const int RoundTrips = 1000;
    private readonly byte[] _message = new byte[64];
    private readonly byte[] _reply = new byte[64];
    private TcpServer _server = null!;
    private Socket _client = null!;

    /// <summary>Whether the server runs with every timeout on.</summary>
    [Params(false, true)]
    public bool Timeouts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new TcpServerOptions();
        if (Timeouts)
        {
            options.IdleTimeout = TimeSpan.FromMinutes(2);
            options.ReadTimeout = TimeSpan.FromSeconds(30);
            options.WriteTimeout = TimeSpan.FromSeconds(30);
            options.MinReceiveRate = new MinDataRate(240, TimeSpan.FromSeconds(5));
        }

        _server = new TcpServer(options);
        _server.StartAsync(EchoHandler.Instance).GetAwaiter().GetResult();
        _client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _client.Connect(_server.LocalEndPoint!);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>1,000 sequential round trips of 64 bytes.</summary>
    [Benchmark(OperationsPerInvoke = RoundTrips)]
    public async Task RoundTrip()
    {
        for (var i = 0; i < RoundTrips; i++)
        {
            await _client.SendAsync(_message, SocketFlags.None);
            var read = 0;
            while (read < _reply.Length)
            {
                read += await _client.ReceiveAsync(_reply.AsMemory(read), SocketFlags.None);
            }
        }
    }
}
