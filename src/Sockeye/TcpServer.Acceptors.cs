using System.Net;
using System.Net.Sockets;
using Sockeye.Transport;

namespace Sockeye;

public sealed partial class TcpServer
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int SoReusePort = 15;

    // How many times a port chosen for port 0 is tried before giving up (another process may take it
    // between the probe and the bind).
    private const int PortChoiceAttempts = 10;

    // The listening sockets: one per acceptor for TCP, one for a Unix socket. Empty before the start.
    private Socket[] _listeners = [];

    // Connections each acceptor handed to a handler, by acceptor index: shows how the kernel spread them.
    private long[] _acceptedByAcceptor = [];

    /// <summary>How many listening sockets, each with its own accept loop, the server runs; 0 before
    /// the start. See <see cref="TcpServerOptions.AcceptorCount"/>.</summary>
    public int AcceptorCount => _listeners.Length;

    /// <summary>Connections handed to a handler by each acceptor since the start, by acceptor index.</summary>
    internal long[] AcceptedByAcceptor()
    {
        var counts = new long[_acceptedByAcceptor.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Interlocked.Read(ref _acceptedByAcceptor[i]);
        }

        return counts;
    }

    /// <summary>Starts one <see cref="AcceptLoopAsync"/> per listener; the task ends when all have.</summary>
    private Task RunAcceptLoops(Socket[] listeners)
    {
        _acceptedByAcceptor = new long[listeners.Length];
        var loops = new Task[listeners.Length];
        for (var i = 0; i < listeners.Length; i++)
        {
            loops[i] = AcceptLoopAsync(listeners[i], i);
        }

        return Task.WhenAll(loops);
    }

    private void CloseListeners()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
    }

    /// <summary>
    /// Opens the TCP listeners. One acceptor that does not share the port binds exclusively, as Go does.
    /// Otherwise the port is first claimed with an exclusive probe (unless sharing was asked for on a
    /// given port), then every listener binds it with <c>SO_REUSEPORT</c>.
    /// </summary>
    private static Socket[] ListenTcp(TcpServerOptions options)
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

        for (var attempt = 1; ; attempt++)
        {
            // Not a bind with SO_REUSEPORT straight away: on port 0 Linux's port search would treat ports
            // held by other SO_REUSEPORT listeners of the same user as free, and on a given port the bind
            // would silently join a server that is already there. An exclusive probe bind fails instead.
            var endPoint = options.SharePort && requested.Port != 0 ? requested : ClaimPort(requested);
            var listeners = new List<Socket>(count);
            try
            {
                for (var i = 0; i < count; i++)
                {
                    listeners.Add(Listen(options, endPoint, reusePort: true));
                }

                return [.. listeners];
            }
            catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } && requested.Port == 0 && attempt < PortChoiceAttempts)
            {
                // The probed port was taken between the probe and the bind: choose again.
                listeners.ForEach(listener => listener.Dispose());
            }
            catch
            {
                listeners.ForEach(listener => listener.Dispose());
                throw;
            }
        }
    }

    /// <summary>Binds <paramref name="endPoint"/> exclusively and lets it go again: fails, naming the
    /// port, when another socket listens there; on port 0, returns the free port the kernel chose.</summary>
    private static IPEndPoint ClaimPort(IPEndPoint endPoint)
    {
        using var probe = CreateListenSocket(endPoint, reusePort: false);
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
        var listener = CreateListenSocket(endPoint, reusePort);
        try
        {
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

    private static Socket CreateListenSocket(IPEndPoint endPoint, bool reusePort)
    {
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }

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

    private static IOException ListenFailed(IPEndPoint endPoint, SocketException ex)
    {
        return new IOException($"cannot listen on {endPoint}: {SocketErrors.DescribeBindFailure(ex)}", ex);
    }
}
