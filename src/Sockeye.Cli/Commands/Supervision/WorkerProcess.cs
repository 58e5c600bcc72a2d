using System.Diagnostics;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>
/// One worker: this executable run again with the server's own command line, <c>--share-port</c> and
/// <c>--supervised</c>. Its stdin is a pipe from the supervisor that is never written: when the
/// supervisor dies, the pipe closes and the worker drains and exits instead of living on as an orphan.
/// Its stdout lines are handed to <c>forward</c>; its stderr (the log) goes straight to ours.
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProcess(Process process, int slot, Action<WorkerProcess, string> forward)
    {
        _process = process;
        Slot = slot;
        Pid = process.Id;
        StartedAt = Stopwatch.GetTimestamp();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            if (line.Contains("listening on", StringComparison.Ordinal))
            {
                _listening.TrySetResult();
            }

            forward(this, line);
        };
        process.BeginOutputReadLine();
        Exited = WaitForExitCodeAsync();
    }

    /// <summary>Which of the supervisor's N places this worker fills (1-based); a restart keeps the slot.</summary>
    public int Slot { get; }

    public int Pid { get; }

    /// <summary>When the process started (a <see cref="Stopwatch"/> timestamp).</summary>
    public long StartedAt { get; }

    /// <summary>Completes when the worker printed its <c>listening on</c> line.</summary>
    public Task Listening => _listening.Task;

    /// <summary>Completes with the exit status when the process ends (128 + N when killed by signal N).</summary>
    public Task<int> Exited { get; }

    public static WorkerProcess Start(int slot, IReadOnlyList<string> arguments, Action<WorkerProcess, string> forward)
    {
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath!,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            // `dotnet Sockeye.Cli.dll`: the path from the base directory, not Assembly.Location (empty in
            // a single-file app; the single-file and Native AOT binaries never take this branch anyway).
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(WorkerProcess).Assembly.GetName().Name + ".dll"));
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a worker process");
        return new WorkerProcess(process, slot, forward);
    }

    /// <summary>Asks the worker to drain and exit (SIGTERM).</summary>
    public void Terminate() => Signals.Send(Pid, Signals.SigTerm);

    /// <summary>Asks the worker to reload its certificates (SIGHUP); <see langword="false"/> when it is gone.</summary>
    public bool Reload() => Signals.Send(Pid, Signals.SigHup);

    /// <summary>Ends the worker at once (SIGKILL).</summary>
    public void Kill()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        _process.StandardInput.Dispose();
        _process.Dispose();
    }

    private async Task<int> WaitForExitCodeAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }
}
