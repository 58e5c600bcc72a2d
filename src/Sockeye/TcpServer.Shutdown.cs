using Sockeye.Diagnostics;

namespace Sockeye;

public sealed partial class TcpServer
{
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
        lock (_lifecycleLock)
        {
            return _stopping ??= StopCoreAsync(drainTimeout, cancellationToken);
        }
    }

    private async Task<ShutdownSummary> StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var wasStarted = _state == ServerState.Listening;

        // 1. Stop accepting.
        _state = ServerState.Draining;
        CloseListeners();
        RemoveUnixSocketFile();
        await _acceptLoop.ConfigureAwait(false);

        var open = ActiveConnections;
        if (open == 0)
        {
            _allConnectionsEnded.TrySetResult();
        }

        if (wasStarted)
        {
            SockeyeLog.Draining(_logger, open, drainTimeout);
        }

        // 2. Ask every handler to finish. Reads waiting with the shutdown token hold no registration
        // on it (that would cost every idle connection 80 bytes), so they are woken here.
        await _shutdownRequested.CancelAsync().ConfigureAwait(false);
        foreach (var connection in _connections.Snapshot())
        {
            connection.Reader.WakeForShutdown();
        }

        // 3. Wait for them, up to the drain timeout.
        var aborted = 0;
        try
        {
            await _allConnectionsEnded.Task.WaitAsync(drainTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // 4. Abort the rest.
            var remaining = _connections.Snapshot();
            SockeyeLog.DrainTimedOut(_logger, drainTimeout, remaining.Count);
            foreach (var connection in remaining)
            {
                connection.Abort("the server stopped and the drain timeout passed");
            }

            aborted = remaining.Count;
            try
            {
                await _allConnectionsEnded.Task.WaitAsync(AbortGracePeriod, _time, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                SockeyeLog.HandlersIgnoredAbort(_logger, ActiveConnections, AbortGracePeriod);
            }
        }

        _poolTrimmer?.Dispose();
        _deadlineScanner.Dispose();
        DisposeSecurity();
        _state = ServerState.Stopped;
        StopMetrics();
        var summary = new ShutdownSummary(open, Math.Max(0, open - aborted), aborted, _time.GetElapsedTime(started));
        if (wasStarted)
        {
            SockeyeLog.Stopped(_logger, summary.Drained, summary.Aborted, summary.Elapsed);
        }

        return summary;
    }
}
