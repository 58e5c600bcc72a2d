using Sockeye.Framing;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public class FrameCountTests
{
    [Fact]
    public async Task FramesDecodedByTheHelpersAreCountedAndBrokenOnesAreProtocolErrors()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            var lines = new LineCodec(maxLineLength: 16);
            await foreach (var line in connection.ReadFramesAsync(lines))
            {
                await connection.WriteFrameAsync(lines, line);
            }
        });

        using (var client = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await client.SendAllAsync("a\nbb\nccc\ndddd\neeeee\n"u8.ToArray());
            await client.ReceiveExactlyAsync(20);
        }

        using (var rude = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await rude.SendAllAsync("ok\nthis line is far too long for the codec\n"u8.ToArray());
            await rude.ReceiveEndAsync();
        }

        await Loopback.EventuallyAsync(() => server.ProtocolErrors == 1, "the long line to be refused");
        Assert.Equal(6, server.FramesDecoded);
    }
}
