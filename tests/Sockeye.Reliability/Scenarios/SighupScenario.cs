using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Security;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 10, SIGHUP (issue 23): each kind of <c>sockeye serve</c> process — serve echo, serve echo
/// over TLS, serve udp-echo, serve --config, serve echo --processes 2 — gets five SIGHUPs, 300 ms
/// apart, while four clients keep round-tripping (TCP clients reconnect every 20 round trips, so
/// accepts and TLS handshakes fall between and across the reloads). Before each SIGHUP over TLS the
/// certificate files are rewritten with the other of two certificates. No round trip may fail, every
/// SIGHUP is logged once by every process it reaches, no process is replaced (same PIDs, no worker
/// restarted), and SIGTERM afterwards drains cleanly with exit 0. Under a supervisor SIGHUP means a
/// rolling restart (issue 21): the supervisor logs each SIGHUP (the first starts the restart, later
/// ones during it are ignored; one that comes after a restart has finished starts another), both
/// workers are replaced, and a connection may end between round trips by its old worker's drain
/// (counted apart, at most one per client per replaced worker); no other round trip may fail.
/// </summary>
public sealed partial class SighupScenario(ITestOutputHelper output) : IDisposable
{
    private const int Sighups = 5;
    private const int Clients = 4;
    private const int RoundTripsPerConnection = 20;
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(300);

    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-sighup-scenario-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("serve echo")]
    [InlineData("serve echo --tls")]
    [InlineData("serve udp-echo")]
    [InlineData("serve --config")]
    [InlineData("serve echo --processes 2")]
    public async Task FiveSighupsWhileClientsRoundTripFailNoRoundTripReplaceNoProcessAndTheServerDrainsCleanly(string kind)
    {
        using var first = TestCertificates.Create("first.test");
        using var second = TestCertificates.Create("second.test");
        var (certificate, key) = TestCertificates.WritePem(first, _directory, "server");
        var udp = kind == "serve udp-echo";
        var tls = kind == "serve echo --tls";
        var workers = kind.EndsWith("--processes 2", StringComparison.Ordinal) ? 2 : 0;
        using var server = CliProcess.Start(kind switch
        {
            "serve echo --tls" => $"serve echo --port 0 --tls-cert {certificate} --tls-key {key}",
            "serve udp-echo" => "serve udp-echo --port 0",
            "serve --config" => $"serve --config {WriteConfig()}",
            _ => $"{kind} --port 0",
        });
        var endPoint = await server.ListeningAsync();
        if (kind == "serve --config")
        {
            // The UDP listener may print its line first: the clients use the TCP one.
            await Loopback.EventuallyAsync(() => EchoListenerLine().IsMatch(server.Stdout), "the echo listener listens");
            endPoint = IPEndPoint.Parse(EchoListenerLine().Match(server.Stdout).Groups[1].Value);
        }

        int[] workerPids = [];
        if (workers > 0)
        {
            await Loopback.EventuallyAsync(() => WorkerStarted().Count(server.Stderr) == workers, "every worker's start is logged");
            workerPids = [.. WorkerStarted().Matches(server.Stderr).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];
        }

        // Workers are replaced by the supervisor's rolling restart, not signalled: only the supervisor logs SIGHUP.
        int[] processes = [server.Id];
        var counts = new Counts();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, Clients).Select(i => Task.Run(() => udp ? UdpClientAsync(endPoint, i, counts, stop.Token) : TcpClientAsync(endPoint, tls, workers > 0, i, counts, stop.Token))).ToArray();
        await Loopback.EventuallyAsync(() => Volatile.Read(ref counts.Ok) >= 200, "the clients are round-tripping");

        var toLog = new List<TimeSpan>();
        for (var i = 1; i <= Sighups; i++)
        {
            if (tls)
            {
                TestCertificates.WritePem(i % 2 == 1 ? second : first, _directory, "server");
            }

            var signalled = Stopwatch.GetTimestamp();
            server.Signal("HUP");
            var round = i;
            await Loopback.EventuallyAsync(() => processes.All(pid => SighupLines(server, pid).Count >= round), $"SIGHUP {i} is logged by every process");
            toLog.Add(Stopwatch.GetElapsedTime(signalled));
            await Task.Delay(Pause);
        }

        if (workers > 0)
        {
            await Loopback.EventuallyAsync(() => server.Stderr.Contains($"Rolling restart done: {workers} of {workers} workers replaced", StringComparison.Ordinal),
                "the rolling restart finished", within: TimeSpan.FromSeconds(90));
        }

        var okAfterSighups = Volatile.Read(ref counts.Ok);
        await Loopback.EventuallyAsync(() => Volatile.Read(ref counts.Ok) >= okAfterSighups + 200, "the clients go on round-tripping after the SIGHUPs");
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(Loopback.Patience);

        string? servedAtEnd = null;
        if (tls)
        {
            await using var last = await TestCertificates.ConnectAsync(endPoint);
            servedAtEnd = last.ServerCertificate.Subject;
        }

        var alive = processes.Count(pid => Directory.Exists($"/proc/{pid}"));
        await Loopback.EventuallyAsync(() => workerPids.All(pid => !Directory.Exists($"/proc/{pid}")), "the replaced workers exited");
        var restarts = workers > 0 ? WorkerStarted().Count(server.Stderr) - workers : 0;
        var lines = processes.Select(pid => SighupLines(server, pid)).ToArray();
        // A rolling restart can finish (here in about half a second) before the next SIGHUP, 300 ms
        // later, arrives: that one starts another, so the workers may be replaced more than once.
        var replaced = workers * RollingRestartDone().Count(server.Stderr);
        server.Signal("TERM");
        var exitCode = await server.WaitForExitAsync();
        var stopped = server.Stdout.Split('\n').LastOrDefault(l => l.Contains("stopped:", StringComparison.Ordinal))?.Trim() ?? "(no stop line)";

        Record("round trips ok / failed", $"{counts.Ok} / {counts.Failed}{(counts.FirstFailure is { } why ? $" (first: {why})" : "")}");
        if (!udp)
        {
            Record("connections opened", counts.Connections);
        }

        Record("SIGHUPs sent / log lines per process", $"{Sighups} / {string.Join(", ", lines.Select((l, i) => $"pid {processes[i]}: {l.Count}"))}");
        Record("SIGHUP to its last log line, max", Support.Measure.Ms(toLog.Max()));
        Record("what the last SIGHUP did", string.Join(" | ", lines.Select(l => l[^1][(l[^1].IndexOf("): ", StringComparison.Ordinal) + 3)..])));
        Record("processes alive after the SIGHUPs / worker restarts", $"{alive} of {processes.Length} / {restarts}");
        if (workers > 0)
        {
            Record("workers replaced by rolling restarts / connections ended by a drain", $"{replaced} / {counts.DrainEnds}");
        }
        if (servedAtEnd is not null)
        {
            Record("certificate served after the last SIGHUP", servedAtEnd);
        }

        Record("exit after SIGTERM", $"{exitCode}; {stopped}");

        Assert.Equal(0, counts.Failed);
        Assert.All(lines, l => Assert.Equal(Sighups, l.Count));
        Assert.All(lines.SelectMany(l => l), l => Assert.DoesNotContain("failed", l, StringComparison.Ordinal));
        if (tls)
        {
            Assert.All(lines[0], l => Assert.EndsWith("TLS certificates reloaded", l, StringComparison.Ordinal));
            Assert.Equal(second.Subject, servedAtEnd); // the fifth SIGHUP followed the second certificate
        }

        Assert.Equal(processes.Length, alive);
        Assert.True(counts.DrainEnds <= Clients * replaced, $"{counts.DrainEnds} connections ended by a drain, more than one per client per replaced worker ({replaced} replaced)");
        Assert.Equal(0, restarts);
        Assert.Equal(0, exitCode);

        void Record(string figure, object value) => Support.Scenario.Record(output, $"10 SIGHUP ({kind})", figure, value);
    }

    private string WriteConfig()
    {
        var path = Path.Combine(_directory, "sockeye.json");
        File.WriteAllText(path, """
            { "Sockeye": { "Listeners": {
                "echo": { "Protocol": "echo", "Host": "127.0.0.1", "Port": 0 },
                "dgram": { "Protocol": "udp-echo", "Host": "127.0.0.1", "Port": 0 } } } }
            """);
        return path;
    }

    /// <summary>Round trips of 64 bytes, 5 ms apart, on a new connection every
    /// <see cref="RoundTripsPerConnection"/>, until <paramref name="stop"/>.</summary>
    private static async Task TcpClientAsync(IPEndPoint endPoint, bool tls, bool drained, int client, Counts counts, CancellationToken stop)
    {
        var message = new byte[64];
        while (!stop.IsCancellationRequested)
        {
            try
            {
                Func<byte[], Task<byte[]>> roundTrip;
                IAsyncDisposable connection;
                if (tls)
                {
                    var tlsClient = await TestCertificates.ConnectAsync(endPoint);
                    connection = tlsClient;
                    roundTrip = async m =>
                    {
                        await tlsClient.SendAsync(m);
                        return await tlsClient.ReceiveExactlyAsync(m.Length);
                    };
                }
                else
                {
                    var socket = await Loopback.ConnectAsync(endPoint);
                    connection = new SocketScope(socket);
                    roundTrip = async m =>
                    {
                        await socket.SendAllAsync(m);
                        return await socket.ReceiveExactlyAsync(m.Length);
                    };
                }

                Interlocked.Increment(ref counts.Connections);
                await using (connection)
                {
                    for (var i = 0; i < RoundTripsPerConnection && !stop.IsCancellationRequested; i++)
                    {
                        Random.Shared.NextBytes(message);
                        counts.Note((await roundTrip(message)).AsSpan().SequenceEqual(message), "a reply differed from its request");
                        await Task.Delay(5, CancellationToken.None);
                    }
                }
            }
            catch (Exception ex) when (drained && (ex is EndOfStreamException || ex is SocketException { SocketErrorCode: SocketError.ConnectionReset }))
            {
                // The old worker's drain closed the connection between round trips (a request sent after
                // its FIN is answered by a reset): the client reconnects, to the new generation.
                Interlocked.Increment(ref counts.DrainEnds);
            }
            catch (Exception ex) when (ex is SocketException or IOException or TimeoutException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
            {
                counts.Note(false, $"client {client}: {ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    /// <summary>Datagram round trips of 64 bytes, 5 ms apart, each answered within 2 s, until <paramref name="stop"/>.</summary>
    private static async Task UdpClientAsync(IPEndPoint endPoint, int client, Counts counts, CancellationToken stop)
    {
        using var socket = UdpLoopback.Connect(endPoint);
        var message = new byte[64];
        while (!stop.IsCancellationRequested)
        {
            Random.Shared.NextBytes(message);
            try
            {
                counts.Note((await socket.RoundTripAsync(message, TimeSpan.FromSeconds(2))).AsSpan().SequenceEqual(message), "a reply differed from its datagram");
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException)
            {
                counts.Note(false, $"client {client}: {ex.GetType().Name}: {ex.Message}");
            }

            await Task.Delay(5, CancellationToken.None);
        }
    }

    /// <summary>Process <paramref name="pid"/>'s SIGHUP log lines (event 1400), in order.</summary>
    private static List<string> SighupLines(CliProcess server, int pid) =>
        [.. server.Stderr.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Contains($"[1400] SIGHUP received (pid {pid}): ", StringComparison.Ordinal))];

    [GeneratedRegex(@"Worker \d+ started \(pid (\d+)\)")]
    private static partial Regex WorkerStarted();

    [GeneratedRegex(@"Rolling restart done: \d+ of \d+ workers replaced")]
    private static partial Regex RollingRestartDone();

    [GeneratedRegex(@"listener echo \(echo\) listening on (\S+)")]
    private static partial Regex EchoListenerLine();

    private sealed class Counts
    {
        public long Ok;
        public long Failed;
        public long Connections;
        public long DrainEnds;
        public string? FirstFailure;

        public void Note(bool ok, string why)
        {
            if (ok)
            {
                Interlocked.Increment(ref Ok);
            }
            else if (Interlocked.Increment(ref Failed) == 1)
            {
                FirstFailure = why;
            }
        }
    }

    private sealed class SocketScope(Socket socket) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
