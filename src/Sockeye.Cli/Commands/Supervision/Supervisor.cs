using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>
/// <c>sockeye serve ... --processes N</c>: the nginx model. The supervisor serves no connection itself;
/// it runs N worker processes of the same server on one listening socket that it owns
/// (<see cref="SharedListener"/>; each worker with its own descriptor limit and <c>--max-connections</c>), and:
/// <list type="number">
/// <item>binds the port first (a port another server holds is refused; port 0 becomes a free port),
/// then starts the workers on that socket (<c>--listen-fd</c>), and prints <c>listening on</c> once all listen;</item>
/// <item>restarts a worker that dies, logging why (exit code, or the signal that killed it), after a
/// back-off of 100 ms doubling to 5 s; a worker that lived <see cref="StableAfter"/> resets it;</item>
/// <item>gives up, stops the others and exits 1 when one worker died <see cref="MaxQuickFailures"/>
/// times in a row, each within <see cref="StableAfter"/> of its start;</item>
/// <item>on SIGTERM or SIGINT, sends SIGTERM to every worker, each of which drains within the drain
/// timeout; a worker still running after that plus <see cref="KillGrace"/> is killed. Exits 0 when
/// every worker drained cleanly (exit 0), 1 otherwise;</item>
/// <item>on SIGHUP, replaces the workers one at a time (<see cref="RequestRollingRestart"/>): starts a
/// new one on the same socket, waits until it listens (at most <see cref="ReadyTimeout"/>; one that
/// does not is killed and the old one kept, and the restart stops there), then asks the old one to
/// drain (SIGTERM). New workers read the configuration and certificates afresh. No connection is
/// refused meanwhile: the socket, and its queue, never close.</item>
/// </list>
/// </summary>
/// <remarks>
/// Metrics: workers are whole servers, so each serves its own: with <c>--metrics-port M</c>, worker i
/// on M + i − 1 (see <see cref="SuperviseRunner.WorkerArguments"/>). The supervisor serves no sum;
/// <c>sockeye top --workers N</c> scrapes every worker and adds them up, and the supervisor prints
/// that command once all listen (<see cref="WatchCommand"/>). See docs/SCALE.md.
/// </remarks>
internal sealed partial class Supervisor(int workers, Func<int, IReadOnlyList<string>> workerArguments, IPEndPoint endPoint, TimeSpan drainTimeout, ILogger logger) : IDisposable
{
    /// <summary>A worker that lived this long before dying was healthy: its back-off starts over.</summary>
    public static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(30);

    /// <summary>Deaths in a row, each sooner than <see cref="StableAfter"/>, that make the supervisor give up.</summary>
    public const int MaxQuickFailures = 5;

    /// <summary>How long past the drain timeout a worker may take to exit before it is killed (the server's
    /// own abort of left-over connections takes up to 5 s).</summary>
    public static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(10);

    /// <summary>Exit status when workers kept crashing.</summary>
    public const int CrashLoopExitCode = 1;

    /// <summary>The command that watches every worker at once (<c>sockeye top ...</c>), printed after
    /// the <c>listening on</c> line; <see langword="null"/> (the default) when the workers serve no metrics.</summary>
    public string? WatchCommand { get; init; }

