using System.Runtime.InteropServices;

namespace Sockeye.Server;

/// <summary>
/// What ends a <see cref="TcpServer.RunAsync(Func{Connection, Task}, TimeSpan?, CancellationToken)"/>:
/// SIGINT (Ctrl-C) or SIGTERM, the caller's token, or someone else's StopAsync. The first signal asks
/// for a graceful drain; a second one cuts the drain short, the way an operator who presses Ctrl-C
/// twice means "now".
/// </summary>
/// <remarks>The signals are registered before the server starts, so one that arrives just after it is
/// listening is not lost, and each registration cancels the runtime's default action (terminating
/// the process) while it exists: the drain, not the runtime, ends the program.</remarks>
internal sealed class StopSignal : IDisposable
{
    private readonly TaskCompletionSource<string> _requested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cutDrain = new();
    private readonly PosixSignalRegistration[] _signals;
    private readonly CancellationTokenRegistration _caller;
    private CancellationTokenRegistration _stopped;
    private int _signalCount;

    public StopSignal(CancellationToken cancellationToken)
    {
        _signals =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
        _caller = cancellationToken.Register(() => _requested.TrySetResult("the cancellation token"));
    }

    /// <summary>Completes with what asked for the stop (for the log line).</summary>
    public Task<string> Requested => _requested.Task;

    /// <summary>Cancelled by a second signal: the drain aborts what is still open.</summary>
    public CancellationToken CutDrain => _cutDrain.Token;

    /// <summary>Also completes <see cref="Requested"/> when the server is stopped by another caller.</summary>
    public void Watch(CancellationToken stopRequested) =>
        _stopped = stopRequested.Register(() => _requested.TrySetResult("StopAsync"));

    /// <summary>A SIGINT or SIGTERM arrived (called by the runtime; by tests with a context of their own).</summary>
    internal void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _signalCount) == 1)
        {
            _requested.TrySetResult(context.Signal.ToString());
            return;
        }

        try
        {
            _cutDrain.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run has finished: nothing is left to cut short.
        }
    }

    public void Dispose()
    {
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }

        _caller.Dispose();
        _stopped.Dispose();
        _cutDrain.Dispose();
    }
}
