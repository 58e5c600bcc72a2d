using Sockeye.Diagnostics;
using Sockeye.Server;

namespace Sockeye;

public sealed partial class TcpServer
{
    /// <summary>The drain timeout <see cref="RunAsync(Func{Connection, Task}, TimeSpan?, CancellationToken)"/>
    /// uses when none is given: 10 seconds, the same as <c>sockeye serve</c>'s <c>--drain-timeout</c>.</summary>
    public static TimeSpan DefaultDrainTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs the server until the process is asked to stop, for a program that is just a server:
    /// starts it with <paramref name="handler"/>, waits for SIGINT (Ctrl-C), SIGTERM,
    /// <paramref name="cancellationToken"/> or another caller's <see cref="StopAsync"/>, then stops it
    /// as <see cref="StopAsync"/> does and returns what the drain did. A second SIGINT or SIGTERM during
    /// the drain aborts the connections still open at once.
    /// </summary>
    /// <param name="handler">Runs once per accepted connection, as for
    /// <see cref="StartAsync(Func{Connection, Task}, CancellationToken)"/>.</param>
    /// <param name="drainTimeout">How long handlers get to finish once the stop is asked for; null means
    /// <see cref="DefaultDrainTimeout"/>.</param>
    /// <param name="cancellationToken">Asks for the same graceful stop as a signal (it does not throw).</param>
    /// <returns>How many connections were open when the stop began, drained and aborted.</returns>
    /// <remarks>While it runs, SIGINT and SIGTERM no longer terminate the process: the drain does, when
    /// this returns and the program ends. Inside a Generic Host use <c>Sockeye.Hosting</c> instead: the
    /// host owns the signals there.</remarks>
    /// <example>
    /// <code>
    /// await using var server = new TcpServer(new TcpServerOptions { EndPoint = new(IPAddress.Loopback, 7000) });
    /// ShutdownSummary summary = await server.RunAsync(EchoHandler.Instance.HandleAsync);
    /// return summary.IsClean ? 0 : 1;
    /// </code>
    /// </example>
    public async Task<ShutdownSummary> RunAsync(Func<Connection, Task> handler, TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var drain = drainTimeout ?? DefaultDrainTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThan(drain, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        using var stop = new StopSignal(cancellationToken);
        return await RunAsync(handler, drain, stop).ConfigureAwait(false);
    }

    /// <summary>The run, with the signals already registered (tests deliver them through
    /// <see cref="StopSignal.OnSignal"/>).</summary>
    internal async Task<ShutdownSummary> RunAsync(Func<Connection, Task> handler, TimeSpan drain, StopSignal stop)
    {
        await StartAsync(handler, CancellationToken.None).ConfigureAwait(false);
        stop.Watch(_lifecycle.StopRequested);
        SockeyeLog.StopRequested(_logger, await stop.Requested.ConfigureAwait(false));
        return await StopAsync(drain, stop.CutDrain).ConfigureAwait(false);
    }

    /// <summary>Runs the server with <paramref name="handler"/> until SIGINT, SIGTERM or
    /// <paramref name="cancellationToken"/>, then drains: the same as
    /// <see cref="RunAsync(Func{Connection, Task}, TimeSpan?, CancellationToken)"/>.</summary>
    /// <param name="handler">Handles each accepted connection.</param>
    /// <param name="drainTimeout">How long handlers get to finish; null means <see cref="DefaultDrainTimeout"/>.</param>
    /// <param name="cancellationToken">Asks for the same graceful stop as a signal.</param>
    /// <returns>How many connections were open when the stop began, drained and aborted.</returns>
    public Task<ShutdownSummary> RunAsync(IConnectionHandler handler, TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return RunAsync(handler.HandleAsync, drainTimeout, cancellationToken);
    }

    // After aborting at the drain deadline, how long to wait for handlers to notice before returning.
    private static readonly TimeSpan AbortGracePeriod = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Stops the server gracefully, in this order:
    /// <list type="number">
    /// <item>stop accepting: the listener is closed, so new connections are refused by the kernel (a Unix
    /// socket file is removed);</item>
    /// <item>ask every handler to finish: <see cref="Connection.ShutdownRequested"/> fires;</item>
    /// <item>wait until every handler has returned and its output is flushed, or
    /// <paramref name="drainTimeout"/> has passed;</item>
    /// <item>abort the connections still open (RST), and wait briefly for their handlers to end.</item>
    /// </list>
    /// Calling it again, or concurrently, returns the same result as the first call.
    /// </summary>
    /// <param name="drainTimeout">How long handlers get to finish before their connections are aborted;
    /// <see cref="TimeSpan.Zero"/> aborts at once.</param>
    /// <param name="cancellationToken">Cuts the drain short: the remaining connections are aborted now.</param>
    /// <returns>How many connections were open, drained and aborted.</returns>
    public Task<ShutdownSummary> StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(drainTimeout, TimeSpan.Zero);
        return _lifecycle.Stop(() => StopCoreAsync(drainTimeout, cancellationToken));
    }

    private async Task<ShutdownSummary> StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();

        // 1. Stop accepting.
        var wasStarted = _lifecycle.BeginDrain();
        _acceptLoop.StopAccepting(); // the pollers' listeners leave epoll while still open
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        _unixSocket?.Remove();
        await _accepting.ConfigureAwait(false);
        var open = ActiveConnections;
        _lifecycle.DrainIfIdle();
        if (wasStarted)
        {
            SockeyeLog.Draining(_logger, open, drainTimeout);
        }

        // 2. Ask every handler to finish. Reads waiting with the shutdown token hold no registration
        // on it (that would cost every idle connection 80 bytes), so they are woken here.
        await _lifecycle.RequestStopAsync().ConfigureAwait(false);
        foreach (var connection in _connections.Snapshot())
        {
            connection.Reader.WakeForShutdown();
        }

        // 3. Wait for them, up to the drain timeout.
        var aborted = 0;
        if (!await _lifecycle.WaitDrainedAsync(drainTimeout, cancellationToken).ConfigureAwait(false))
        {
            // 4. Abort the rest.
            var remaining = _connections.Snapshot();
            SockeyeLog.DrainTimedOut(_logger, drainTimeout, remaining.Count);
            foreach (var connection in remaining)
            {
                connection.Abort("the server stopped and the drain timeout passed");
            }

            aborted = remaining.Count;
            if (!await _lifecycle.WaitDrainedAsync(AbortGracePeriod, CancellationToken.None).ConfigureAwait(false))
            {
                SockeyeLog.HandlersIgnoredAbort(_logger, ActiveConnections, AbortGracePeriod);
            }
        }

        _poolTrimmer?.Dispose();
        _deadlineScanner.Dispose();
        _edge?.Dispose();
        _lifecycle.Stopped();
        _connectionLifecycle.Metrics = null;
        _metrics?.Dispose();
        _metrics = null;
        var summary = new ShutdownSummary(open, Math.Max(0, open - aborted), aborted, _time.GetElapsedTime(started));
        if (wasStarted)
        {
            SockeyeLog.Stopped(_logger, summary.Drained, summary.Aborted, summary.Elapsed);
        }

        return summary;
    }
}
