using Sockeye.Tests.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

/// <summary><c>sockeye serve chat</c>, run as the real executable.</summary>
public sealed class ServeChatCliTests
{
    [Fact]
    public async Task TwoClientsTalkThroughARoomAndSigtermDrainsWithExitCodeZero()
    {
        using var cli = CliProcess.Start("serve chat --port 0 --send-queue-limit 1MiB --send-queue-overflow drop-oldest");
        var endPoint = await cli.ListeningAsync();
        using var alice = await Loopback.ConnectAsync(endPoint);
        using var bob = await Loopback.ConnectAsync(endPoint);
        await alice.SendAllAsync("NICK alice\nJOIN lobby\n"u8.ToArray());
        Assert.Equal(["OK NICK alice", "OK JOIN lobby"], await FanoutServer.ReadLinesAsync(alice, 2));
        await bob.SendAllAsync("NICK bob\nJOIN lobby\nMSG lobby hi alice\n"u8.ToArray());
        Assert.Equal(["OK NICK bob", "OK JOIN lobby"], await FanoutServer.ReadLinesAsync(bob, 2));
        Assert.Equal(["lobby bob: hi alice"], await FanoutServer.ReadLinesAsync(alice, 1));

        alice.Dispose();
        bob.Dispose();
        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
        Assert.Contains("drained", cli.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--send-queue-overflow later", "--send-queue-overflow must be disconnect, drop-newest or drop-oldest, got 'later'")]
    [InlineData("--send-queue-limit 1MiB --send-queue-soft-limit 2MiB", "--send-queue-soft-limit (2097152 bytes) must not be above --send-queue-limit (1048576 bytes)")]
    [InlineData("--max-frame-size 8", "--max-frame-size must be between 16 B and 1 MiB, got 8")]
    public async Task BadSlowConsumerFlagsAreRefusedWithOneLineNamingTheFlag(string arguments, string expected)
    {
        var (code, _, stderr) = await CliProcess.RunAsync($"serve chat --port 0 {arguments}");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }
}
