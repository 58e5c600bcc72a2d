using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

/// <summary>SIGHUP to every kind of <c>sockeye serve</c> process: it reloads what can be reloaded, logs
/// it, and never stops or disturbs the server (issue 23).</summary>
public sealed partial class ServeSighupTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-sighup-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task EchoServerLogsSighupKeepsItsConnectionsAndServesOnThenDrainsCleanly()
    {
        using var server = CliProcess.Start("serve echo --port 0");
        var endPoint = await server.ListeningAsync();
        using var held = await Loopback.ConnectAsync(endPoint);
        await EchoAsync(held);

        await SighupAsync(server, server.Id, "nothing to reload (no TLS)");

        Assert.False(server.HasExited, "SIGHUP ended the server");
        await EchoAsync(held);
        using (var fresh = await Loopback.ConnectAsync(endPoint))
        {
            await EchoAsync(fresh);
        }

        server.Signal("TERM");
        Assert.Equal(SocketError.Success, await held.ReceiveEndAsync());
        Assert.Equal(0, await server.WaitForExitAsync());

        // The held connection drains; the fresh one may not have been reaped yet when SIGTERM lands
        // (its close races the signal), so it may count as drained too — but nothing is aborted.
        Assert.Matches(@"stopped: [12] drained, 0 aborted", server.Stdout);
    }

    [Fact]
    public async Task UdpEchoServerLogsThatNothingIsReloadableAndGoesOnEchoing()
    {
        using var server = CliProcess.Start("serve udp-echo --port 0 --drain-timeout 2s");
        var endPoint = await server.ListeningAsync();
        using var client = UdpLoopback.Connect(endPoint);
        Assert.Equal("one"u8.ToArray(), await client.RoundTripAsync("one"u8.ToArray()));

        await SighupAsync(server, server.Id, "nothing to reload (a UDP echo server has no certificates)");

        Assert.False(server.HasExited, "SIGHUP ended the server");
        Assert.Equal("two"u8.ToArray(), await client.RoundTripAsync("two"u8.ToArray()));
        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("2 datagrams in, 2 out", server.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigServerLogsSighupForItsListenersAndServesOnBothOfThem()
    {
        var config = Path.Combine(_directory, "sockeye.json");
        File.WriteAllText(config, """
            { "Sockeye": { "Listeners": {
                "echo": { "Protocol": "echo", "Host": "127.0.0.1", "Port": 0 },
                "dgram": { "Protocol": "udp-echo", "Host": "127.0.0.1", "Port": 0 } } } }
            """);
        using var server = CliProcess.Start($"serve --config {config} --drain-timeout 5s");
        await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => ListenerLine().Count(server.Stdout) == 2, "both listeners listen");
        var endPoints = ListenerLine().Matches(server.Stdout).ToDictionary(m => m.Groups[1].Value, m => IPEndPoint.Parse(m.Groups[2].Value));
        var endPoint = endPoints["echo"];
        var udpEndPoint = endPoints["dgram"];
        using var held = await Loopback.ConnectAsync(endPoint);
        await EchoAsync(held);

        await SighupAsync(server, server.Id, "nothing to reload (none of the 2 listeners serves TLS)");

        Assert.False(server.HasExited, "SIGHUP ended the server");
        await EchoAsync(held);
        using (var client = UdpLoopback.Connect(udpEndPoint))
        {
            Assert.Equal("dgram"u8.ToArray(), await client.RoundTripAsync("dgram"u8.ToArray()));
        }

        server.Signal("TERM");
        Assert.Equal(SocketError.Success, await held.ReceiveEndAsync());
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("stopped: 1 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SighupDuringADrainIsLoggedAndTheDrainStillEndsCleanly()
    {
        using var server = CliProcess.Start("serve echo --port 0 --drain-timeout 30s");
        var endPoint = await server.ListeningAsync();

        // A client that sends without reading: once the buffers are full the server's echo blocks in
        // its flush, and with it the drain, until the client reads.
        using var client = await Loopback.ConnectAsync(endPoint);
        var chunk = new byte[64 * 1024];
        Random.Shared.NextBytes(chunk);
        long sent = 0;
        using var stopSending = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            try
            {
                while (sent < 1L << 30)
                {
                    sent += await client.SendAsync(chunk, SocketFlags.None, stopSending.Token);
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The server ended the connection, or the test stopped sending.
            }
        });
        await Loopback.EventuallyAsync(() => StalledFor(() => Interlocked.Read(ref sent), TimeSpan.FromMilliseconds(300)), "the client's sends stall");

        server.Signal("TERM");
        await Loopback.EventuallyAsync(() => server.Stdout.Contains("SIGTERM received; draining", StringComparison.Ordinal), "the drain began");
        await SighupAsync(server, server.Id, "nothing to reload (no TLS) (while draining)");
        Assert.False(server.HasExited, "SIGHUP ended the draining server");

        // Now read: the handler's flush completes, it sees the drain, echoes what it had and returns.
        await stopSending.CancelAsync();
        var received = 0L;
        var buffer = new byte[64 * 1024];
        var end = SocketError.Success;
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        try
        {
            int n;
            while ((n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                for (var i = 0; i < n; i++)
                {
                    Assert.Equal(chunk[(int)((received + i) % chunk.Length)], buffer[i]);
                }

                received += n;
            }
        }
        catch (SocketException ex)
        {
            end = ex.SocketErrorCode; // the bytes the client sent after the handler returned were never read
        }

        await sending.WaitAsync(Loopback.Patience);
        Assert.True(received > 0, "nothing was echoed");
        Assert.True(end is SocketError.Success or SocketError.ConnectionReset, $"the connection ended with {end}");
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("stopped: 1 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Whether <paramref name="read"/> stays the same for <paramref name="period"/>.</summary>
    private static bool StalledFor(Func<long> read, TimeSpan period)
    {
        var before = read();
        Thread.Sleep(period);
        return read() == before && before > 0;
    }

    /// <summary>Sends SIGHUP to <paramref name="server"/> and waits for process <paramref name="pid"/>'s
    /// log line about it, which must say <paramref name="outcome"/> (or start with it).</summary>
    private static async Task SighupAsync(CliProcess server, int pid, string outcome, bool exact = true)
    {
        var before = SighupLines(server, pid).Count;
        server.Signal("HUP");
        await Loopback.EventuallyAsync(() => SighupLines(server, pid).Count > before, $"process {pid} logged the SIGHUP");
        var line = SighupLines(server, pid)[before];
        Assert.True(exact ? line.EndsWith(outcome, StringComparison.Ordinal) : line.Contains(outcome, StringComparison.Ordinal), $"SIGHUP log line: {line}");
    }

    /// <summary>Process <paramref name="pid"/>'s SIGHUP log lines (event 1400), in order.</summary>
    private static List<string> SighupLines(CliProcess server, int pid) =>
        [.. server.Stderr.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Contains($"[1400] SIGHUP received (pid {pid}): ", StringComparison.Ordinal))];

    private static async Task EchoAsync(Socket client)
    {
        var message = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        await client.SendAllAsync(message);
        Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length));
    }

    [GeneratedRegex(@"Worker \d+ started \(pid (\d+)\)")]
    private static partial Regex WorkerStarted();

    [GeneratedRegex(@"listener (\w+) \([\w-]+\) listening on (\S+)")]
    private static partial Regex ListenerLine();
}
