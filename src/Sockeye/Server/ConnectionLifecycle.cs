using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye.Server;

/// <summary>
/// One TCP connection's life after the accept loop handed it over, in order:
/// <see cref="Run"/> (start the handler, behind the <see cref="EdgeGate"/> when there is one) →
/// the handler's task completes → <see cref="FinishAsync"/> (sort out how it ended, close the
/// connection, through TLS when there is TLS) → <see cref="RecordClosed"/> (count and log the end) →
/// the slot is released, exactly once.
/// </summary>
/// <remarks>One instance per server; its two entry points are reached through the
/// <see cref="ConnectionContext"/> that every connection shares, so a connection carries no delegate
/// of its own.</remarks>
internal sealed class ConnectionLifecycle
{
    private readonly ServerLifecycle _server;
    private readonly ConnectionRegistry _connections;
    private readonly TcpServerCounters _counters;
    private readonly EdgeGate? _edge;
    private readonly ILogger _logger;

    // One handler-error line per second at most: a handler bug hit by every connection must not flood the log.
    private readonly LogRateLimiter _handlerErrorLog;

    private Func<Connection, Task> _handler = static _ => Task.CompletedTask;

    public ConnectionLifecycle(ServerLifecycle server, ConnectionRegistry connections, TcpServerCounters counters, EdgeGate? edge,
        TimeProvider time, ILogger logger)
    {
        _server = server;
        _connections = connections;
        _counters = counters;
        _edge = edge;
        _logger = logger;
        _handlerErrorLog = new LogRateLimiter(time, TimeSpan.FromSeconds(1));

        // One delegate for the server, not one per connection.
        HandlerDone = (connection, handler) => _ = FinishAsync(connection, handler);
    }

    /// <summary>What runs when a handler's task completes (<see cref="ConnectionContext.HandlerDone"/>).</summary>
    public Action<SocketConnection, Task> HandlerDone { get; }

    /// <summary>The server's instruments while it listens, for the duration histogram; null when metrics are off.</summary>
    public TcpServerMetrics? Metrics { get; set; }

    /// <summary>Sets the user's handler; called once, by the start, before any connection.</summary>
    public void SetHandler(Func<Connection, Task> handler) => _handler = handler;

    /// <summary>
    /// Starts the handler for one connection (<see cref="ConnectionContext.Start"/>). Its end is
    /// observed by a continuation on the handler's task (<see cref="SocketConnection.WhenHandlerDone"/>)
    /// rather than by an async method awaiting it: that saves a state machine per connection (144 bytes
    /// for every idle connection), the handler's own being the only one.
    /// </summary>
    public void Run(SocketConnection connection)
    {
        if (Metrics is not null)
        {
            connection.StartedAt = Stopwatch.GetTimestamp();
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionAccepted(_logger, connection.Id, connection.RemoteEndPoint);
        }

        Task handler;
        try
        {
            // Behind edge checks, the PROXY header and the TLS handshake run first, on the handler's task.
            handler = _edge is { } edge ? edge.RunAsync(connection, _handler) : _handler(connection) ?? Task.CompletedTask;
        }
        catch (Exception ex)
        {
            handler = Task.FromException(ex);
        }

        connection.WhenHandlerDone(handler);
    }

    /// <summary>Closes a connection whose handler has ended; releases its slot exactly once.</summary>
    private async Task FinishAsync(SocketConnection connection, Task handler)
    {
        var reason = "handler returned";
        ConnectionCloseReason? fault = null;
        try
        {
            try
            {
                await handler.ConfigureAwait(false); // completed already: this only rethrows its fault
                if (connection.ExtrasIfCreated?.RareIfCreated?.ProtocolError is { } rejected)
                {
                    // The handler answered a protocol error itself (RejectAsync) and returned.
                    _counters.OnProtocolError();
                    fault = ConnectionCloseReason.ProtocolError;
                    SockeyeLog.ProtocolViolation(_logger, connection.Id, rejected);
                    reason = rejected;
                }
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
                // handler's. Counted, logged at Debug, and only this connection is closed. Counted
                // once even when the handler rejected it with RejectAsync and then rethrew.
                _counters.OnProtocolError();
                fault = ConnectionCloseReason.ProtocolError;
                SockeyeLog.ProtocolViolation(_logger, connection.Id, ex.Message);
                reason = ex.Message;
                connection.Abort(reason);
            }
            catch (Exception ex)
            {
                _counters.OnHandlerError();
                fault = ConnectionCloseReason.HandlerError;
                if (_handlerErrorLog.TryEnter(out var suppressed))
                {
                    SockeyeLog.HandlerFailed(_logger, connection.Id, suppressed, ex);
                }

                reason = $"handler threw {ex.GetType().Name}";
                connection.Abort(reason);
            }

            await EdgeGate.DisposeConnectionAsync(connection).ConfigureAwait(false);
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
            _edge?.ReleaseAdmission(connection);
            var closeReason = RecordClosed(connection, fault);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var duration = connection.StartedAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(connection.StartedAt);
                SockeyeLog.ConnectionEnded(_logger, connection.Id, closeReason, duration, reason);
            }

            _server.ReleaseSlot();
        }
    }

    /// <summary>Counts one connection's end and records its duration. <paramref name="fault"/> is
    /// the handler's fault, if the handler ended with one; otherwise the connection's state decides.</summary>
    private ConnectionCloseReason RecordClosed(SocketConnection connection, ConnectionCloseReason? fault)
    {
        var listening = _server.IsListening;
        var reason = connection.TimedOutKind is not null ? ConnectionCloseReason.Timeout
            : fault is { } f ? f
            : connection.IsAborted && connection.ExtrasIfCreated?.RareIfCreated?.SlowConsumer == true ? ConnectionCloseReason.SlowConsumer
            : connection.IsAborted ? (listening ? ConnectionCloseReason.Aborted : ConnectionCloseReason.Shutdown)
            : connection.Reader.PeerReset ? ConnectionCloseReason.PeerReset
            : connection.Reader.PeerClosed ? ConnectionCloseReason.PeerClosed
            : !listening ? ConnectionCloseReason.Shutdown
            : ConnectionCloseReason.HandlerReturned;
        _counters.Closed.Increment(reason);
        if (Metrics is { } metrics && connection.StartedAt != 0)
        {
            metrics.RecordClosed(reason, Stopwatch.GetElapsedTime(connection.StartedAt));
        }

        return reason;
    }

    private static bool IsEndOfConnection(Exception ex, SocketConnection connection) =>
        ex is ConnectionClosedException
        || (ex is OperationCanceledException oce
            && (oce.CancellationToken == connection.ShutdownRequested || connection.IsAborted));
}
