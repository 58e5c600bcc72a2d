using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Scale;

public partial class BinaryUpgradeTests
{
    [Fact]
    public async Task Sigusr2StartsANewSupervisorOnTheSameSocketThenTheOldOneDrainsAndExits()
    {
        using var cli = CliProcess.Start("serve echo --processes 1 --port 0 --drain-timeout 5s");
        var endPoint = await cli.ListeningAsync();
        int? successor = null;
        try
        {
            var held = await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
            {
                var client = await Loopback.ConnectAsync(endPoint);
                await client.SendAllAsync(new byte[] { (byte)i });
                await client.ReceiveExactlyAsync(1);
                return client;
            }));
            using var stop = new CancellationTokenSource();
            var served = 0L;
            var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var churn = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => RestartChurn.RunAsync(endPoint, () => Interlocked.Increment(ref served), failures, stop.Token)));
            await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > 100, "the churn is running");

            cli.Signal("USR2");
            await Loopback.EventuallyAsync(() => Ready().IsMatch(cli.Stderr), "the new supervisor reports ready", within: TimeSpan.FromSeconds(60));
            successor = int.Parse(Ready().Match(cli.Stderr).Groups[1].Value, CultureInfo.InvariantCulture);
            var ends = await Task.WhenAll(held.Select(c => c.ReceiveEndAsync(TimeSpan.FromSeconds(30))));
            await Loopback.EventuallyAsync(() => cli.HasExited, "the old supervisor exits", within: TimeSpan.FromSeconds(30));
            var after = Interlocked.Read(ref served);
            await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > after + 100, "the new supervisor's worker serves");
            await stop.CancelAsync();
            await churn.WaitAsync(Loopback.Patience);

            Assert.All(ends, end => Assert.Equal(SocketError.Success, end));
            Assert.True(failures.IsEmpty, $"{failures.Count} new connections failed across the upgrade: {string.Join("; ", failures.Take(5))}");
            Assert.Contains($"upgraded: supervisor pid {successor} serves now", cli.Stdout, StringComparison.Ordinal);
            Assert.Contains("1 of 1 workers drained cleanly", cli.Stdout, StringComparison.Ordinal);
            Assert.True(Directory.Exists($"/proc/{successor}"), "the new supervisor is running");
            foreach (var client in held)
            {
                client.Dispose();
            }
        }
        finally
        {
            if (successor is { } pid)
            {
                using var kill = System.Diagnostics.Process.Start("kill", $"-TERM {pid}");
                await kill.WaitForExitAsync();
                await Loopback.EventuallyAsync(() => !Directory.Exists($"/proc/{pid}"), "the new supervisor drains and exits");
            }
        }

        Assert.Contains("sockeye: SIGTERM received; asking 1 workers to drain", cli.Stdout, StringComparison.Ordinal); // the new one's, on the same stdout
    }

    [Fact]
    public async Task UpgradeThatDoesNotReportReadyInTimeIsKilledAndTheOldSupervisorGoesOnServing()
    {
        using var cli = CliProcess.Start("serve echo --processes 1 --port 0 --drain-timeout 5s --ready-timeout 50ms");
        var endPoint = await cli.ListeningAsync();

        cli.Signal("USR2");
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("Upgrade failed", StringComparison.Ordinal), "the upgrade fails");

        Assert.Matches(@"Upgrade failed: the new supervisor \(pid \d+\) did not report ready within 50ms; killed it, and this supervisor goes on serving", cli.Stderr);
        Assert.False(cli.HasExited);
        using (var client = await Loopback.ConnectAsync(endPoint))
        {
            await client.SendAllAsync(new byte[] { 3 });
            Assert.Equal(new byte[] { 3 }, await client.ReceiveExactlyAsync(1));
        }

        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [GeneratedRegex(@"Upgrade: new supervisor \(pid (\d+)\) reports ready")]
    private static partial Regex Ready();
}
