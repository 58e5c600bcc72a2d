using Sockeye.Diagnostics;
using Sockeye.Server;

namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    /// <summary>
    /// Runs the server until the process is asked to stop: starts it with <paramref name="handler"/>,
    /// waits for SIGINT (Ctrl-C), SIGTERM, <paramref name="cancellationToken"/> or another caller's
    /// <see cref="StopAsync"/>, then stops it as <see cref="StopAsync"/> does. A second SIGINT or SIGTERM
    /// during the drain closes the sockets at once. The same as <see cref="TcpServer.RunAsync(Func{Connection, Task}, TimeSpan?, CancellationToken)"/>
    /// for datagrams.
    /// </summary>
    /// <param name="handler">Runs once per datagram, as for <see cref="StartAsync(Func{Datagram, ValueTask}, CancellationToken)"/>.</param>
    /// <param name="drainTimeout">How long running handlers get to finish once the stop is asked for;
    /// null means <see cref="TcpServer.DefaultDrainTimeout"/>.</param>
    /// <param name="cancellationToken">Asks for the same graceful stop as a signal (it does not throw).</param>
    /// <returns>What the drain did, as <see cref="StopAsync"/> reports it.</returns>
    public async Task<ShutdownSummary> RunAsync(Func<Datagram, ValueTask> handler, TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var drain = drainTimeout ?? TcpServer.DefaultDrainTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThan(drain, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        using var stop = new StopSignal(cancellationToken);
        await StartAsync(handler, CancellationToken.None).ConfigureAwait(false);
        stop.Watch(_lifecycle.StopRequested);
        SockeyeLog.StopRequested(_logger, await stop.Requested.ConfigureAwait(false));
        return await StopAsync(drain, stop.CutDrain).ConfigureAwait(false);
    }

    /// <summary>Runs the server with <paramref name="handler"/> until SIGINT, SIGTERM or
    /// <paramref name="cancellationToken"/>, then drains: the same as
    /// <see cref="RunAsync(Func{Datagram, ValueTask}, TimeSpan?, CancellationToken)"/>.</summary>
    /// <param name="handler">Handles each datagram.</param>
    /// <param name="drainTimeout">How long running handlers get to finish; null means <see cref="TcpServer.DefaultDrainTimeout"/>.</param>
    /// <param name="cancellationToken">Asks for the same graceful stop as a signal.</param>
    /// <returns>What the drain did.</returns>
    public Task<ShutdownSummary> RunAsync(IDatagramHandler handler, TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return RunAsync(handler.HandleAsync, drainTimeout, cancellationToken);
    }

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
