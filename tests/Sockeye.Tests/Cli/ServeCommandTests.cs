using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

public class ServeCommandTests
{
    [Theory]
    [InlineData("bogus", "Unrecognized command or argument 'bogus'")]
    [InlineData("serve echo --port 70000", "--port must be between 0 and 65535, got 70000")]
    [InlineData("serve echo --port -1", "--port must be between 0 and 65535, got -1")]
    [InlineData("serve echo --max-connections -5", "--max-connections must be at least 1, got -5")]
    [InlineData("serve echo --drain-timeout soon", "--drain-timeout: 'soon' is not a duration")]
    [InlineData("serve echo --host example", "--host must be an IP address, got 'example'")]
    [InlineData("serve echo --poll-threads 65", "--poll-threads must be between 0 (the engine's choice) and 64, got 65")]
    [InlineData("serve chat --poll-threads -1", "--poll-threads must be between 0 (the engine's choice) and 64, got -1")]
    [InlineData("serve", "Required command was not provided")]
    [InlineData("serve nope", "Unrecognized command 'nope' for 'sockeye serve' (commands: echo, chat, udp-echo; or --config FILE)")]
    [InlineData("bench nope", "Unrecognized command or argument 'nope'")]
    [InlineData("serve chat --bogus", "Unrecognized command or argument '--bogus'")]
    public async Task BadArgumentsGiveOneLineNamingTheArgumentAndANonZeroExit(string arguments, string message)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("sockeye: error: ", line, StringComparison.Ordinal);
        Assert.Contains(message, line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("--help", "serve")]
    [InlineData("serve --help", "echo")]
    [InlineData("serve echo --help", "--drain-timeout")]
    [InlineData("serve chat --help", "--drain-timeout")]
    [InlineData("serve udp-echo --help", "--port")]
    [InlineData("bench echo --help", "--connections")]
    public async Task EveryCommandHasHelp(string arguments, string mentions)
    {
        var (exitCode, stdout, _) = await CliProcess.RunAsync(arguments);

        Assert.Equal(0, exitCode);
        Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
        Assert.Contains(mentions, stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APortInUseIsReportedByName()
    {
        using var taken = new Socket(SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((System.Net.IPEndPoint)taken.LocalEndPoint!).Port;

        var (exitCode, _, stderr) = await CliProcess.RunAsync($"serve echo --port {port}");

        Assert.Equal(1, exitCode);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}: the address is already in use", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EchoServesUntilSigtermThenDrainsAndExitsZero()
    {
        using var server = CliProcess.Start("serve echo --port 0 --drain-timeout 5s");
        var endPoint = await server.ListeningAsync();
        using var client = await Loopback.ConnectAsync(endPoint);
        var payload = new byte[300_000];
        Random.Shared.NextBytes(payload);
        var echoed = client.ReceiveExactlyAsync(payload.Length);
        await client.SendAllAsync(payload);
        Assert.Equal(payload, await echoed);

        server.Signal("TERM");

        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("stopped: 1 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CtrlCAlsoDrains()
    {
        using var server = CliProcess.Start("serve echo --port 0");
        await server.ListeningAsync();

        server.Signal("INT");

        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("SIGINT received", server.Stdout, StringComparison.Ordinal);
    }
}
