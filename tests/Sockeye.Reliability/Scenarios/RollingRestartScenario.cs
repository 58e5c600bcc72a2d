using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 14, restarts without downtime (issue 21): while new connections arrive all the time
/// (connect, one 16-byte echo, close; 8 clients, unpaced) and 1,000 long-lived connections sit idle,
/// every worker of <c>sockeye serve echo --processes 2</c> is replaced by a rolling restart (SIGHUP),
/// then the supervisor itself by a binary upgrade (SIGUSR2: a new supervisor on the inherited socket).
/// The workers accept on the one listening socket, so no new connection may be refused or reset, and
/// every long-lived connection must end by its worker's drain (FIN, not RST) and be served again by
/// the new generation. The same load across a naive restart (two separate
/// <c>--share-port</c> servers, each stopped and started again in turn) is measured beside it: what
/// it loses is what the shared socket saves (docs/SCALE.md quotes both).
/// </summary>
public sealed partial class RollingRestartScenario(ITestOutputHelper output)
{
    private const int LongLived = 1_000;
    private const int ChurnClients = 8;

    [Fact]
    public async Task RollingRestartThenBinaryUpgradeUnderChurnRefuseAndResetNothingAndDrainEveryLongLivedConnection()
    {
        using var server = CliProcess.Start("serve echo --processes 2 --port 0 --drain-timeout 10s --max-connections 5000");
        var endPoint = await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => server.Stdout.Split('\n').Count(l => l.Contains("): ready", StringComparison.Ordinal)) == 2, "both workers ready");

        var held = await ConnectLongLivedAsync(endPoint);
        using var churn = new Churn(endPoint);
        churn.Start();
        await Loopback.EventuallyAsync(() => churn.Ok > 500, "the churn is running");

        var signalled = Stopwatch.GetTimestamp();
        server.Signal("HUP");
        var ends = await Task.WhenAll(held.Select(c => c.ReceiveEndAsync(TimeSpan.FromSeconds(90))));
        await Loopback.EventuallyAsync(() => server.Stderr.Contains("Rolling restart done: 2 of 2 workers replaced", StringComparison.Ordinal),
            "the rolling restart finished", within: TimeSpan.FromSeconds(120));
        var restartTook = Stopwatch.GetElapsedTime(signalled);
        await Loopback.EventuallyAsync(() => Retired().Count(server.Stderr) == 2, "both old workers exited", within: TimeSpan.FromSeconds(60));
        var okAtEnd = churn.Ok;
        await Loopback.EventuallyAsync(() => churn.Ok > okAtEnd + 500, "the new generation serves the churn");
        foreach (var client in held)
        {
            client.Dispose();
        }

