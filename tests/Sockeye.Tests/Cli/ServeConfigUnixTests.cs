using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

public sealed class ServeConfigUnixTests
{
    [Fact]
    public async Task AUnixSocketListenerIsAnnouncedByItsPathAndServes()
    {
        var folder = Directory.CreateTempSubdirectory("sockeye-unix-config-").FullName;
        var path = Path.Combine(folder, "echo.sock");
        var config = Path.Combine(folder, "sockeye.json");
        await File.WriteAllTextAsync(config, $$"""{ "Sockeye": { "Listeners": { "local": { "Protocol": "echo", "UnixSocketPath": "{{path}}" } } } }""");

        using var server = CliProcess.Start($"serve --config {config}");
        await Loopback.EventuallyAsync(() => server.Stdout.Contains("listening on", StringComparison.Ordinal), "the listening line");

        Assert.Contains($"sockeye: listener local (echo) listening on unix:{path}", server.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("(null)", server.Stdout, StringComparison.Ordinal);
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path)).WaitAsync(Loopback.Patience);
        await client.SendAllAsync("over unix"u8.ToArray());
        Assert.Equal("over unix"u8.ToArray(), await client.ReceiveExactlyAsync(9));

        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
    }
}
