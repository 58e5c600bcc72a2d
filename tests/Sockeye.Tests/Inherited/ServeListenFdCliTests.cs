using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Inherited;

public class ServeListenFdCliTests
{
    private const string Activate = "/usr/bin/systemd-socket-activate";

    [Theory]
    [InlineData("--listen-fd 19990", "--listen-fd 19990: cannot listen on descriptor 19990: it is not open in this process")]
    [InlineData("--listen-fd 1", "--listen-fd 1: cannot listen on descriptor 1: it is not a socket")]
    [InlineData("--listen-fd -3", "--listen-fd must be a descriptor number (0 or more), got -3")]
    [InlineData("--listen-fd 3 --unix /tmp/sockeye-never.sock", "--listen-fd 3 cannot be combined with --unix /tmp/sockeye-never.sock")]
    public async Task BadListenFdIsOneLineOnStderrAndExitCodeTwo(string arguments, string message)
    {
        var (code, _, stderr) = await CliProcess.RunAsync($"serve echo {arguments}");

        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("LISTEN_FDS=two", "sockeye: error: LISTEN_FDS must be a number of descriptors from 0 to 4096, got 'two'")]
    [InlineData("LISTEN_FDS=2", "sockeye: error: LISTEN_FDS must pass exactly one socket to 'sockeye serve', got 2 (3=unknown, 4=unknown); use --listen-fd N to choose one")]
    [InlineData("LISTEN_FDS=1", "sockeye: error: LISTEN_FDS: cannot listen on descriptor 3: it is not a socket")]
    public async Task MalformedActivationForThisProcessIsOneLineAndExitCodeTwo(string variables, string message)
    {
        // The shell's pid is the program's (exec), so LISTEN_PID=$$ names it, as systemd would; descriptor 3
        // is /dev/null here, not a socket.
        var (code, _, stderr) = await CliProcess.RunAsync("serve echo --port 0", launcher: $"env LISTEN_PID=$$ {variables} 3<>/dev/null 4<>/dev/null");

        Assert.Equal(2, code);
        Assert.StartsWith(message, stderr.Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain('\n', stderr.Trim());
    }

    [Fact]
    public async Task ActivationMeantForAnotherProcessIsIgnoredAndThePortIsBound()
    {
        using var cli = CliProcess.Start("serve echo --port 0", launcher: "env LISTEN_PID=1 LISTEN_FDS=1");
        var endPoint = await cli.ListeningAsync();

        Assert.DoesNotContain("descriptor", cli.Stdout, StringComparison.Ordinal);
        await EchoAsync(endPoint);
        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [Fact]
    public async Task ServeUnderSystemdSocketActivationAcceptsOnTheSocketSystemdOpened()
    {
        Assert.True(File.Exists(Activate), $"{Activate} (Debian's systemd package) is needed for this test");
        var port = Loopback.FreePort();
        using var cli = CliProcess.Start("serve echo", launcher: $"{Activate} -l 127.0.0.1:{port}");

        // systemd-socket-activate listens first and starts the program at the first connection, as systemd
        // does: that connection waits in the queue until the server accepts it.
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("Listening on", StringComparison.Ordinal), "systemd-socket-activate listens");
        using var early = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var endPoint = await cli.ListeningAsync();

        Assert.Equal(port, endPoint.Port);
        Assert.Contains($"listening on 127.0.0.1:{port} (descriptor 3)", cli.Stdout, StringComparison.Ordinal);
        await early.SendAllAsync(new byte[] { 42 });
        Assert.Equal(new byte[] { 42 }, await early.ReceiveExactlyAsync(1));
        await EchoAsync(endPoint);
        cli.Signal("TERM");
        Assert.Equal(SocketError.Success, await early.ReceiveEndAsync());
        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [Fact]
    public async Task SupervisorUnderSocketActivationHandsSystemdsSocketToItsWorkers()
    {
        Assert.True(File.Exists(Activate), $"{Activate} (Debian's systemd package) is needed for this test");
        var port = Loopback.FreePort();
        using var cli = CliProcess.Start("serve echo --processes 2 --drain-timeout 5s", launcher: $"{Activate} -l 127.0.0.1:{port}");

        // systemd-socket-activate starts the program at the first connection, as systemd does.
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("Listening on", StringComparison.Ordinal), "systemd-socket-activate listens");
        using var early = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var endPoint = await cli.ListeningAsync();

        Assert.Equal(port, endPoint.Port);
        await Loopback.EventuallyAsync(() => cli.Stdout.Split('\n').Count(l => l.Contains("): ready", StringComparison.Ordinal)) == 2, "both workers ready");
        Assert.Equal(2, cli.Stderr.Split('\n').Count(l => l.Contains("started (pid", StringComparison.Ordinal)));
        await early.SendAllAsync(new byte[] { 42 });
        Assert.Equal(new byte[] { 42 }, await early.ReceiveExactlyAsync(1));
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => EchoAsync(endPoint)));
        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
        Assert.Contains("2 of 2 workers drained cleanly", cli.Stdout, StringComparison.Ordinal);
    }

    private static async Task EchoAsync(IPEndPoint endPoint)
    {
        using var client = await Loopback.ConnectAsync(endPoint);
        await client.SendAllAsync(new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, await client.ReceiveExactlyAsync(3));
    }
}
