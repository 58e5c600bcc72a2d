using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Hosting;

namespace MyServer.Tests;

public class ServerTests
{
    // Every wait in these tests ends: a server that stops answering fails them instead of hanging CI.
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EchoesEachLineBackOverLoopback()
    {
        using var host = ServerHost.Create(["--Sockeye:Listeners:echo:Port=0", $"--Metrics:Port={FreePort()}"]);
        await host.StartAsync().WaitAsync(Timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(EchoEndPoint(host)).WaitAsync(Timeout);
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);

            await stream.WriteAsync("hello\nworld\n"u8.ToArray()).AsTask().WaitAsync(Timeout);

            Assert.Equal("hello", await reader.ReadLineAsync().WaitAsync(Timeout));
            Assert.Equal("world", await reader.ReadLineAsync().WaitAsync(Timeout));
        }
        finally
        {
            await host.StopAsync().WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task ServesTheSockeyeMeterInPrometheusFormat()
    {
        var metricsPort = FreePort();
        using var host = ServerHost.Create(["--Sockeye:Listeners:echo:Port=0", $"--Metrics:Port={metricsPort}"]);
        await host.StartAsync().WaitAsync(Timeout);
        try
        {
            using (var client = new TcpClient())
                await client.ConnectAsync(EchoEndPoint(host)).WaitAsync(Timeout);

            using var http = new HttpClient { Timeout = Timeout };
            var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));

            Assert.Contains("sockeye_connections_accepted", text, StringComparison.Ordinal);
        }
        finally
        {
            await host.StopAsync().WaitAsync(Timeout);
        }
    }

    private static IPEndPoint EchoEndPoint(IHost host) =>
        host.Services.GetRequiredService<SockeyeListeners>()["echo"].LocalEndPoint
        ?? throw new InvalidOperationException("the echo listener is not listening");

    // The Prometheus HttpListener needs a fixed port: take one the kernel picks, then free it.
    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
