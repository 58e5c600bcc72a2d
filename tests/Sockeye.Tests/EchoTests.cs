using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;

namespace Sockeye.Tests;

public class EchoTests
{
    [Fact]
    public async Task EchoesOneMessage()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        using var client = new TcpClient();
        await client.ConnectAsync(server.LocalEndPoint!);
        var stream = client.GetStream();
        var message = "hello, sockeye"u8.ToArray();
        await stream.WriteAsync(message);
        var buffer = new byte[message.Length];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(message, buffer);
    }
}
