using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Cli.Commands;
using Sockeye.Cli.Commands.Supervision;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Scale;

public partial class SupervisorTests
{
    [Fact]
    public async Task KilledWorkerIsRestartedAndTheServerKeepsServing()
    {
        using var cli = CliProcess.Start("serve echo --processes 2 --port 0 --drain-timeout 5s");
        var endPoint = await cli.ListeningAsync();
        var victim = await WorkerPidAsync(cli, slot: 1);

        using var stopLoad = new CancellationTokenSource();
        var served = 0L;
        var load = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => LoadLoopAsync(endPoint, () => Interlocked.Increment(ref served), stopLoad.Token)));
        await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > 200, "the load is running");

        using (var kill = System.Diagnostics.Process.Start("kill", $"-KILL {victim}"))
        {
            await kill.WaitForExitAsync().WaitAsync(Loopback.Patience);
        }

        await Loopback.EventuallyAsync(() => cli.Stderr.Contains($"Worker 1 (pid {victim}) died", StringComparison.Ordinal), "the supervisor saw the death");
        Assert.Matches($@"Worker 1 \(pid {victim}\) died after [^:]+: killed by SIGKILL \(exit status 137\); restarting it in", cli.Stderr);
        var successor = await WorkerPidAsync(cli, slot: 1, after: victim);
        await Loopback.EventuallyAsync(() => cli.Stdout.Contains($"worker 1 (pid {successor}): ready", StringComparison.Ordinal), "the new worker listens");

        // Serving went on through the death, and goes on now.
        var before = Interlocked.Read(ref served);
        await Loopback.EventuallyAsync(() => Interlocked.Read(ref served) > before + 200, "round trips continue after the restart");
        await stopLoad.CancelAsync();
        await load.WaitAsync(Loopback.Patience);
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => EchoOnceAsync(endPoint)));

        cli.Signal("TERM");
        Assert.Equal(0, await cli.WaitForExitAsync());
    }

    [Fact]
    public async Task SigtermToTheSupervisorDrainsEveryWorkerAndExitsZero()
    {
        using var cli = CliProcess.Start("serve echo --processes 2 --port 0 --drain-timeout 10s");
        var endPoint = await cli.ListeningAsync();
        var workers = new[] { await WorkerPidAsync(cli, slot: 1), await WorkerPidAsync(cli, slot: 2) };

        // Idle connections held open across the stop: each must be closed by a drain, not an abort.
        var clients = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            var client = await Loopback.ConnectAsync(endPoint);
            await client.SendAllAsync(new byte[] { 7 });
            await client.ReceiveExactlyAsync(1);
            return client;
        }));

        cli.Signal("TERM");
        var ends = await Task.WhenAll(clients.Select(c => c.ReceiveEndAsync()));
        Assert.Equal(0, await cli.WaitForExitAsync());

        Assert.All(ends, end => Assert.Equal(SocketError.Success, end)); // FIN, not RST
        var stopped = StoppedLine().Matches(cli.Stdout);
        Assert.Equal(2, stopped.Count);
        Assert.Equal(40, stopped.Sum(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)));
        Assert.All(stopped, m => Assert.Equal("0", m.Groups[2].Value));
        Assert.Contains("2 of 2 workers drained cleanly", cli.Stdout, StringComparison.Ordinal);
        Assert.All(workers, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"worker {pid} is still running"));
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task PortHeldByAnotherServerIsRefusedBeforeAnyWorkerStarts()
    {
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen();
        var port = ((IPEndPoint)other.LocalEndPoint!).Port;

        var (code, _, stderr) = await CliProcess.RunAsync($"serve echo --processes 2 --port {port}");

        Assert.Equal(1, code);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}: the address is already in use", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Worker 1 started", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkersThatKeepCrashingMakeTheSupervisorExitNonZero()
    {
        // The supervisor binds the server's port, but the worker's own metrics port is held: every worker
        // fails its start, again and again.
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen();
        var port = ((IPEndPoint)other.LocalEndPoint!).Port;

        var (code, _, stderr) = await CliProcess.RunAsync($"serve echo --processes 1 --port 0 --metrics-port {port}");

        Assert.Equal(Supervisor.CrashLoopExitCode, code);
        Assert.Contains($"died {Supervisor.MaxQuickFailures} times in a row", stderr, StringComparison.Ordinal);
        Assert.Contains("exited with code 1", stderr, StringComparison.Ordinal);
        Assert.Contains($"cannot serve metrics on 127.0.0.1:{port}", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve echo --processes 3 --port 7000 --max-connections 5", "serve echo --max-connections 5")]
    [InlineData("serve echo --max-connections=5 --processes=3 -p 7000 --framing line", "serve echo --max-connections 5 --framing line")]
    [InlineData("serve echo --share-port --processes 2", "serve echo")]
    [InlineData("serve echo --processes 2 --ready-timeout 5s --acceptors 2", "serve echo")]
    public void WorkersGetTheSameCommandOnTheSupervisorsSocketWithoutProcesses(string commandLine, string expected)
    {
        var root = new RootCommand { ServeCommand.Create() };
        var parse = root.Parse(commandLine);
        Assert.Empty(parse.Errors);

        var arguments = SuperviseRunner.WorkerArguments(parse.Tokens, listenFd: 5, slot: 2, metricsPort: null);

        Assert.Equal($"{expected} --listen-fd 5 {ScaleOptions.SupervisedOption}", string.Join(' ', arguments));
    }

    [Theory]
    [InlineData(1, 9100, "9100")]
    [InlineData(3, 9100, "9102")]
    public void EachWorkerServesItsMetricsOnItsOwnPort(int slot, int metricsPort, string expected)
    {
        var root = new RootCommand { ServeCommand.Create() };
        var parse = root.Parse($"serve echo --processes 3 --metrics-port {metricsPort}");
        Assert.Empty(parse.Errors);

        var arguments = SuperviseRunner.WorkerArguments(parse.Tokens, 41000, slot, metricsPort);

        Assert.Single(arguments, a => a == "--metrics-port");
        Assert.Equal(expected, arguments[arguments.IndexOf("--metrics-port") + 1]);
    }

    [Fact]
    public async Task ProcessesWithAUnixSocketIsRefused()
    {
        var (code, _, stderr) = await CliProcess.RunAsync("serve echo --processes 2 --unix /tmp/sockeye-never.sock");

        Assert.Equal(2, code);
        Assert.Contains("--processes needs TCP", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "exited with code 0")]
    [InlineData(3, "exited with code 3")]
    [InlineData(137, "killed by SIGKILL (exit status 137)")]
    [InlineData(143, "killed by SIGTERM (exit status 143)")]
    public void ExitStatusIsDescribedInWords(int status, string expected) =>
        Assert.Equal(expected, Supervisor.DescribeExit(status));

    private static async Task<int> WorkerPidAsync(CliProcess cli, int slot, int? after = null)
    {
        int? pid = null;
        await Loopback.EventuallyAsync(() =>
        {
            var pids = WorkerStarted().Matches(cli.Stderr)
                .Where(m => m.Groups[1].Value == slot.ToString(CultureInfo.InvariantCulture))
                .Select(m => int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))
                .ToList();
            pid = pids.Count > 0 && pids[^1] != after ? pids[^1] : null;
            return pid is not null;
        }, $"worker {slot} started");
        return pid!.Value;
    }

    /// <summary>New connections, ten paced round trips each, until stopped; failures (the worker died under
    /// this connection) are expected and ignored: the caller counts what was served.</summary>
    private static async Task LoadLoopAsync(EndPoint endPoint, Action served, CancellationToken stop)
    {
        var message = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var client = await Loopback.ConnectAsync(endPoint);
                for (var i = 0; i < 10; i++)
                {
                    await client.SendAllAsync(message);
                    if ((await client.ReceiveExactlyAsync(message.Length, TimeSpan.FromSeconds(5))).SequenceEqual(message))
                    {
                        served();
                    }

                    // Steady load, not a busy loop: the other test assemblies run beside this one.
                    await Task.Delay(2, CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException or OperationCanceledException or TimeoutException)
            {
                await Task.Delay(10, CancellationToken.None);
            }
        }
    }

    private static async Task EchoOnceAsync(EndPoint endPoint)
    {
        using var client = await Loopback.ConnectAsync(endPoint);
        await client.SendAllAsync(new byte[] { 9, 8, 7 });
        Assert.Equal(new byte[] { 9, 8, 7 }, await client.ReceiveExactlyAsync(3));
    }

    [GeneratedRegex(@"Worker (\d+) started \(pid (\d+)\)")]
    private static partial Regex WorkerStarted();

    [GeneratedRegex(@"worker \d+ \(pid \d+\): stopped: (\d+) drained, (\d+) aborted")]
    private static partial Regex StoppedLine();
}
