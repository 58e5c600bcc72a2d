using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye;

public sealed partial class TcpServer
{
    // Go's net/http back-off on temporary accept errors: 5 ms, doubling, at most 1 s, reset by a success.
    private static readonly TimeSpan FirstAcceptBackoff = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    // While accepts keep failing, one warning per this interval, carrying the count of the rest.
    private static readonly TimeSpan AcceptWarningInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Accept → take a slot → configure the socket → start the handler without awaiting it → loop.
    /// Temporary accept errors (out of descriptors or buffers, an aborted handshake) back off 5 ms
    /// doubling to 1 s, with one warning per 10 s; the loop ends quietly when the listener is closed.
    /// </summary>
    private async Task AcceptLoopAsync(Socket listener, int acceptor)
    {
        using var cushion = new DescriptorCushion();
        var backoff = TimeSpan.Zero;
        long errorsInEpisode = 0;
        long suppressed = 0;
        var lastWarning = long.MinValue;
        while (true)
        {
            Socket socket;
            SocketError? failure = null;
            try
            {
                // The ValueTask overload: the Task-returning one allocates a task per accept, garbage
                // that ends up between the new connection's objects (docs/MEMORY.md).
                socket = await listener.AcceptAsync(CancellationToken.None).ConfigureAwait(false);

                // Out of descriptors a moment ago: refuse this one unless the runtime's cushion can
                // be taken back first, or our accepts would eat the room it was given.
                if (cushion.IsReleased && !cushion.TryRestore())
                {
                    Refuse(socket);
                    failure = SocketError.TooManyOpenSockets;
                }
            }
            catch (Exception ex) when (IsListenerClosed(ex))
            {
                return;
            }
            catch (SocketException ex) when (SocketErrors.IsTemporaryAcceptError(ex.SocketErrorCode))
            {
                socket = null!;
                failure = ex.SocketErrorCode;
                if (failure == SocketError.TooManyOpenSockets)
                {
                    // Room for the runtime now; and the limit may have been lowered under us.
                    cushion.Release();
                    _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve);
                }
            }
            catch (Exception ex)
            {
                // Go's server gives up here; a server that silently stops accepting is worse, so we
                // log loudly and keep trying at the slowest back-off.
                Interlocked.Increment(ref _acceptErrors);
                errorsInEpisode++;
                backoff = MaxAcceptBackoff;
                SockeyeLog.AcceptFailedUnexpectedly(_logger, ex, backoff);
                if (!await BackOffAsync(backoff).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            if (failure is { } error)
            {
                Interlocked.Increment(ref _acceptErrors);
                errorsInEpisode++;
                backoff = backoff == TimeSpan.Zero ? FirstAcceptBackoff : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxAcceptBackoff.Ticks));
                var now = _time.GetTimestamp();
                if (lastWarning == long.MinValue || _time.GetElapsedTime(lastWarning, now) >= AcceptWarningInterval)
                {
                    SockeyeLog.AcceptFailed(_logger, error.ToString(), backoff, suppressed);
                    lastWarning = now;
                    suppressed = 0;
                }
                else
                {
                    suppressed++;
                }

                if (!await BackOffAsync(backoff).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            if (errorsInEpisode > 0)
            {
                SockeyeLog.AcceptResumed(_logger, errorsInEpisode);
                errorsInEpisode = 0;
                suppressed = 0;
                lastWarning = long.MinValue;
                backoff = TimeSpan.Zero;
            }

            if (socket.SafeHandle.DangerousGetHandle() >= _descriptorCeiling || !TryTakeSlot())
            {
                Refuse(socket);
                continue;
            }

            SocketConnection connection;
            try
            {
                Configure(socket, _options);
                connection = new SocketConnection(socket, _connectionContext);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer reset before we could set options on the socket: not worth more than Debug.
                SockeyeLog.ConnectionSetupFailed(_logger, null, ex);
                socket.Dispose();
                ReleaseSlot();
                continue;
            }

            if (_edgeChecks && !AdmitAtAccept(connection))
            {
                continue; // refused (source lists, per-address cap, accept rate, untrusted proxy): reset and counted
            }

            connection.AttachDeadlines();
            Interlocked.Increment(ref _accepted);
            Interlocked.Increment(ref _acceptedByAcceptor[acceptor]);
            _connections.Add(connection);
            if (_options.StartHandlersInline)
            {
                connection.StartInline();
            }
            else
            {
                connection.Start();
            }
        }
    }

    /// <summary>Waits out one back-off step; <see langword="false"/> when the server began stopping.</summary>
    private async Task<bool> BackOffAsync(TimeSpan delay)
    {
        Interlocked.Increment(ref _acceptBackoffs);
        try
        {
            await Task.Delay(delay, _time, _shutdownRequested.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private bool IsListenerClosed(Exception ex) =>
        ex is ObjectDisposedException
        || (ex is SocketException se && SocketErrors.IsClosedLocally(se.SocketErrorCode))
        || _state != ServerState.Listening;

    private bool TryTakeSlot()
    {
        // Compare-and-swap rather than increment-then-undo: the gauge is public, and the reliability
        // suite's flood caught it reading MaxConnections + 1 between the two steps.
        var active = Volatile.Read(ref _active);
        while (active < _options.MaxConnections)
        {
            var seen = Interlocked.CompareExchange(ref _active, active + 1, active);
            if (seen == active)
            {
                return true;
            }

            active = seen;
        }

        Interlocked.Increment(ref _rejectedForLimit);
        return false;
    }

    private void ReleaseSlot()
    {
        if (Interlocked.Decrement(ref _active) == 0 && _state != ServerState.Listening)
        {
            _allConnectionsEnded.TrySetResult();
        }
    }

    private void Refuse(Socket socket)
    {
        Interlocked.Increment(ref _rejected);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionRejected(_logger, socket.RemoteEndPoint, ActiveConnections, _options.MaxConnections);
        }

        try
        {
            // RST at once: no handler, no buffers, no TIME_WAIT on our side.
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }

        socket.Dispose();
    }

    private static void Configure(Socket socket, TcpServerOptions options)
    {
        if (socket.AddressFamily == AddressFamily.Unix)
        {
            return; // Nagle, keep-alive and TCP buffer tuning do not exist on a Unix domain socket.
        }

        socket.NoDelay = options.NoDelay;
        if (options.ReceiveBufferSize is { } receive)
        {
            socket.ReceiveBufferSize = receive;
        }

        if (options.SendBufferSize is { } send)
        {
            socket.SendBufferSize = send;
        }

        if (options.KeepAlive is { } keepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Math.Ceiling(keepAlive.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Math.Ceiling(options.KeepAliveInterval.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.KeepAliveRetryCount);
        }
    }

    /// <summary>
    /// Starts the handler for one connection. Its end is observed by a continuation on the handler's
    /// task rather than by an async method awaiting it: that saves a state machine per connection
    /// (144 bytes for every idle connection), the handler's own being the only one.
    /// </summary>
    private void RunConnection(SocketConnection connection)
    {
        if (_metrics is not null)
        {
            connection.StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionAccepted(_logger, connection.Id, connection.RemoteEndPoint);
        }

        Task handler;
        try
        {
            // Behind edge checks, the PROXY header and the TLS handshake run first, on the handler's task.
            handler = _edgeChecks ? RunBehindEdgeAsync(connection) : _handler!(connection) ?? Task.CompletedTask;
        }
        catch (Exception ex)
        {
            handler = Task.FromException(ex);
        }

        connection.WhenHandlerDone(handler);
    }

    /// <summary>Closes a connection whose handler has ended; releases its slot exactly once.</summary>
    private async Task FinishConnectionAsync(SocketConnection connection, Task handler)
    {
        var reason = "handler returned";
        ConnectionCloseReason? fault = null;
        try
        {
            try
            {
                await handler.ConfigureAwait(false); // completed already: this only rethrows its fault
            }
            catch (Exception ex) when (IsEndOfConnection(ex, connection))
            {
                // The peer left, the connection was aborted, or the handler gave up on a token that
                // fired for this connection: a normal end, not a handler fault.
                reason = ex.Message;
            }
            catch (Exception ex) when (ex is InvalidDataException or Framing.FrameTooLargeException)
            {
                // The peer broke the protocol (an oversize or malformed frame): its fault, not the
                // handler's. Counted, logged at Debug, and only this connection is closed.
                Interlocked.Increment(ref _protocolErrors);
                fault = ConnectionCloseReason.ProtocolError;
                SockeyeLog.ProtocolViolation(_logger, connection.Id, ex.Message);
                reason = ex.Message;
                connection.Abort(reason);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _handlerErrors);
                fault = ConnectionCloseReason.HandlerError;
                LogHandlerFailed(connection, ex);
                reason = $"handler threw {ex.GetType().Name}";
                connection.Abort(reason);
            }

            await DisposeConnectionAsync(connection).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Closing failed (the peer vanished mid-flush): the connection is over either way.
            reason = ex.Message;
            connection.Abort(reason);
        }
        finally
        {
            _connections.Remove(connection);
            connection.DetachDeadlines();
            if (_edgeChecks)
            {
                ReleaseAdmission(connection);
            }

            var closeReason = RecordClosed(connection, fault);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var duration = connection.StartedAt == 0 ? TimeSpan.Zero : System.Diagnostics.Stopwatch.GetElapsedTime(connection.StartedAt);
                SockeyeLog.ConnectionEnded(_logger, connection.Id, closeReason, duration, reason);
            }

            ReleaseSlot();
        }
    }

    private static bool IsEndOfConnection(Exception ex, SocketConnection connection) =>
        ex is ConnectionAbortedException
        || (ex is OperationCanceledException oce
            && (oce.CancellationToken == connection.ShutdownRequested || connection.IsAborted));
}
