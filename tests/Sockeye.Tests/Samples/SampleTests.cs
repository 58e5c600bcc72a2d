using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Samples;

public class SampleTests
{
    [Fact]
    public async Task HostedEchoServesBothListenersFromItsAppSettingsAndDrainsOnSigterm()
    {
        using var app = StartSample("HostedEcho", "--Sockeye:Listeners:echo:Port=0 --Sockeye:Listeners:upper:Port=0");
        var echo = await ListenerAsync(app, "echo");
        var upper = await ListenerAsync(app, "upper");

        using var echoClient = await Loopback.ConnectAsync(echo);
        await echoClient.SendAllAsync("raw bytes"u8.ToArray());
        Assert.Equal("raw bytes", Encoding.ASCII.GetString(await echoClient.ReceiveExactlyAsync(9)));
        using var upperClient = await Loopback.ConnectAsync(upper);
        await upperClient.SendAllAsync("hello\n"u8.ToArray());
        Assert.Equal("HELLO\n", Encoding.ASCII.GetString(await upperClient.ReceiveExactlyAsync(6)));

        app.Signal("TERM");

        Assert.Equal(SocketError.Success, await echoClient.ReceiveEndAsync());
        Assert.Equal(SocketError.Success, await upperClient.ReceiveEndAsync());
        Assert.Equal(0, await app.WaitForExitAsync());
        Assert.Contains("Listener echo stopped: 1 connections drained, 0 aborted", app.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HashOffloadAnswersEachLineWithItsKeyComputedOnTheWorkerPool()
    {
        using var app = StartSample("HashOffload", "--Sockeye:Listeners:hash:Port=0");
        using var client = await Loopback.ConnectAsync(await ListenerAsync(app, "hash"));

        await client.SendAllAsync("hunter2\ncorrect horse\n"u8.ToArray());
        var reply = Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(2 * 65));

        Assert.Equal($"{Key("hunter2")}\n{Key("correct horse")}\n", reply);
    }

    [Fact]
    public async Task QuickStartServesUntilSigtermThenDrainsItsConnectionsAndExitsZero()
    {
        var port = Loopback.FreePort();
        using var app = StartSample("QuickStart", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        Socket? client = null;
        await Loopback.EventuallyAsync(async () =>
        {
            try
            {
                client = await Loopback.ConnectAsync(endPoint);
                return true;
            }
            catch (SocketException)
            {
                return app.HasExited;
            }
        }, "the README's server accepts connections");
        using var echo = client ?? throw new InvalidOperationException($"the sample exited: {app.Stderr}");
        await echo.SendAllAsync("hello\n"u8.ToArray());
        Assert.Equal("hello\n", Encoding.ASCII.GetString(await echo.ReceiveExactlyAsync(6)));
        using var idle = await Loopback.ConnectAsync(endPoint);
        await Loopback.EventuallyAsync(() => !app.HasExited, "the server is still running");

        app.Signal("TERM");

        // The drain asks both handlers to finish: each connection ends with a FIN, not a reset.
        Assert.Equal(SocketError.Success, await echo.ReceiveEndAsync());
        Assert.Equal(SocketError.Success, await idle.ReceiveEndAsync());
        Assert.Equal(0, await app.WaitForExitAsync());
        Assert.Contains("stopped: 2 drained, 0 aborted", app.Stdout, StringComparison.Ordinal);
    }

    private static string Key(string password) => Convert.ToHexStringLower(
        Rfc2898DeriveBytes.Pbkdf2(Encoding.ASCII.GetBytes(password), "sockeye-sample-salt"u8.ToArray(), 100_000, HashAlgorithmName.SHA256, 32));

    private static CliProcess StartSample(string name, string arguments)
    {
        // The tests run from tests/Sockeye.Tests/bin/CONFIGURATION/net10.0/; the sample was built beside them.
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = testOutput.Name;
        var configuration = testOutput.Parent!.Name;
        var root = testOutput.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var output = Path.Combine(root, "samples", name, "bin", configuration, framework);
        return CliProcess.StartProgram(Path.Combine(output, $"{name}.dll"), arguments, output);
    }

    private static async Task<IPEndPoint> ListenerAsync(CliProcess app, string listener)
    {
        await app.ListeningAsync();
        IPEndPoint? found = null;
        await Loopback.EventuallyAsync(() =>
        {
            var match = Regex.Match(app.Stdout, $@"Listener {listener} \([^)]+\) listening on (\S+)");
            found = match.Success ? IPEndPoint.Parse(match.Groups[1].Value) : null;
            return found is not null || app.HasExited;
        }, $"the sample logs that listener {listener} is listening");
        return found ?? throw new InvalidOperationException($"the sample exited: {app.Stderr}");
    }
}
