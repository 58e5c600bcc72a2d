using System.Net;
using System.Net.Sockets;
using Sockeye.Transport;
using Sockeye.Udp;

namespace Sockeye.Server;

/// <summary>
/// Opens the sockets a server listens or receives on: TCP listeners (one, or one per
/// <c>SO_REUSEPORT</c> acceptor after an exclusive port probe), a Unix domain socket, and UDP's
/// <c>SO_REUSEPORT</c> receive sockets. TCP and UDP share the port-0 retry: a port chosen by a probe
/// can be taken by another process before the real bind, and is then chosen again.
/// </summary>
internal static class ListenSocketBinder
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int SoReusePort = 15;

    // How many times a port chosen for port 0 is tried before giving up (another process may take it
    // between the probe and the bind).
    private const int PortChoiceAttempts = 10;

    /// <summary>
    /// Opens the TCP listeners. One acceptor that does not share the port binds exclusively, as Go does.
    /// Otherwise the port is first claimed with an exclusive probe (unless sharing was asked for on a
    /// given port), then every listener binds it with <c>SO_REUSEPORT</c>.
    /// </summary>
    public static Socket[] ListenTcp(TcpServerOptions options)
    {
        if (options.SharePort && !OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("TcpServerOptions.SharePort needs Linux: SO_REUSEPORT balances connections over listeners only there");
        }

        // SO_REUSEPORT spreads connections over the sockets only on Linux; on macOS the last socket
        // bound would get them all.
        var count = OperatingSystem.IsLinux() ? options.AcceptorCount : 1;
        var requested = options.EndPoint;
        if (count == 1 && !options.SharePort)
        {
            return [Listen(options, requested, reusePort: false)];
        }

        return WithPortRetry(requested.Port == 0, listeners =>
        {
            // Not a bind with SO_REUSEPORT straight away: on port 0 Linux's port search would treat ports
            // held by other SO_REUSEPORT listeners of the same user as free, and on a given port the bind
            // would silently join a server that is already there. An exclusive probe bind fails instead.
            var endPoint = options.SharePort && requested.Port != 0 ? requested : ClaimTcpPort(requested);
            for (var i = 0; i < count; i++)
            {
                listeners.Add(Listen(options, endPoint, reusePort: true));
            }
        });
    }

    /// <summary>Binds <see cref="UdpServerOptions.ReceiveSockets"/> sockets to one address and port.</summary>
    public static Socket[] BindUdp(UdpServerOptions options)
    {
        // SO_REUSEPORT spreads datagrams over the sockets only on Linux; elsewhere it means something else
        // (on macOS the last socket bound gets everything), so use one socket there.
        var count = OperatingSystem.IsLinux() ? options.ReceiveSockets : 1;
        var endPoint = options.EndPoint;
        try
        {
            return WithPortRetry(endPoint.Port == 0, sockets =>
            {
                var port = endPoint.Port;
                if (port == 0 && count > 1)
                {
                    // The same reason as TCP's probe: a bind to port 0 with SO_REUSEPORT could land on a
                    // port another server's SO_REUSEPORT sockets hold (two tests running in parallel).
                    port = ProbeFreeUdpPort(endPoint.Address);
                }

                for (var i = 0; i < count; i++)
                {
                    var socket = CreateUdpSocket(options, endPoint.Address, reusePort: count > 1);
                    sockets.Add(socket);
                    socket.Bind(new IPEndPoint(endPoint.Address, port));
                    port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                }
            });
        }
        catch (SocketException ex)
        {
            throw new IOException($"cannot receive UDP on {endPoint}: {SocketErrors.DescribeBindFailure(ex)}", ex);
        }
    }

    /// <summary>
    /// Binds a Unix domain socket at <see cref="TcpServerOptions.UnixSocketPath"/>: clears a stale file,
    /// binds, applies the permissions, then listens (in that order, so no client connects before the mode
    /// is set). On failure the file it created is removed.
    /// </summary>
    public static Socket ListenUnix(TcpServerOptions options, UnixSocketFile file)
    {
        var path = file.Path;
        file.ClearStale();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            file.Created();
            if (options.UnixSocketPermissions is { } mode && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, mode);
            }

            listener.Listen(options.ListenBacklog);
            return listener;
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            file.Remove();
            var why = ex is SocketException se ? se.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the path is already in use",
                SocketError.AccessDenied => "permission denied",
                SocketError.AddressNotAvailable => "the directory does not exist",
                _ => ex.Message,
            } : ex.Message;
            throw new IOException($"cannot listen on unix:{path}: {why}", ex);
        }
    }

    /// <summary>Runs <paramref name="bind"/>, which adds every socket it opens to the list it is given;
    /// on failure closes them, and when the port was chosen (port 0) and another process took it
    /// before the bind, binds again.</summary>
    private static Socket[] WithPortRetry(bool portChosen, Action<List<Socket>> bind)
    {
        for (var attempt = 1; ; attempt++)
        {
            var sockets = new List<Socket>();
            try
            {
                bind(sockets);
                return [.. sockets];
            }
            catch (Exception ex) when (portChosen && attempt < PortChoiceAttempts && IsAddressInUse(ex))
            {
                sockets.ForEach(socket => socket.Dispose()); // The probed port was taken in the meantime: choose again.
            }
            catch
            {
                sockets.ForEach(socket => socket.Dispose());
                throw;
            }
        }
    }

    private static bool IsAddressInUse(Exception ex) =>
        (ex as SocketException ?? ex.InnerException as SocketException) is { SocketErrorCode: SocketError.AddressAlreadyInUse };

    /// <summary>Binds <paramref name="endPoint"/> exclusively and lets it go again: fails, naming the
    /// port, when another socket listens there; on port 0, returns the free port the kernel chose.</summary>
    private static IPEndPoint ClaimTcpPort(IPEndPoint endPoint)
    {
        using var probe = CreateTcpSocket(endPoint, reusePort: false);
        try
        {
            probe.Bind(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new IOException($"cannot listen on {endPoint}: port {endPoint.Port} is already in use by another server " +
                "(set TcpServerOptions.SharePort, or --share-port, to share it on purpose through SO_REUSEPORT)", ex);
        }
        catch (SocketException ex)
        {
            throw ListenFailed(endPoint, ex);
        }

        return (IPEndPoint)probe.LocalEndPoint!;
    }

    /// <summary>Opens one listening socket on <paramref name="endPoint"/>.</summary>
    private static Socket Listen(TcpServerOptions options, IPEndPoint endPoint, bool reusePort)
    {
        var listener = CreateTcpSocket(endPoint, reusePort);
        try
        {
            SetBufferSizes(listener, options);
            listener.Bind(endPoint);
            listener.Listen(options.ListenBacklog);
            return listener;
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            if (reusePort && ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"cannot listen on {endPoint}: port {endPoint.Port} is held by a server that does not share it " +
                    "(without SO_REUSEPORT, or run by another user)", ex);
            }

            throw ListenFailed(endPoint, ex);
        }
    }

    /// <summary>
    /// Sets <see cref="TcpServerOptions.ReceiveBufferSize"/> and <see cref="TcpServerOptions.SendBufferSize"/>
    /// on a TCP listening socket; every socket it accepts inherits them (the kernel clones them, locked, at
    /// the SYN). On the listener, not on each accepted socket: the handshake advertises a window (and fixes
    /// its scale) from the buffer the socket has then, and a receive buffer shrunk after it leaves the peer
    /// allowed to send more than fits, which the kernel prunes, drops and has resent after a retransmission
    /// timeout (measured: 3 MB through 16 KiB buffers set after the handshake took 5-20 s, RcvPruned and
    /// TCPRcvQDrop counted; set before, milliseconds). <c>man 7 tcp</c>: "must be set prior to the listen(2)
    /// or connect(2) calls". On an adopted listener (<see cref="TcpServerOptions.ListenFd"/>) it applies to
    /// connections that arrive from then on.
    /// </summary>
    public static void SetBufferSizes(Socket listener, TcpServerOptions options)
    {
        if (listener.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            return; // A Unix stream socket: no TCP window; the options are documented as TCP's.
        }

        if (options.ReceiveBufferSize is { } receive)
        {
            listener.ReceiveBufferSize = receive;
        }

        if (options.SendBufferSize is { } send)
        {
            listener.SendBufferSize = send;
        }
    }

    private static Socket CreateTcpSocket(IPEndPoint endPoint, bool reusePort)
    {
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            AllowDualMode(listener, endPoint.Address);
            if (OperatingSystem.IsLinux())
            {
                // SO_REUSEADDR, as Go does, so a restart can bind while old connections sit in TIME_WAIT.
                // Not Socket.ReuseAddress: on Unix it also sets SO_REUSEPORT, which would let two servers
                // share the port without knowing it (dotnet/corefx#24562). SO_REUSEPORT only when asked.
                listener.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
                if (reusePort)
                {
                    listener.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
                }
            }

            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    private static Socket CreateUdpSocket(UdpServerOptions options, IPAddress address, bool reusePort)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            AllowDualMode(socket, address);
            if (reusePort)
            {
                // SO_REUSEPORT alone: Socket.ReuseAddress would also set SO_REUSEADDR (dotnet/corefx#24562).
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            }

            if (options.ReceiveBufferSize is { } receive)
            {
                socket.ReceiveBufferSize = receive;
            }

            if (options.SendBufferSize is { } send)
            {
                socket.SendBufferSize = send;
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void AllowDualMode(Socket socket, IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any))
        {
            socket.DualMode = true;
        }
    }

    private static int ProbeFreeUdpPort(IPAddress address)
    {
        using var probe = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static IOException ListenFailed(IPEndPoint endPoint, SocketException ex) =>
        new($"cannot listen on {endPoint}: {SocketErrors.DescribeBindFailure(ex)}", ex);
}
