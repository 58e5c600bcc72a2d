using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;
using System.Text;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>
/// The binary upgrade (SIGUSR2), tableflip-style: the supervisor starts a new supervisor from the
/// executable on disk with the listening socket inherited (<c>--listen-fd</c>) and a pipe to report
/// on (<c>--upgrade-ready-fd</c>); the new one starts its own workers on the socket and writes to the
/// pipe once all of them listen; only then does this supervisor drain its workers and exit. A new
/// supervisor that exits or does not report within <see cref="ReadyTimeout"/> is killed, and this one
/// goes on serving and says why. One upgrade (or rolling restart) at a time.
/// </summary>
internal sealed partial class Supervisor
{
    // Completed with the new supervisor's pid once it reported ready: this one then drains and exits.
    private readonly TaskCompletionSource<int> _upgraded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The new supervisor's command line (without the executable): this one's, on the same
    /// socket, with the pipe to report on; <see langword="null"/> (the default) refuses upgrades.</summary>
    public Func<int, IReadOnlyList<string>>? UpgradeArguments { get; init; }

    /// <summary>The pipe to write to once every worker listens, when this supervisor is itself an
    /// upgrade (<c>--upgrade-ready-fd</c>); <see langword="null"/> otherwise.</summary>
    public int? ReadyFd { get; init; }

    /// <summary>Starts a binary upgrade unless one, or a rolling restart, is under way.</summary>
    /// <returns>What was done, for the log line.</returns>
    /// <remarks>Safe to call from any thread (a signal handler).</remarks>
    public string RequestUpgrade()
    {
        if (UpgradeArguments is null)
        {
            return "no upgrade: this supervisor cannot start another";
        }

        if (_stopping.IsCancellationRequested || _upgraded.Task.IsCompleted)
        {
            return "stopping; no upgrade";
        }

        if (Interlocked.CompareExchange(ref _restarting, 1, 0) != 0)
        {
            return "a rolling restart or an upgrade is already under way; this one is ignored";
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await UpgradeAsync().ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _restarting, 0);
            }
        });
        return $"upgrade started: a new supervisor from {Environment.ProcessPath} gets up to {Sockeye.Timing.DurationText.Format(ReadyTimeout)} to report ready";
    }

    private async Task UpgradeAsync()
    {
        // An inheritable pipe: .NET opens the client end without FD_CLOEXEC, so the child finds it at
        // the number it is told, as it finds the listening socket.
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var readyFd = int.Parse(pipe.GetClientHandleAsString(), CultureInfo.InvariantCulture);
        Process child;
        try
        {
            child = StartSelf(UpgradeArguments!(readyFd));
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            SupervisorLog.UpgradeFailed(logger, 0, $"could not be started: {ex.Message}");
            return;
        }
        finally
        {
            pipe.DisposeLocalCopyOfClientHandle();
        }

        using (child)
        {
            SupervisorLog.UpgradeStarted(logger, child.Id);
            // Whichever comes first: the report, the child's exit, or the timeout.
            using var timeout = new CancellationTokenSource();
            using var reader = new StreamReader(pipe, Encoding.ASCII);
            var reading = reader.ReadLineAsync(timeout.Token).AsTask();
            var exited = child.WaitForExitAsync(CancellationToken.None);
            var first = await Task.WhenAny(reading, exited, Task.Delay(ReadyTimeout, CancellationToken.None)).ConfigureAwait(false);
            var line = reading.IsCompletedSuccessfully ? reading.Result : null;
            await timeout.CancelAsync().ConfigureAwait(false);
            var timedOut = first != reading && first != exited;
            if (line is not null && line.StartsWith("ready", StringComparison.Ordinal) && !child.HasExited)
            {
                SupervisorLog.UpgradeReady(logger, child.Id);
                _upgraded.TrySetResult(child.Id);
                return;
            }

            var why = child.HasExited ? $"{DescribeExit(child.ExitCode)} before reporting ready"
                : timedOut ? $"did not report ready within {Sockeye.Timing.DurationText.Format(ReadyTimeout)}"
                : "closed its report pipe without reporting ready";
            try
            {
                child.Kill(); // its workers see their stdin close and drain
            }
            catch (InvalidOperationException)
            {
            }

            SupervisorLog.UpgradeFailed(logger, child.Id, why);
        }
    }

    /// <summary>Tells the supervisor that started this one (an upgrade) that every worker listens.</summary>
    private void ReportReady()
    {
        if (ReadyFd is not { } fd)
        {
            return;
        }

        try
        {
            using var pipe = new AnonymousPipeClientStream(PipeDirection.Out, fd.ToString(CultureInfo.InvariantCulture));
            pipe.Write(Encoding.ASCII.GetBytes($"ready {Environment.ProcessId}\n"));
        }
        catch (IOException)
        {
            // The old supervisor is gone: nobody is waiting for the report, and we serve anyway.
        }
    }

    private static Process StartSelf(IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo { FileName = Environment.ProcessPath!, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(Supervisor).Assembly.GetName().Name + ".dll"));
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned no process");
    }
}
