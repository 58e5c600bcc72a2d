using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Scale;

public partial class RollingRestartTests
{
    [Fact]
    public async Task SighupReplacesEveryWorkerWithoutRefusingOrResettingAConnection()
    {
        using var cli = CliProcess.Start("serve echo --processes 2 --port 0 --drain-timeout 5s");
        var endPoint = await cli.ListeningAsync();
        await Loopback.EventuallyAsync(() => Started().Count(cli.Stderr) == 2, "both workers started");
        var firstGeneration = Started().Matches(cli.Stderr).Select(m => m.Groups[2].Value).ToHashSet();

        // Long-lived connections on the old workers: each must end by its worker's drain (FIN), not a reset.
        var held = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            var client = await Loopback.ConnectAsync(endPoint);
            await client.SendAllAsync(new byte[] { (byte)i });
            await client.ReceiveExactlyAsync(1);
            return client;
        }));

        // New connections all along: connect, one round trip, close. Any failure is a lost connection.
        using var stop = new CancellationTokenSource();
        var served = 0L;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var churn = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => RestartChurn.RunAsync(endPoint, () => Interlocked.Increment(ref served), failures, stop.Token)));
        await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > 100, "the churn is running");

        cli.Signal("HUP");
        var ends = await Task.WhenAll(held.Select(c => c.ReceiveEndAsync(TimeSpan.FromSeconds(60))));
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("Rolling restart done: 2 of 2 workers replaced", StringComparison.Ordinal),
            "the rolling restart finished", within: TimeSpan.FromSeconds(90));
        await Loopback.EventuallyAsync(() => Retired().Count(cli.Stderr) == 2, "both old workers drained and exited", within: TimeSpan.FromSeconds(30));
        var after = Interlocked.Read(ref served);
        await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > after + 100, "the new generation serves");
        await stop.CancelAsync();
        await churn.WaitAsync(Loopback.Patience);

        Assert.All(ends, end => Assert.Equal(SocketError.Success, end));
        Assert.True(failures.IsEmpty, $"{failures.Count} of {served + failures.Count} new connections failed across the restart: {string.Join("; ", failures.Take(5))}");
        var retired = Retired().Matches(cli.Stderr).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Equal(firstGeneration, retired);
        Assert.All(Retired().Matches(cli.Stderr), m => Assert.Equal("exited with code 0", m.Groups[2].Value));
        foreach (var client in held)
        {
            client.Dispose();
        }

        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
        Assert.Contains("2 of 2 workers drained cleanly", cli.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondSighupDuringARollingRestartIsIgnoredAndSaysSo()
    {
        using var cli = CliProcess.Start("serve echo --processes 1 --port 0 --drain-timeout 5s");
        await cli.ListeningAsync();

        cli.Signal("HUP");
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("rolling restart of 1 workers started", StringComparison.Ordinal), "the restart began");
        cli.Signal("HUP");
        await Loopback.EventuallyAsync(() => cli.Stderr.Contains("Rolling restart done: 1 of 1", StringComparison.Ordinal), "the restart finished", within: TimeSpan.FromSeconds(60));

        Assert.Contains("a rolling restart or an upgrade is already under way; this one is ignored", cli.Stderr, StringComparison.Ordinal);
        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [GeneratedRegex(@"Worker (\d+) started \(pid (\d+)\)")]
    private static partial Regex Started();

    [GeneratedRegex(@"Worker \d+ \(pid (\d+)\) retired: ([^\r\n]+)")]
    private static partial Regex Retired();
}
