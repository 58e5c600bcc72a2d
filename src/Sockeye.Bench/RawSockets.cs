using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sockeye.Transport.Epoll;

namespace Sockeye.Bench;

/// <summary>
/// The Linux system calls <see cref="EpollIdleWorkload"/> makes on plain descriptor numbers: a
/// connection it holds is an <see cref="int"/>, not a .NET <see cref="Socket"/> (whose handle,
/// endpoint objects and socket-engine state cost about 3 KB per idle connection).
/// </summary>
/// <remarks>Descriptors are only used and closed by the one thread that owns them, so a number
/// cannot be reused under a call: no <see cref="SafeHandle"/> is needed.</remarks>
internal static unsafe partial class RawSockets
{
    private const string Libc = "libc";

    // The epoll constants, the event layout and epoll_create/epoll_wait are the server engine's (EpollNative).
    public const uint EPOLLIN = EpollNative.EPOLLIN;
    public const uint EPOLLOUT = EpollNative.EPOLLOUT;
    public const uint EPOLLRDHUP = EpollNative.EPOLLRDHUP;
    public const int EPOLL_CTL_ADD = EpollNative.EPOLL_CTL_ADD;
    public const int EPOLL_CTL_DEL = EpollNative.EPOLL_CTL_DEL;
    public const int EPOLL_CTL_MOD = EpollNative.EPOLL_CTL_MOD;
    public const int EAGAIN = EpollNative.EAGAIN;
    public const int EINPROGRESS = 115;

    private const int EINTR = EpollNative.EINTR;
    private const int SOCK_STREAM = 1;
    private const int SOCK_NONBLOCK = 0x800;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int MSG_DONTWAIT = 0x40;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int SOL_SOCKET = 1;
    private const int SO_ERROR = 4;
    private const int IPPROTO_IP = 0;
    private const int IPPROTO_TCP = 6;
    private const int TCP_NODELAY = 1;
    private const int IP_BIND_ADDRESS_NO_PORT = 24;

    /// <summary>Whether this engine runs here: where the server's epoll engine does.</summary>
    public static bool IsSupported => PollerGroup.IsSupported;

    /// <summary>The size of one <c>struct epoll_event</c>.</summary>
    public static int EventSize => EpollNative.EventSize;

    /// <summary>Where the 64-bit user data sits in an event.</summary>
    public static int EventDataOffset => EpollNative.EventDataOffset;

    // epoll_ctl on a plain descriptor number (the engine's takes a SafeHandle).
    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketCall(int domain, int type, int protocol);

    [LibraryImport(Libc, EntryPoint = "bind", SetLastError = true)]
    private static partial int BindCall(int fd, byte* address, uint length);

    [LibraryImport(Libc, EntryPoint = "connect", SetLastError = true)]
    private static partial int ConnectCall(int fd, byte* address, uint length);

