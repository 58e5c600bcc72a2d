using System.Net.Sockets;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

/// <summary>A server whose handler joins every connection to one group and reads until the peer
/// ends, with helpers to connect clients and read lines: the fan-out tests' fixture.</summary>
internal sealed class FanoutServer : IAsyncDisposable
{
    private FanoutServer(TcpServer server, ConnectionGroup group)
    {
        Server = server;
        Group = group;
    }

    public TcpServer Server { get; }

    public ConnectionGroup Group { get; }

    public static async Task<FanoutServer> StartAsync(Action<TcpServerOptions>? configure = null, Func<Connection, Task>? afterJoin = null, ConnectionGroup? group = null)
    {
        var options = new TcpServerOptions();
        configure?.Invoke(options);
        var server = new TcpServer(options);
        group ??= new ConnectionGroup("test");
        var fixture = new FanoutServer(server, group);
        await server.StartAsync(async connection =>
        {
            group.Add(connection);
            if (afterJoin is not null)
            {
                await afterJoin(connection);
                return;
            }

            while (true)
            {
                var result = await connection.Input.ReadAsync();
                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });
        return fixture;
    }

    /// <summary>Connects <paramref name="count"/> clients and waits until the group holds them all.</summary>
    public async Task<List<Socket>> ConnectAsync(int count)
    {
        var clients = new List<Socket>();
        for (var i = 0; i < count; i++)
        {
            clients.Add(await Loopback.ConnectAsync(Server.LocalEndPoint!));
        }

        await Loopback.EventuallyAsync(() => Group.Count == count, $"{count} members in the group");
        return clients;
    }

    /// <summary>Reads <paramref name="count"/> newline-ended lines from <paramref name="client"/>.</summary>
    public static async Task<List<string>> ReadLinesAsync(Socket client, int count)
    {
        var lines = new List<string>(count);
        var pending = new StringBuilder();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        while (lines.Count < count)
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                throw new InvalidOperationException($"the server closed after {lines.Count} of {count} lines");
            }

            pending.Append(Encoding.ASCII.GetString(buffer, 0, read));
            var text = pending.ToString();
            var start = 0;
            for (var end = text.IndexOf('\n'); end >= 0; end = text.IndexOf('\n', start))
            {
                lines.Add(text[start..end]);
                start = end + 1;
            }

            pending.Clear().Append(text[start..]);
        }

        return lines;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
