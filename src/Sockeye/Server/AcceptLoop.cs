using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;
using Sockeye.Transport.Epoll;

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

    /// <summary>Starts accepting on every listener; the task ends when all have stopped (after
    /// <see cref="StopAccepting"/>, or when the listeners are closed). With the epoll engine the
    /// pollers accept (<see cref="EpollAcceptor"/>); with .NET's engine one loop per listener does.</summary>
    public Task RunAsync(Socket[] listeners)
    {
        _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve);
        _counters.SetAcceptors(listeners.Length);
        if (_context.Poller is { } group)
        {
            _acceptors = EpollAcceptor.StartAll(this, listeners, group, sharedWithOtherProcesses: _options.ListenFd is not null,
                _counters, _options.TimeProvider, _logger, _options.AcceptFault, _server.StopRequested);
            return Task.WhenAll(_acceptors.Select(a => a.Completion));
        }

        var loops = new Task[listeners.Length];
        for (var i = 0; i < listeners.Length; i++)
        {
            loops[i] = AcceptAsync(listeners[i], i);
        }

        return Task.WhenAll(loops);
    }

    /// <summary>Step one of a stop, before the listeners are closed: the pollers stop accepting
    /// (their listeners leave epoll while still open). .NET's loops end when the listeners close.</summary>
    public void StopAccepting()
    {
        foreach (var acceptor in _acceptors)
        {
            acceptor.Stop();
        }
    }

    // The pollers' accept paths, one per listener; empty with .NET's engine.
    private EpollAcceptor[] _acceptors = [];

    /// <summary>The most connections one readiness event accepted, over the pollers' accept paths
    /// (0 with .NET's engine): a test probe.</summary>
    internal int PausedAcceptors => _acceptors.Count(a => a.IsPaused);

    internal int LargestBatch => _acceptors.Length == 0 ? 0 : _acceptors.Max(a => a.LargestBatch);

    private async Task AcceptAsync(Socket listener, int acceptor)
    {
        using var backoff = new AcceptBackoff(_counters, _options.TimeProvider, _logger, _server.StopRequested);
        while (true)
        {
            if (_options.WaitWhenFull && !await WaitForFreeSlotAsync().ConfigureAwait(false))
            {
                return; // stopping
            }

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
                    OnOutOfDescriptors();
                }

                if (!await backoff.TemporaryErrorAsync(ex.SocketErrorCode).ConfigureAwait(false)) return;
                continue;
            }
            catch (Exception ex)
            {
                if (!await backoff.UnexpectedErrorAsync(ex).ConfigureAwait(false)) return;
                continue;
            }

            if (!Admit(socket.SafeHandle, socket, PeerAddress.Of(socket.RemoteEndPoint), backoff, acceptor, poller: null))
            {
                if (!await backoff.TemporaryErrorAsync(SocketError.TooManyOpenSockets).ConfigureAwait(false)) return;
            }
        }
    }

    /// <summary>Whether every <see cref="TcpServerOptions.MaxConnections"/> slot is taken and the
    /// server waits for one rather than accepting (<see cref="TcpServerOptions.WaitWhenFull"/>).</summary>
    internal bool WaitsForSlot => _options.WaitWhenFull && _server.Slots.Taken >= _server.Slots.Limit;

    /// <summary>Completes with <see langword="true"/> when a connection slot is free, or with
    /// <see langword="false"/> when the server began stopping first.</summary>
    internal async Task<bool> WaitForFreeSlotAsync()
    {
        try
        {
            await _server.Slots.WaitForFreeAsync(_server.StopRequested).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>An accept failed with <c>EMFILE</c>: the limit may have been lowered under us, so the
    /// ceiling is read again.</summary>
    internal void OnOutOfDescriptors() => _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve);

    /// <summary>
    /// What follows every accept, on either engine: the descriptor cushion, the descriptor ceiling,
    /// a slot (<see cref="TcpServerOptions.MaxConnections"/>), the socket options, the edge check at
    /// accept (source lists, per-address cap, accept rate, PROXY trust), then the handler, started
    /// without awaiting it. A refused socket is reset and counted.
    /// </summary>
    /// <param name="handle">The accepted descriptor.</param>
    /// <param name="socket">.NET's socket over it, when .NET accepted it (or it is a Unix socket).</param>
    /// <param name="remote">The peer's address.</param>
    /// <param name="backoff">The accepting loop's back-off (its descriptor cushion).</param>
    /// <param name="acceptor">The listener's index, for the per-acceptor count.</param>
    /// <param name="poller">The poller that accepted it, where its socket will be registered; null
    /// with .NET's engine.</param>
    /// <returns><see langword="false"/> when the descriptor cushion could not be retaken (the
    /// socket was refused): the caller backs off as for <c>EMFILE</c>.</returns>
    internal bool Admit(SafeHandle handle, Socket? socket, PeerAddress remote, AcceptBackoff backoff, int acceptor, Poller? poller)
    {
        if (!backoff.CushionInPlace())
        {
            Refuse(handle, socket, remote, forLimit: false);
            return false;
        }

        backoff.Succeeded();
        if (handle.DangerousGetHandle() >= _descriptorCeiling)
        {
            Refuse(handle, socket, remote, forLimit: false);
            return true;
        }

        if (!_server.Slots.TryTake())
        {
            Refuse(handle, socket, remote, forLimit: true);
            return true;
        }

        if (TryCreateConnection(handle, socket, remote) is not { } connection)
        {
            _server.ReleaseSlot();
            return true;
        }

        if (poller is not null)
        {
            connection.PollToken = poller.AcceptedToken; // registered on this loop at its first EAGAIN
        }

        if (_edge is { } edge && !edge.AdmitAtAccept(connection))
        {
            _server.ReleaseSlot(); // refused (source lists, per-address cap, accept rate, untrusted proxy): reset and counted
            return true;
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

        return true;
    }

    /// <summary>Configures the socket and wraps it; <see langword="null"/> (the socket closed) when the
    /// peer reset before the options could be set.</summary>
    private SocketConnection? TryCreateConnection(SafeHandle handle, Socket? socket, PeerAddress remote)
    {
        try
        {
            Configure(handle, socket, remote, _options);
            return socket is not null ? new SocketConnection(socket, _context) : new SocketConnection(handle, remote, _context);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Not worth more than Debug: the peer left before we could serve it.
            SockeyeLog.ConnectionSetupFailed(_logger, null, ex);
            Close(handle, socket);
            return null;
        }
    }

    private bool IsListenerClosed(Exception ex) =>
        ex is ObjectDisposedException
        || (ex is SocketException se && SocketErrors.IsClosedLocally(se.SocketErrorCode))
        || !_server.IsListening;

    private void Refuse(SafeHandle handle, Socket? socket, PeerAddress remote, bool forLimit)
    {
        _counters.OnRejected(forLimit);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionRejected(_logger, remote.ToEndPoint(), _server.Slots.Taken, _options.MaxConnections);
        }

        // RST at once: no handler, no buffers, no TIME_WAIT on our side.
        SetOption(handle, socket, SocketOptionLevel.Socket, SocketOptionName.Linger, 0, mayFail: true);
        Close(handle, socket);
    }

    private static void Close(SafeHandle handle, Socket? socket)
    {
        if (socket is not null)
        {
            socket.Dispose();
        }
        else
        {
            handle.Dispose();
        }
    }

    private static void Configure(SafeHandle handle, Socket? socket, PeerAddress remote, TcpServerOptions options)
    {
        if (options.ListenFd is not null)
        {
            // A listening socket shared with other processes (TcpServerOptions.ListenFd) may carry
            // SO_LINGER {on, 0}: .NET sets it on a listener it disposes with an accept pending (a worker
            // that stopped), and accepted sockets inherit it, so every later close would be a reset
            // instead of a FIN. One setsockopt per accept, only on shared listeners.
            SetOption(handle, socket, SocketOptionLevel.Socket, SocketOptionName.DontLinger, 0);
        }

        if (!remote.IsIp)
        {
            return; // A Unix domain socket: Nagle, keep-alive and TCP buffer tuning do not exist there.
        }

        SetOption(handle, socket, SocketOptionLevel.Tcp, SocketOptionName.NoDelay, options.NoDelay ? 1 : 0);
        // ReceiveBufferSize and SendBufferSize are not set here: the socket inherited them from its
        // listener, where they were set before the handshake (ListenSocketBinder.SetBufferSizes says why).

        if (options.KeepAlive is { } keepAlive)
        {
            SetOption(handle, socket, SocketOptionLevel.Socket, SocketOptionName.KeepAlive, 1);
            SetOption(handle, socket, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Math.Ceiling(keepAlive.TotalSeconds));
            SetOption(handle, socket, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Math.Ceiling(options.KeepAliveInterval.TotalSeconds));
            SetOption(handle, socket, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.KeepAliveRetryCount);
        }
    }

    /// <summary>Sets one option: through .NET's socket when there is one (every OS), else with
    /// <c>setsockopt</c> on the descriptor (the epoll engine, Linux). <see cref="SocketOptionName.Linger"/>
    /// and <see cref="SocketOptionName.DontLinger"/> set <c>SO_LINGER</c> {on, value} and {off, 0}.</summary>
    /// <exception cref="SocketException">The option could not be set (unless <paramref name="mayFail"/>).</exception>
    private static void SetOption(SafeHandle handle, Socket? socket, SocketOptionLevel level, SocketOptionName name, int value, bool mayFail = false)
    {
        if (socket is not null)
        {
            try
            {
                if (name == SocketOptionName.Linger || name == SocketOptionName.DontLinger)
                {
                    socket.LingerState = new LingerOption(name == SocketOptionName.Linger, value);
                }
                else
                {
                    socket.SetSocketOption(level, name, value);
                }
            }
            catch (SocketException) when (mayFail)
            {
            }

            return;
        }

        var error = name switch
        {
            SocketOptionName.Linger => EpollNative.SetLinger(handle, on: true, value),
            SocketOptionName.DontLinger => EpollNative.SetLinger(handle, on: false, 0),
            _ => EpollNative.SetOption(handle, level == SocketOptionLevel.Tcp ? LinuxTcp : LinuxSocket, LinuxOptionName(level, name), value),
        };
        if (error != 0 && !mayFail)
        {
            throw EpollNative.Failure(error);
        }
    }

    private const int LinuxSocket = 1; // SOL_SOCKET
    private const int LinuxTcp = 6;    // IPPROTO_TCP

    /// <summary>Linux's number for the options <see cref="Configure"/> sets.</summary>
    private static int LinuxOptionName(SocketOptionLevel level, SocketOptionName name) => (level, name) switch
    {
        (SocketOptionLevel.Tcp, SocketOptionName.NoDelay) => 1,               // TCP_NODELAY
        (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime) => 4,      // TCP_KEEPIDLE
        (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval) => 5,  // TCP_KEEPINTVL
        (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount) => 6, // TCP_KEEPCNT
        (SocketOptionLevel.Socket, SocketOptionName.SendBuffer) => 7,         // SO_SNDBUF
        (SocketOptionLevel.Socket, SocketOptionName.ReceiveBuffer) => 8,      // SO_RCVBUF
        (SocketOptionLevel.Socket, SocketOptionName.KeepAlive) => 9,          // SO_KEEPALIVE
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no Linux number known for this socket option"),
    };
}
