using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands;

/// <summary>What every <c>sockeye serve ...</c> command shares: the wait for SIGTERM/SIGINT (logging is in <see cref="ObservabilityOptions"/>).</summary>
internal static class ServeRunner
{
    /// <summary>Registers for SIGTERM and SIGINT; the returned task completes with the first one received,
    /// which is cancelled so the process stays up to drain. Dispose the registration when done.</summary>
    public static (Task<PosixSignal> Signal, IDisposable Registration) WaitForStopSignal()
    {
        var stop = new TaskCompletionSource<PosixSignal>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // We exit ourselves, after the drain.
            stop.TrySetResult(context.Signal);
        }

        var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        return (stop.Task, new Registrations(sigterm, sigint));
    }

    private sealed class Registrations(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