    [LibraryImport(Libc, EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Libc, EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    private static partial nint SendCall(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    private static partial nint RecvCall(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    private static partial int CloseCall(int fd);

    /// <summary>A new epoll instance (close-on-exec).</summary>
    /// <exception cref="SocketException">The kernel refused (descriptors or memory).</exception>
    public static int EpollCreate()
    {
        var epfd = EpollNative.EpollCreate(EpollNative.EPOLL_CLOEXEC);
        return epfd >= 0 ? epfd : throw new SocketException(Marshal.GetLastPInvokeError());
    }

    /// <summary><c>epoll_ctl</c> with <paramref name="data"/> handed back by every event.</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    public static int Control(int epfd, int operation, int fd, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + EventDataOffset) = data;
        return EpollCtl(epfd, operation, fd, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary><c>epoll_wait</c>, with <c>EINTR</c> answered as "no events".</summary>
    /// <exception cref="SocketException">The wait failed otherwise.</exception>
    public static int Wait(int epfd, byte* events, int maxEvents, int timeoutMilliseconds)
    {
        var count = EpollNative.EpollWait(epfd, events, maxEvents, timeoutMilliseconds);
        if (count >= 0)
        {
            return count;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == EINTR ? 0 : throw new SocketException(errno);
    }

    /// <summary>The <c>struct sockaddr</c> bytes of <paramref name="endPoint"/> (IPv4 or IPv6).</summary>
    public static byte[] Address(IPEndPoint endPoint)
    {
        var address = endPoint.Address.GetAddressBytes();
        var ipv6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        var bytes = new byte[ipv6 ? 28 : 16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 2), (ushort)(ipv6 ? 10 : 2)); // sa_family, host order.
        bytes[2] = (byte)(endPoint.Port >> 8); // The port in network order.
        bytes[3] = (byte)endPoint.Port;
        if (ipv6)
        {
            address.CopyTo(bytes, 8);
            BitConverter.TryWriteBytes(bytes.AsSpan(24, 4), (uint)endPoint.Address.ScopeId);
        }
        else
        {
            address.CopyTo(bytes, 4);
        }

        return bytes;
    }

    /// <summary>Starts a non-blocking connect.</summary>
    /// <param name="destination">Where to (<see cref="Address"/> bytes).</param>
    /// <param name="source">The address to bind first, of the same family, or null for any.</param>
    /// <param name="connected">Whether the connect completed at once (else it is in progress).</param>
    /// <param name="errno">The failure's <c>errno</c>.</param>
    /// <returns>The descriptor, or −1 (nothing left open).</returns>
    public static int StartConnect(byte[] destination, byte[]? source, out bool connected, out int errno)
    {
        connected = false;
        var domain = destination.Length == 28 ? 10 : 2;
        var fd = SocketCall(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return -1;
        }

        var one = 1;
        SetSockOpt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int)); // As the library's Dialer: small writes go at once.
        if (source is not null)
        {
            // The port is picked at connect(), so it need only be unique per destination (as the Dialer).
            SetSockOpt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(int));
            fixed (byte* s = source)
            {
                if (BindCall(fd, s, (uint)source.Length) != 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                    CloseCall(fd);
                    return -1;
                }
            }
        }

        fixed (byte* d = destination)
        {
            while (true)
            {
                if (ConnectCall(fd, d, (uint)destination.Length) == 0)
                {
                    connected = true;
                    errno = 0;
                    return fd;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno == EINPROGRESS)
                {
                    errno = 0;
                    return fd;
                }

                if (errno != EINTR)
                {
                    CloseCall(fd);
                    return -1;
                }
            }
        }
    }

    /// <summary>The outcome of a connect in progress (<c>SO_ERROR</c>): 0 when connected.</summary>
    public static int PendingError(int fd)
    {
        int error;
        var length = (uint)sizeof(int);
        return GetSockOpt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : Marshal.GetLastPInvokeError();
    }

    /// <summary>One non-blocking send (no SIGPIPE).</summary>
    /// <returns>Bytes taken, or −1 with <paramref name="errno"/> set.</returns>
    public static int Send(int fd, ReadOnlySpan<byte> data, out int errno)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                var sent = SendCall(fd, p, (nuint)data.Length, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (sent >= 0)
                {
                    errno = 0;
                    return (int)sent;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -1;
                }
            }
        }
    }

    /// <summary>One non-blocking receive.</summary>
    /// <returns>Bytes received (0: the peer's FIN), or −1 with <paramref name="errno"/> set.</returns>
    public static int Receive(int fd, Span<byte> buffer, out int errno)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var received = RecvCall(fd, p, (nuint)buffer.Length, MSG_DONTWAIT);
                if (received >= 0)
                {
                    errno = 0;
                    return (int)received;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -1;
                }
            }
        }
    }

    /// <summary>Closes <paramref name="fd"/> (a FIN for a connected socket).</summary>
    public static void Close(int fd) => CloseCall(fd);
}