    private static readonly TimeSpan FirstRestartDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private readonly WorkerProcess?[] _running = new WorkerProcess?[workers];
    private readonly int?[] _finalExitCodes = new int?[workers];
    private readonly TaskCompletionSource[] _firstListening = [.. Enumerable.Range(0, workers).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously))];
    private readonly TaskCompletionSource _gaveUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    // Workers replaced by a rolling restart that are still draining: killed with the rest if the final stop times out.
    private readonly HashSet<WorkerProcess> _retiring = [];

    // 1 while a rolling restart runs: one at a time.
    private int _restarting;

    /// <summary>How long a rolling restart waits for each new worker to print its <c>listening on</c> line.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Runs the workers until <paramref name="stopSignal"/> completes or they keep crashing;
    /// returns the exit status.</summary>
    public async Task<int> RunAsync(Task<PosixSignal> stopSignal)
    {
        var slots = Enumerable.Range(0, workers).Select(RunSlotAsync).ToArray();
        var allListening = Task.WhenAll(_firstListening.Select(t => t.Task));
        var first = await Task.WhenAny(allListening, _gaveUp.Task, stopSignal).ConfigureAwait(false);
        if (first == allListening)
        {
            await Console.Out.WriteLineAsync($"sockeye: listening on {endPoint} ({workers} worker processes; supervisor pid {Environment.ProcessId})").ConfigureAwait(false);
            if (WatchCommand is not null)
            {
                await Console.Out.WriteLineAsync($"sockeye: watch all {workers} workers with: {WatchCommand}").ConfigureAwait(false);
            }

            await Console.Out.FlushAsync().ConfigureAwait(false);
            ReportReady();
            await Task.WhenAny(_gaveUp.Task, stopSignal, _upgraded.Task).ConfigureAwait(false);
        }

        var crashLoop = _gaveUp.Task.IsCompleted;
        if (_upgraded.Task.IsCompleted && !stopSignal.IsCompleted && !crashLoop)
        {
            await Console.Out.WriteLineAsync($"sockeye: upgraded: supervisor pid {_upgraded.Task.Result} serves now; asking {workers} workers to drain for up to {Sockeye.Timing.DurationText.Format(drainTimeout)}").ConfigureAwait(false);
        }
        else if (!crashLoop)
        {
            await Console.Out.WriteLineAsync($"sockeye: {await stopSignal.ConfigureAwait(false)} received; asking {workers} workers to drain for up to {Sockeye.Timing.DurationText.Format(drainTimeout)}").ConfigureAwait(false);
        }

        // Stop restarting, then ask every running worker to drain.
        List<WorkerProcess> running;
        lock (_lock)
        {
            _stopping.Cancel();
            running = [.. _running.OfType<WorkerProcess>()];
        }

        SupervisorLog.Draining(logger, running.Count, Sockeye.Timing.DurationText.Format(drainTimeout));
        running.ForEach(worker => worker.Terminate());
        var allEnded = Task.WhenAll(slots);
        var wait = drainTimeout + KillGrace;
        if (await Task.WhenAny(allEnded, Task.Delay(wait)).ConfigureAwait(false) != allEnded)
        {
            lock (_lock)
            {
                running = [.. _running.OfType<WorkerProcess>(), .. _retiring];
            }

            foreach (var worker in running)
            {
                SupervisorLog.WorkerKilled(logger, worker.Slot, worker.Pid, Sockeye.Timing.DurationText.Format(wait));
                worker.Kill();
            }

            await allEnded.ConfigureAwait(false);
        }

        var clean = _finalExitCodes.All(code => code is null or 0);
        await Console.Out.WriteLineAsync($"sockeye: stopped: {_finalExitCodes.Count(code => code == 0)} of {workers} workers drained cleanly").ConfigureAwait(false);
        return crashLoop ? CrashLoopExitCode : clean ? 0 : 1;
    }

    /// <summary>Starts a rolling restart of every worker (see the class summary), unless one is under
    /// way or the supervisor is stopping.</summary>
    /// <returns>What was done, for the SIGHUP log line.</returns>
    /// <remarks>Safe to call from any thread (a signal handler).</remarks>
    public string RequestRollingRestart()
    {
        if (_stopping.IsCancellationRequested)
        {
            return "stopping; no rolling restart";
        }

        if (Interlocked.CompareExchange(ref _restarting, 1, 0) != 0)
        {
            return "a rolling restart or an upgrade is already under way; this one is ignored";
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await RollingRestartAsync().ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _restarting, 0);
            }
        });
        return $"rolling restart of {workers} workers started (each new worker gets up to {Sockeye.Timing.DurationText.Format(ReadyTimeout)} to listen)";
    }

    /// <summary>Replaces the workers one at a time; stops at the first new worker that does not get ready.</summary>
    /// <returns>How many workers were replaced.</returns>
    private async Task<int> RollingRestartAsync()
    {
        var replaced = 0;
        for (var index = 0; index < workers; index++)
        {
            var slot = index + 1;
            WorkerProcess? old;
            WorkerProcess successor;
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return replaced;
                }

                old = _running[index];
                if (old is null || !old.Listening.IsCompleted)
                {
                    continue; // dead or still starting: the slot's own restart brings up a new worker anyway
                }

                successor = WorkerProcess.Start(slot, workerArguments(slot), Forward);
            }

            SupervisorLog.SuccessorStarted(logger, slot, successor.Pid, old.Pid);
            var ready = successor.Listening;
            var outcome = await Task.WhenAny(ready, successor.Exited, Task.Delay(ReadyTimeout, _stopping.Token)).ConfigureAwait(false);
            bool installed;
            lock (_lock)
            {
                installed = outcome == ready && !_stopping.IsCancellationRequested && _running[index] == old;
                if (installed)
                {
                    _running[index] = successor;
                    _retiring.Add(old);
                }
            }

            if (!installed)
            {
                var why = outcome == ready ? "the supervisor is stopping, or the old worker died meanwhile"
                    : outcome == successor.Exited ? $"it {DescribeExit(await successor.Exited.ConfigureAwait(false))} before listening"
                    : _stopping.IsCancellationRequested ? "the supervisor is stopping"
                    : $"it did not listen within {Sockeye.Timing.DurationText.Format(ReadyTimeout)}";
                SupervisorLog.SuccessorFailed(logger, slot, successor.Pid, why, old.Pid);
                successor.Kill();
                await successor.Exited.ConfigureAwait(false);
                successor.Dispose();
                return replaced;
            }

            SupervisorLog.Retiring(logger, slot, old.Pid, successor.Pid, Sockeye.Timing.DurationText.Format(drainTimeout));
            old.Terminate();
            replaced++;
            _ = KillIfStillRunningAsync(old, drainTimeout + KillGrace);
        }

        SupervisorLog.RollingRestartDone(logger, replaced, workers);
        return replaced;
    }

    /// <summary>Kills a retired worker that has not finished its drain after <paramref name="wait"/>.</summary>
    private async Task KillIfStillRunningAsync(WorkerProcess worker, TimeSpan wait)
    {
        if (await Task.WhenAny(worker.Exited, Task.Delay(wait)).ConfigureAwait(false) != worker.Exited)
        {
            SupervisorLog.WorkerKilled(logger, worker.Slot, worker.Pid, Sockeye.Timing.DurationText.Format(wait));
            worker.Kill();
        }
    }

    /// <summary>Keeps one worker running in slot <paramref name="index"/> until the stop. The worker it
    /// watches may be replaced by a rolling restart: when a retired worker ends, the watch moves on to
    /// its successor.</summary>
    private async Task RunSlotAsync(int index)
    {
        var slot = index + 1;
        var quickFailures = 0;
        WorkerProcess? worker = null;
        while (true)
        {
            if (worker is null)
            {
                lock (_lock)
                {
                    if (_stopping.IsCancellationRequested)
                    {
                        return;
                    }

                    worker = WorkerProcess.Start(slot, workerArguments(slot), Forward);
                    _running[index] = worker;
                }

                SupervisorLog.WorkerStarted(logger, slot, worker.Pid);
            }

            if (await Task.WhenAny(worker.Listening, worker.Exited).ConfigureAwait(false) == worker.Listening)
            {
                _firstListening[index].TrySetResult();
            }

            var code = await worker.Exited.ConfigureAwait(false);
            var uptime = Stopwatch.GetElapsedTime(worker.StartedAt);
            WorkerProcess? successor = null;
            bool stopping;
            lock (_lock)
            {
                if (_retiring.Remove(worker))
                {
                    successor = _running[index];
                }
                else
                {
                    _running[index] = null;
                }

                stopping = _stopping.IsCancellationRequested;
                if (stopping && successor is null)
                {
                    _finalExitCodes[index] = code;
                }
            }

            worker.Dispose();
            if (successor is not null)
            {
                SupervisorLog.WorkerRetired(logger, slot, worker.Pid, DescribeExit(code));
                worker = successor;
                continue;
            }

            if (stopping)
            {
                SupervisorLog.WorkerStopped(logger, slot, worker.Pid, DescribeExit(code));
                return;
            }

            quickFailures = uptime >= StableAfter ? 1 : quickFailures + 1;
            if (quickFailures >= MaxQuickFailures)
            {
                SupervisorLog.WorkerCrashLoop(logger, slot, worker.Pid, Seconds(uptime), DescribeExit(code), quickFailures, Sockeye.Timing.DurationText.Format(StableAfter));
                _gaveUp.TrySetResult();
                return;
            }

            var delay = TimeSpan.FromTicks(Math.Min(FirstRestartDelay.Ticks << (quickFailures - 1), MaxRestartDelay.Ticks));
            SupervisorLog.WorkerDied(logger, slot, worker.Pid, Seconds(uptime), DescribeExit(code), Sockeye.Timing.DurationText.Format(delay));
            worker = null;
            try
            {
                await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Passes a worker's stdout line on, naming the worker; its <c>listening on</c> line is the
    /// supervisor's to print, once for all.</summary>
    private static void Forward(WorkerProcess worker, string line)
    {
        const string Prefix = "sockeye: ";
        var text = line.StartsWith(Prefix, StringComparison.Ordinal) ? line[Prefix.Length..] : line;
        if (text.StartsWith("listening on", StringComparison.Ordinal))
        {
            text = "ready";
        }

        Console.Out.WriteLine($"sockeye: worker {worker.Slot} (pid {worker.Pid}): {text}");
    }

    public void Dispose() => _stopping.Dispose();

    private static string Seconds(TimeSpan value) => $"{value.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)}s";

    /// <summary>Why a worker ended, in words. .NET reports a death by signal N as exit status 128 + N, as the shell does.</summary>
    public static string DescribeExit(int code) => code switch
    {
        0 => "exited with code 0",
        > 128 and < 128 + 32 => $"killed by {Signals.Name(code - 128)} (exit status {code})",
        _ => $"exited with code {code}",
    };
}
