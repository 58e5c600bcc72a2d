using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sockeye.Transport.Epoll;

/// <summary>
/// The few Linux system calls the epoll engine makes itself: <c>epoll_create1</c>, <c>epoll_ctl</c>,
/// <c>epoll_wait</c>, and non-blocking <c>recv</c>/<c>sendmsg</c> on a connection's socket.
/// </summary>
/// <remarks>
/// <c>recv</c> and <c>sendmsg</c> take <c>MSG_DONTWAIT</c>, so the socket's descriptor stays in the
/// mode .NET gave it (no <c>fcntl</c> per connection) and <see cref="Socket"/>'s own calls keep their
/// meaning. <c>MSG_NOSIGNAL</c>: a send to a closed peer fails with <c>EPIPE</c> instead of raising
/// SIGPIPE. The socket is passed as its <see cref="SafeHandle"/>, so a concurrent close waits
/// until the call returns and the descriptor number cannot be reused under it.
/// </remarks>
internal static unsafe partial class EpollNative
{
    private const string Libc = "libc";

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;

    /// <summary>Wake one of the epoll instances waiting on the descriptor, not all (a listener shared
    /// by several poll threads: one accept per connection instead of a thundering herd).</summary>
    public const uint EPOLLEXCLUSIVE = 1u << 28;
    public const uint EPOLLET = 1u << 31;

    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const int EPOLL_CLOEXEC = 0x80000;

    private const int MSG_DONTWAIT = 0x40;
    private const int MSG_NOSIGNAL = 0x4000;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EBADF = 9;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;

    private const int SOCK_NONBLOCK = 0x800;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int SHUT_WR = 1;
    private const int SolSocket = 1;
    private const int SoLinger = 13;

    /// <summary>Gathered buffers per <c>sendmsg</c> (a flush of more blocks takes several calls).</summary>
    public const int MaxIovecs = 64;

    /// <summary>Whether epoll events are packed (12 bytes: x86-64) or aligned (16 bytes: arm64).</summary>
    public static readonly bool PackedEvents = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>The size of one <c>struct epoll_event</c>.</summary>
    public static int EventSize => PackedEvents ? 12 : 16;

    /// <summary>Where the 64-bit user data sits in an event.</summary>
    public static int EventDataOffset => PackedEvents ? 4 : 8;

