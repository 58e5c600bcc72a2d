using System.Net;
using Sockeye.Framing;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Docs;

/// <summary>The README's "Write a server" example, as written there, serving real clients.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public async Task TheReadmeLineEchoServerWorksAsDescribed()
    {
        await using var server = new TcpServer(new TcpServerOptions
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            MaxConnections = 100_000,
            IdleTimeout = TimeSpan.FromMinutes(2),
        });

        // A token stands in for SIGTERM here (SampleTests sends the signal to samples/QuickStart).
        using var sigterm = new CancellationTokenSource();
        var run = server.RunAsync(async connection =>
        {
            var lines = new LineCodec(maxLineLength: 4096);
            await foreach (var line in connection.ReadFramesAsync(lines))
            {
                await connection.WriteFrameAsync(lines, line);
            }
        }, cancellationToken: sigterm.Token);
        await Loopback.EventuallyAsync(() => server.State == ServerState.Listening || run.IsCompleted, "the server listens");

        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync("hello\r\nsockeye\n"u8.ToArray());
        Assert.Equal("hello\nsockeye\n"u8.ToArray(), await client.ReceiveExactlyAsync(14));

        // A line over the limit closes only that connection, counted as a protocol error.
        using var rude = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await rude.SendAllAsync(new byte[5000]);
        await rude.ReceiveEndAsync();
        await Loopback.EventuallyAsync(() => server.ProtocolErrors == 1, "the oversize line is counted");
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the rude connection is gone");

        // The error is counted before the connection's slot is released: wait for both.
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the oversize line's connection is released");

        await sigterm.CancelAsync();
        var summary = await run.WaitAsync(Loopback.Patience);
        Assert.Equal(1, summary.Open);
        Assert.Equal(0, summary.Aborted);
    }
}
