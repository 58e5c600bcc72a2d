using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

/// <summary>A second SIGTERM (or SIGINT) while <c>sockeye serve</c> drains: an impatient operator or an
/// orchestrator that repeats its signal must not cut the drain short or crash it (issue 23's probe).</summary>
public sealed class ServeSecondSigtermTests
{
    [Theory]
    [InlineData("serve echo --port 0 --drain-timeout 5s", "TERM")]
    [InlineData("serve echo --port 0 --drain-timeout 5s", "INT")]
    [InlineData("serve echo --port 0 --drain-timeout 5s --framing line", "TERM")]
    public async Task ASecondStopSignalDuringTheDrainIsIgnoredAndTheDrainEndsCleanly(string arguments, string second)
    {
        using var server = CliProcess.Start(arguments);
        var endPoint = await server.ListeningAsync();
        using var held = await Loopback.ConnectAsync(endPoint);
        await held.SendAllAsync("hello\n"u8.ToArray());
        Assert.Equal("hello\n"u8.ToArray(), await held.ReceiveExactlyAsync(6));

        server.Signal("TERM");
        await Loopback.EventuallyAsync(() => server.Stdout.Contains("draining", StringComparison.Ordinal), "the drain to start");
        server.Signal(second);
        server.Signal(second);

        Assert.Equal(SocketError.Success, await held.ReceiveEndAsync());
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("stopped: 1 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
        Assert.Single(server.Stdout.Split('\n'), l => l.Contains("received; draining", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", server.Stderr, StringComparison.Ordinal);
    }
}
