using System.Net;
using Sockeye.Samples.Kv;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Tests.Samples;

/// <summary>samples/Kv's handler on a real <see cref="TcpServer"/> on loopback, in the test process.</summary>
internal sealed class KvTestServer : IAsyncDisposable
{
    private KvTestServer(TcpServer server, KvServer kv)
    {
        Server = server;
        Kv = kv;
    }

    public TcpServer Server { get; }

    public KvServer Kv { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoint!;

    /// <summary>Starts a server on <paramref name="port"/> (0: any free port).</summary>
    public static async Task<KvTestServer> StartAsync(int port = 0, RespLimits? limits = null, Sockeye.Fanout.SendQueueOptions? sendQueue = null)
    {
        var kv = new KvServer(limits ?? RespLimits.Default, 1000);
        var server = new TcpServer(new TcpServerOptions
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, port),
            MaxConnections = 1000,
            MaxReadBufferSize = (limits ?? RespLimits.Default).MaxBulk + (1024 * 1024),
            SendQueue = sendQueue ?? Sockeye.Fanout.SendQueueOptions.Default,
        });
        await server.StartAsync(new KvHandler(kv));
        kv.Port = server.LocalEndPoint!.Port;
        return new KvTestServer(server, kv);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.FromSeconds(2));
        await Server.DisposeAsync();
        Kv.Dispose();
    }
}
