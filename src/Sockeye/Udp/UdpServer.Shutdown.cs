using Sockeye.Diagnostics;

namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    /// <summary>
    /// Stops the server gracefully, in this order:
    /// <list type="number">
    /// <item>stop receiving, and ask running handlers to finish: <see cref="Datagram.ShutdownRequested"/>
    /// fires; datagrams that arrive from now on are left to the kernel and discarded with the sockets;</item>
    /// <item>wait until every running handler has completed, or <paramref name="drainTimeout"/> has passed;
    /// the sockets stay open meanwhile, so handlers can still reply;</item>
    /// <item>close the sockets: replies from handlers still running fail.</item>
    /// </list>
    /// Calling it again, or concurrently, returns the same result as the first call.
    /// </summary>
    /// <param name="drainTimeout">How long running handlers get to finish; <see cref="TimeSpan.Zero"/>
    /// closes at once.</param>
    /// <param name="cancellationToken">Cuts the wait short: the sockets are closed now.</param>
    /// <returns>In UDP terms: <see cref="ShutdownSummary.Open"/> is the handlers running when the stop began,
    /// <see cref="ShutdownSummary.Drained"/> those that completed in time, and
    /// <see cref="ShutdownSummary.Aborted"/> those still running when the sockets closed.</returns>
    public Task<ShutdownSummary> StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(drainTimeout, TimeSpan.Zero);
        return _lifecycle.Stop(() => StopCoreAsync(drainTimeout, cancellationToken));
    }

    private async Task<ShutdownSummary> StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();

        // 1. Stop receiving; ask handlers to finish. Handlers running when the stop began are counted
        // first (one may finish while the loops wind down), then any a loop started meanwhile.
        var open = HandlersInFlight;
        var wasStarted = _lifecycle.BeginDrain();
        await _lifecycle.RequestStopAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiveLoops).ConfigureAwait(false);
        open = Math.Max(open, HandlersInFlight);
        _lifecycle.DrainIfIdle();

        if (wasStarted)
        {
            SockeyeLog.UdpDraining(_logger, open, drainTimeout);
        }

        // 2. Wait for them, up to the drain timeout.
        var abandoned = 0;
        if (!await _lifecycle.WaitDrainedAsync(drainTimeout, cancellationToken).ConfigureAwait(false))
        {
            abandoned = HandlersInFlight;
        }

        // 3. Close the sockets.
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _lifecycle.Stopped();
        _metrics?.Dispose();
        var summary = new ShutdownSummary(open, Math.Max(0, open - abandoned), abandoned, _time.GetElapsedTime(started));
        if (wasStarted)
        {
            SockeyeLog.UdpStopped(_logger, summary.Drained, summary.Aborted, summary.Elapsed);
        }

        return summary;
    }
}