    [LibraryImport(Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate(int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, SafeHandle fd, byte* ev);

    [LibraryImport(Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(SafeHandle fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(SafeHandle fd, MessageHeader* message, int flags);

    [LibraryImport(Libc, EntryPoint = "accept4", SetLastError = true)]
    private static partial int Accept4(SafeSocketHandle listener, byte* address, uint* addressLength, int flags);

    [LibraryImport(Libc, EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(SafeHandle socket, int level, int name, void* value, uint length);

    [LibraryImport(Libc, EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockName(SafeHandle socket, byte* address, uint* addressLength);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(SafeHandle socket, int command, int argument);

    /// <summary>Sets <c>O_NONBLOCK</c> on a listening socket, so <c>accept4</c> answers
    /// <c>EAGAIN</c> when the queue is empty instead of blocking the poll thread (.NET leaves a
    /// listener it has not accepted on asynchronously in blocking mode).</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int SetNonBlocking(SafeHandle socket)
    {
        const int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800;
        var flags = Fcntl(socket, F_GETFL, 0);
        if (flags < 0)
        {
            return Marshal.GetLastPInvokeError();
        }

        return (flags & O_NONBLOCK) != 0 || Fcntl(socket, F_SETFL, flags | O_NONBLOCK) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    [LibraryImport(Libc, EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownCall(SafeHandle socket, int how);

    /// <summary>The largest socket address <see cref="Accept"/> and <see cref="LocalAddress"/> read
    /// (<c>sizeof(struct sockaddr_storage)</c>).</summary>
    public const int MaxAddressLength = 128;

    /// <summary>One <c>accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)</c> on a listening socket, retried on
    /// <c>EINTR</c>: the new socket is non-blocking from birth (no <c>fcntl</c>) and not inherited by
    /// processes this one starts.</summary>
    /// <param name="listener">The listening socket.</param>
    /// <param name="address">Receives the peer's address (at least <see cref="MaxAddressLength"/> bytes).</param>
    /// <param name="addressLength">The length of the address written.</param>
    /// <param name="errno">The failure's <c>errno</c> (<see cref="EAGAIN"/>: nothing queued).</param>
    /// <returns>The new descriptor, or −1.</returns>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public static int Accept(SafeSocketHandle listener, Span<byte> address, out int addressLength, out int errno)
    {
        fixed (byte* p = address)
        {
            while (true)
            {
                var length = (uint)address.Length;
                var fd = Accept4(listener, p, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0)
                {
                    addressLength = (int)length;
                    errno = 0;
                    return fd;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    addressLength = 0;
                    return -1;
                }
            }
        }
    }

    /// <summary>Sets an integer socket option.</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int SetOption(SafeHandle socket, int level, int name, int value) =>
        SetSockOpt(socket, level, name, &value, sizeof(int)) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>Sets <c>SO_LINGER</c>: <c>{on, 0}</c> makes <c>close</c> send RST at once.</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int SetLinger(SafeHandle socket, bool on, int seconds)
    {
        var linger = stackalloc int[2];
        linger[0] = on ? 1 : 0;
        linger[1] = seconds;
        return SetSockOpt(socket, SolSocket, SoLinger, linger, 2 * sizeof(int)) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>The socket's own address (<c>getsockname</c>) into <paramref name="address"/>.</summary>
    /// <returns>The length written, or −1.</returns>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int LocalAddress(SafeHandle socket, Span<byte> address)
    {
        fixed (byte* p = address)
        {
            var length = (uint)address.Length;
            return GetSockName(socket, p, &length) == 0 ? (int)length : -1;
        }
    }

    /// <summary>Sends the FIN (<c>shutdown(SHUT_WR)</c>).</summary>
    /// <exception cref="SocketException">The socket is not connected (the peer reset).</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static void ShutdownSend(SafeHandle socket)
    {
        if (ShutdownCall(socket, SHUT_WR) != 0)
        {
            throw Failure(Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Adds <paramref name="socket"/> to <paramref name="epfd"/> (<see cref="EPOLL_CTL_ADD"/>)
    /// or changes its events (<see cref="EPOLL_CTL_MOD"/>), with <paramref name="data"/> handed back by
    /// every event.</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int Control(int epfd, int operation, SafeHandle socket, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + EventDataOffset) = data;
        return EpollCtl(epfd, operation, socket, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>One non-blocking receive into <paramref name="buffer"/>.</summary>
    /// <returns>Bytes received (0: the peer's FIN), or −1 with <paramref name="errno"/> set.</returns>
    public static int Receive(SafeHandle socket, Span<byte> buffer, out int errno)
    {
        while (true)
        {
            nint received;
            fixed (byte* p = buffer)
            {
                received = Recv(socket, p, (nuint)buffer.Length, MSG_DONTWAIT);
            }

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

    /// <summary>One non-blocking gathered send of the chain from <paramref name="head"/> (at
    /// <paramref name="offset"/>) on, up to <see cref="MaxIovecs"/> segments.</summary>
    /// <returns>Bytes the kernel took, or −1 with <paramref name="errno"/> set.</returns>
    /// <remarks>Pool blocks live on the pinned object heap and are passed as they are; a segment from
    /// elsewhere (a write larger than a block) is pinned for the length of the call.</remarks>
    public static long Send(SafeHandle socket, BufferSegment head, int offset, out int errno)
    {
        var iovecs = stackalloc IoVector[MaxIovecs];
        GCHandle[]? pins = null;
        var count = 0;
        try
        {
            for (var segment = head; segment is not null && count < MaxIovecs; segment = segment.NextSegment)
            {
                var length = segment.End - offset;
                if (length > 0)
                {
                    byte* start;
                    if (segment.IsPinned)
                    {
                        start = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(segment.Array));
                    }
                    else
                    {
                        pins ??= new GCHandle[MaxIovecs];
                        pins[count] = GCHandle.Alloc(segment.Array, GCHandleType.Pinned);
                        start = (byte*)pins[count].AddrOfPinnedObject();
                    }

                    iovecs[count].Base = start + offset;
                    iovecs[count].Length = (nuint)length;
                    count++;
                }

                offset = 0;
            }

            var message = default(MessageHeader);
            message.Iov = iovecs;
            message.IovLength = (nuint)count;
            while (true)
            {
                var sent = SendMsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (sent >= 0)
                {
                    errno = 0;
                    return sent;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -1;
                }
            }
        }
        finally
        {
            if (pins is not null)
            {
                foreach (var pin in pins)
                {
                    if (pin.IsAllocated)
                    {
                        pin.Free();
                    }
                }
            }
        }
    }

    /// <summary>The <see cref="SocketError"/> for a Linux <c>errno</c> from a socket call (the
    /// values .NET itself maps them to).</summary>
    private static SocketError ToSocketError(int errno) => errno switch
    {
        EAGAIN => SocketError.WouldBlock,
        9 => SocketError.OperationAborted, // EBADF: closed
        22 => SocketError.InvalidArgument, // EINVAL: a listener no longer listening
        23 or 24 => SocketError.TooManyOpenSockets, // ENFILE, EMFILE
        12 or 105 => SocketError.NoBufferSpaceAvailable, // ENOMEM, ENOBUFS
        32 => SocketError.Shutdown, // EPIPE
        71 => SocketError.ProtocolOption, // EPROTO: a handshake that failed in the accept queue
        100 => SocketError.NetworkDown,
        101 => SocketError.NetworkUnreachable,
        102 => SocketError.NetworkReset,
        103 => SocketError.ConnectionAborted,
        104 => SocketError.ConnectionReset,
        107 => SocketError.NotConnected,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        112 => SocketError.HostDown,
        113 => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    /// <summary>A <see cref="SocketException"/> for a Linux <c>errno</c>.</summary>
    public static SocketException Failure(int errno) => new((int)ToSocketError(errno));

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }
}