        // A reconnecting long-lived client is served by the new generation, and held across the upgrade.
        var again = await ConnectLongLivedAsync(endPoint);
        var (okBeforeUpgrade, failedBeforeUpgrade) = (churn.Ok, churn.FailedCount);
        signalled = Stopwatch.GetTimestamp();
        server.Signal("USR2");
        await Loopback.EventuallyAsync(() => Upgraded().IsMatch(server.Stderr), "the new supervisor reports ready", within: TimeSpan.FromSeconds(120));
        var successor = int.Parse(Upgraded().Match(server.Stderr).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var upgradeEnds = await Task.WhenAll(again.Select(c => c.ReceiveEndAsync(TimeSpan.FromSeconds(90))));
        await Loopback.EventuallyAsync(() => server.HasExited, "the old supervisor exits", within: TimeSpan.FromSeconds(60));
        var upgradeTook = Stopwatch.GetElapsedTime(signalled);
        okAtEnd = churn.Ok;
        await Loopback.EventuallyAsync(() => churn.Ok > okAtEnd + 500, "the upgraded supervisor's workers serve the churn");
        var (ok, failed, rate) = await churn.StopAsync();
        foreach (var client in again)
        {
            client.Dispose();
        }

        var last = await ConnectLongLivedAsync(endPoint);
        foreach (var client in last)
        {
            client.Dispose();
        }

        using (var term = Process.Start("kill", $"-TERM {successor}"))
        {
            await term.WaitForExitAsync().WaitAsync(Loopback.Patience);
        }

        await Loopback.EventuallyAsync(() => !Directory.Exists($"/proc/{successor}"), "the upgraded supervisor drains and exits", within: TimeSpan.FromSeconds(60));
        var exitCode = await server.WaitForExitAsync();

        var graceful = ends.Count(e => e == SocketError.Success);
        Record("churn new connections ok / failed, rolling restart", $"{okBeforeUpgrade} / {failedBeforeUpgrade}");
        Record("churn new connections ok / failed, whole run (restart + upgrade)", $"{ok} / {failed.Count}{(failed.IsEmpty ? "" : $" (first: {failed.First()})")}");
        Record("churn rate, connections per second", rate.ToString("F0", System.Globalization.CultureInfo.InvariantCulture));
        Record("long-lived connections ended by FIN / RST or other", $"{graceful} / {LongLived - graceful}");
        Record("SIGHUP to rolling restart done", Support.Measure.Ms(restartTook));
        Record("old workers' exits", string.Join("; ", Retired().Matches(server.Stderr).Select(m => m.Groups[1].Value)));
        Record("reconnected long-lived clients served, then ended by FIN at the upgrade", $"{again.Length}, {upgradeEnds.Count(e => e == SocketError.Success)}");
        Record("SIGUSR2 to the old supervisor's exit", Support.Measure.Ms(upgradeTook));
        Record("clients served by the upgraded supervisor", last.Length);
        Record("old supervisor's exit (drained its workers)", exitCode);

        Assert.Empty(failed);
        Assert.Equal(LongLived, graceful);
        Assert.All(upgradeEnds, e => Assert.Equal(SocketError.Success, e));
        Assert.Contains($"upgraded: supervisor pid {successor} serves now", server.Stdout, StringComparison.Ordinal);
        Assert.All(Retired().Matches(server.Stderr), m => Assert.Equal("exited with code 0", m.Groups[1].Value));
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task NaiveRestartOfSeparateReusePortServersIsMeasuredBesideIt()
    {
        var port = Loopback.FreePort();
        var arguments = $"serve echo --port {port} --share-port --acceptors 1 --drain-timeout 10s --max-connections 5000";
        var servers = new[] { CliProcess.Start(arguments), CliProcess.Start(arguments) };
        try
        {
            foreach (var s in servers)
            {
                await s.ListeningAsync();
            }

            var endPoint = new IPEndPoint(IPAddress.Loopback, port);
            using var churn = new Churn(endPoint);
            churn.Start();
            await Loopback.EventuallyAsync(() => churn.Ok > 500, "the churn is running");

            // Stop one, start its replacement, then the other: the nginx-before-1.19 reload, one process at a time.
            for (var i = 0; i < servers.Length; i++)
            {
                servers[i].Signal("TERM");
                await servers[i].WaitForExitAsync();
                servers[i].Dispose();
                servers[i] = CliProcess.Start(arguments);
                await servers[i].ListeningAsync();
            }

            var okAtEnd = churn.Ok;
            await Loopback.EventuallyAsync(() => churn.Ok > okAtEnd + 500, "the new servers serve the churn");
            var (ok, failed, rate) = await churn.StopAsync();
            Record("naive: churn new connections ok / failed", $"{ok} / {failed.Count}{(failed.IsEmpty ? "" : $" (first: {failed.First()})")}");
            Record("naive: churn rate, connections per second", rate.ToString("F0", System.Globalization.CultureInfo.InvariantCulture));
            Record("naive: failures by kind", string.Join("; ", failed.GroupBy(f => f).Select(g => $"{g.Key}: {g.Count()}")));
            Assert.True(ok > 1_000, $"only {ok} connections were served");
        }
        finally
        {
            foreach (var s in servers)
            {
                s.Signal("TERM");
                s.Dispose();
            }
        }
    }

    private static async Task<Socket[]> ConnectLongLivedAsync(IPEndPoint endPoint)
    {
        var sockets = new List<Socket>(LongLived);
        foreach (var batch in Enumerable.Range(0, LongLived).Chunk(100))
        {
            sockets.AddRange(await Task.WhenAll(batch.Select(async i =>
            {
                var client = await Loopback.ConnectAsync(endPoint);
                await client.SendAllAsync(new byte[] { (byte)i });
                Assert.Equal(new byte[] { (byte)i }, await client.ReceiveExactlyAsync(1));
                return client;
            })));
        }

        return [.. sockets];
    }

    private void Record(string figure, object value) => Support.Scenario.Record(output, "14 rolling restart", figure, value);

    /// <summary>New connections, each one 16-byte echo, from <see cref="ChurnClients"/> loops until stopped;
    /// every failure (refused, reset, short reply) is kept by kind.</summary>
    private sealed class Churn(IPEndPoint endPoint) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<string> _failed = new();
        private Task _loops = Task.CompletedTask;
        private long _ok;
        private long _started;

        public long Ok => Interlocked.Read(ref _ok);

        public int FailedCount => _failed.Count;

        public void Dispose() => _stop.Dispose();

        public void Start()
        {
            _started = Stopwatch.GetTimestamp();
            _loops = Task.WhenAll(Enumerable.Range(0, ChurnClients).Select(_ => Task.Run(LoopAsync)));
        }

        public async Task<(long Ok, ConcurrentQueue<string> Failed, double Rate)> StopAsync()
        {
            await _stop.CancelAsync();
            await _loops.WaitAsync(Loopback.Patience);
            var seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds;
            return (Ok, _failed, (Ok + _failed.Count) / seconds);
        }

        private async Task LoopAsync()
        {
            var message = new byte[16];
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var client = await Loopback.ConnectAsync(endPoint);
                    await client.SendAllAsync(message);
                    await client.ReceiveExactlyAsync(message.Length, TimeSpan.FromSeconds(10));
                    Interlocked.Increment(ref _ok);
                }
                catch (SocketException ex)
                {
                    _failed.Enqueue(ex.SocketErrorCode.ToString());
                }
                catch (Exception ex) when (ex is EndOfStreamException or IOException or TimeoutException)
                {
                    _failed.Enqueue(ex.GetType().Name);
                }
            }
        }
    }

    [GeneratedRegex(@"Upgrade: new supervisor \(pid (\d+)\) reports ready")]
    private static partial Regex Upgraded();

    [GeneratedRegex(@"Worker \d+ \(pid \d+\) retired: ([^\r\n]+)")]
    private static partial Regex Retired();
}
