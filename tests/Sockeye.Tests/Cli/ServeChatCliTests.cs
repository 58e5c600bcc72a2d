using System.Text;
using Sockeye.Tests.Fanout;
using Sockeye.Tests.Security;
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

    [Fact]
    public async Task ARoomsLineReachesAnotherMemberOverTls()
    {
        var directory = Directory.CreateTempSubdirectory("sockeye-chat-tls-").FullName;
        try
        {
            var (certificate, key) = TestCertificates.WritePem(TestCertificates.Create("chat.test"), directory, "server");
            using var cli = CliProcess.Start($"serve chat --port 0 --tls-cert {certificate} --tls-key {key}");
            var endPoint = await cli.ListeningAsync();
            await using var alice = await TestCertificates.ConnectAsync(endPoint);
            await using var bob = await TestCertificates.ConnectAsync(endPoint);
            await alice.SendAsync("NICK alice\nJOIN lobby\n"u8.ToArray());
            Assert.Equal("OK NICK alice\nOK JOIN lobby\n", Encoding.ASCII.GetString(await alice.ReceiveExactlyAsync(28)));
            await bob.SendAsync("NICK bob\nJOIN lobby\nMSG lobby over tls\n"u8.ToArray());
            Assert.Equal("OK NICK bob\nOK JOIN lobby\n", Encoding.ASCII.GetString(await bob.ReceiveExactlyAsync(26)));
            // The broadcast's plaintext is shared; each member's copy is encrypted on its own connection.
            Assert.Equal("lobby bob: over tls\n", Encoding.ASCII.GetString(await alice.ReceiveExactlyAsync(20)));

            // Both clients still connected: the drain ends each with a FIN (not at the deadline, by abort).
            cli.Signal("TERM");
            await alice.WaitForEndAsync();
            await bob.WaitForEndAsync();
            Assert.Equal(0, await cli.WaitForExitAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("serve chat --send-queue-soft-limit 1MiB", null)] // Below the default 32 MiB hard limit.
    [InlineData("serve chat --send-queue-soft-limit 40MiB", "--send-queue-soft-limit (41943040 bytes) must not be above --send-queue-limit (33554432 bytes)")]
    [InlineData("serve chat --send-queue-limit 64MiB --send-queue-soft-limit 40MiB", null)]
    public void ASoftLimitAloneIsComparedWithTheDefaultHardLimit(string commandLine, string? expected)
    {
        var errors = new System.CommandLine.RootCommand { Sockeye.Cli.Commands.ServeCommand.Create() }.Parse(commandLine).Errors.Select(e => e.Message).ToList();
        if (expected is null)
        {
            Assert.Empty(errors);
        }
        else
        {
            Assert.Contains(expected, Assert.Single(errors), StringComparison.Ordinal);
        }
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
