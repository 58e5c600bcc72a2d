using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye.Server;

/// <summary>
/// A TCP server's accept loops, one per listening socket: take a slot → accept → configure the socket
/// → the edge check → start the handler without awaiting it → loop. Failed accepts are left to
/// <see cref="AcceptBackoff"/>; what happens to a connection after the hand-over is
/// <see cref="ConnectionLifecycle"/>'s.
/// </summary>
internal sealed class AcceptLoop
{
    private readonly TcpServerOptions _options;
    private readonly ServerLifecycle _server;
    private readonly ConnectionRegistry _connections;
    private readonly ConnectionContext _context;
    private readonly TcpServerCounters _counters;
    private readonly EdgeGate? _edge;
    private readonly ILogger _logger;

    // A new socket numbered at or above this is refused: the process is short of descriptors. Shared by
    // every loop of the server; read at the start and again when an accept fails for lack of descriptors.
    private int _descriptorCeiling = int.MaxValue;

    public AcceptLoop(TcpServerOptions options, ServerLifecycle server, ConnectionRegistry connections, ConnectionContext context,
        TcpServerCounters counters, EdgeGate? edge, ILogger logger)
    {
        _options = options;
        _server = server;
        _connections = connections;
        _context = context;
        _counters = counters;
        _edge = edge;
        _logger = logger;
    }

    /// <summary>The descriptor number at which accepted sockets are refused.</summary>
    public int DescriptorCeiling => _descriptorCeiling;

    /// <summary>Starts one loop per listener; the task ends when all have (when the listeners are closed).</summary>
    public Task RunAsync(Socket[] listeners)
    {
        _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve);
        _counters.SetAcceptors(listeners.Length);
        var loops = new Task[listeners.Length];
        for (var i = 0; i < listeners.Length; i++)
        {
            loops[i] = AcceptAsync(listeners[i], i);
        }

        return Task.WhenAll(loops);
    }

    private async Task AcceptAsync(Socket listener, int acceptor)
    {
        using var backoff = new AcceptBackoff(_counters, _options.TimeProvider, _logger, _server.StopRequested);
        while (true)
        {
            Socket socket;
            try
            {
                // The ValueTask overload: the Task-returning one allocates a task per accept, garbage
                // that ends up between the new connection's objects (docs/MEMORY.md).
                socket = await listener.AcceptAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsListenerClosed(ex))
            {
                return;
            }
            catch (SocketException ex) when (SocketErrors.IsTemporaryAcceptError(ex.SocketErrorCode))
            {
                if (ex.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve); // the limit may have been lowered under us
                }

                if (!await backoff.TemporaryErrorAsync(ex.SocketErrorCode).ConfigureAwait(false)) return;
                continue;
            }
            catch (Exception ex)
            {
                if (!await backoff.UnexpectedErrorAsync(ex).ConfigureAwait(false)) return;
                continue;
            }

            if (!backoff.CushionInPlace())
            {
                Refuse(socket, forLimit: false);
                if (!await backoff.TemporaryErrorAsync(SocketError.TooManyOpenSockets).ConfigureAwait(false)) return;
                continue;
            }

            backoff.Succeeded();
            if (socket.SafeHandle.DangerousGetHandle() >= _descriptorCeiling)
            {
                Refuse(socket, forLimit: false);
                continue;
            }

            if (!_server.Slots.TryTake())
            {
                Refuse(socket, forLimit: true);
                continue;
            }

            if (TryCreateConnection(socket) is not { } connection)
            {
                _server.ReleaseSlot();
                continue;
            }

            if (_edge is { } edge && !edge.AdmitAtAccept(connection))
            {
                _server.ReleaseSlot(); // refused (source lists, per-address cap, accept rate, untrusted proxy): reset and counted
                continue;
            }

            connection.AttachDeadlines();
            _counters.OnAccepted(acceptor);
            _connections.Add(connection);
            if (_options.StartHandlersInline)
            {
                connection.StartInline(); // ConnectionLifecycle.Run, on this thread up to the handler's first await
            }
            else
            {
                connection.Start(); // ConnectionLifecycle.Run, queued to the thread pool
            }
        }
    }

    /// <summary>Configures the socket and wraps it; <see langword="null"/> (the socket closed) when the
    /// peer reset before the options could be set.</summary>
    private SocketConnection? TryCreateConnection(Socket socket)
    {
        try
        {
            Configure(socket, _options);
            return new SocketConnection(socket, _context);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Not worth more than Debug: the peer left before we could serve it.
            SockeyeLog.ConnectionSetupFailed(_logger, null, ex);
            socket.Dispose();
            return null;
        }
    }

    private bool IsListenerClosed(Exception ex) =>
        ex is ObjectDisposedException
        || (ex is SocketException se && SocketErrors.IsClosedLocally(se.SocketErrorCode))
        || !_server.IsListening;

    private void Refuse(Socket socket, bool forLimit)
    {
        _counters.OnRejected(forLimit);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionRejected(_logger, socket.RemoteEndPoint, _server.Slots.Taken, _options.MaxConnections);
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
        if (options.ListenFd is not null)
        {
            // A listening socket shared with other processes (TcpServerOptions.ListenFd) may carry
            // SO_LINGER {on, 0}: .NET sets it on a listener it disposes with an accept pending (a worker
            // that stopped), and accepted sockets inherit it, so every later close would be a reset
            // instead of a FIN. One setsockopt per accept, only on shared listeners.
            socket.LingerState = new LingerOption(false, 0);
        }

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
}
