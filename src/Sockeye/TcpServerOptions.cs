using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye;

/// <summary>
/// Settings for a <see cref="TcpServer"/>: where it listens, how many connections it holds, and how
/// each accepted socket is configured. The server copies them when it is constructed and validates the
/// copy, so changes made to this object afterwards have no effect on it. The copy is shallow below
/// the source lists and <see cref="ProxyProtocol"/>: <see cref="Tls"/> and the objects it holds
/// (certificates, callbacks) are shared.
/// </summary>
public sealed partial class TcpServerOptions
{
    /// <summary>The address and port to listen on.</summary>
    /// <remarks>Default: 127.0.0.1 on port 0 (the kernel picks a free port; read it back from
    /// <see cref="TcpServer.LocalEndPoint"/>). Use <see cref="IPAddress.IPv6Any"/> to accept IPv4
    /// and IPv6 clients on one dual-mode socket.</remarks>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 0);

    /// <summary>A Unix domain socket path to listen on instead of <see cref="EndPoint"/>;
    /// <see langword="null"/> listens on TCP.</summary>
    /// <remarks>Default: <see langword="null"/>. Connections get the same <see cref="Connection"/> API as over
    /// TCP, without TCP's per-packet cost, for peers on the same machine. The file is created when the server
    /// starts and removed when it stops. A file left by a crashed run is replaced when nothing is listening on
    /// it; the start fails if a server is listening, or if the path is a directory, a symbolic link or a
    /// non-empty regular file. Linux limits the path to 107 bytes. TCP-only options
    /// (<see cref="NoDelay"/>, <see cref="KeepAlive"/>) do not apply.</remarks>
    public string? UnixSocketPath { get; set; }

    /// <summary>The permissions given to the <see cref="UnixSocketPath"/> file; <see langword="null"/> keeps
    /// those the process's umask gives.</summary>
    /// <remarks>Default: <see langword="null"/>, as Go. Connecting needs write permission on the file, so
    /// <c>UserRead | UserWrite</c> (0600) admits only the server's user and adding the group bits (0660) admits
    /// its group. The mode is set before the socket listens, so no client connects under a looser one.</remarks>
    public UnixFileMode? UnixSocketPermissions { get; set; }

    /// <summary>The most connections the server holds at once.</summary>
    /// <remarks>Default: 10,000. A connection accepted over the limit is reset at once (no handler
    /// runs, no buffer is rented) and counted in <see cref="TcpServer.RejectedConnections"/>. Keep it
    /// below the process's file-descriptor limit (<c>ulimit -n</c>) less a margin for the listener,
    /// logs and metrics, or the kernel will refuse accepts before the limit is reached.</remarks>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Whether a server holding <see cref="MaxConnections"/> stops accepting until one closes,
    /// instead of accepting and resetting the excess.</summary>
    /// <remarks>Default: <see langword="false"/>: a client over the limit learns at once (a reset) rather
    /// than waiting in the kernel's queue. Set it where the listener is shared by several processes
    /// (<c>sockeye serve --processes</c> sets it for its workers): there a full worker that leaves new
    /// connections in the queue lets a worker with room take them, where resetting would refuse a client
    /// the group as a whole could serve. This is Go's <c>netutil.LimitListener</c>. Two acceptors racing
    /// for the last slot can still reset one connection.</remarks>
    public bool WaitWhenFull { get; set; }

    /// <summary>How many file descriptors the process keeps free for itself: a connection accepted
    /// when fewer than this many are left under the descriptor limit (<c>ulimit -n</c>) is refused,
    /// like one over <see cref="MaxConnections"/>.</summary>
    /// <remarks>Default: 64. The .NET runtime needs descriptors of its own (a pipe to start a thread,
    /// two to load an assembly) and ends the process with "Out of memory." when it cannot get one, so
    /// connections must not take the last ones. The check is one comparison per accept (the kernel
    /// hands out the lowest free descriptor number), so descriptors that other code opens count too.
    /// The limit is read at start and again whenever an accept fails for lack of descriptors.</remarks>
    public int DescriptorReserve { get; set; } = 64;

    /// <summary>The length of the kernel's queue of connections that completed the handshake but
    /// were not yet accepted.</summary>
    /// <remarks>Default: the kernel's cap, <c>net.core.somaxconn</c> (4,096 on current Linux), as Go's
    /// <c>net.Listen</c>; 512 (Kestrel's default) where it cannot be read. A larger queue absorbs bigger
    /// connect bursts: when it overflows the kernel drops the handshake's last ACK, and the client, which
    /// already believes it is connected, waits for a SYN-ACK retransmission (1 s, then 2 s, 4 s...) before
    /// its first byte is read. 512 was measured to overflow at 11 worker processes and 1,400 connects in
    /// flight (docs/TUNING.md). A value above <c>somaxconn</c> is capped by the kernel and logged.</remarks>
    public int ListenBacklog { get; set; } = DefaultListenBacklog;

    // Read once: the sysctl rarely changes under a running process, and options are built often in tests.
    private static readonly int DefaultListenBacklog = Math.Clamp(Transport.DescriptorLimits.SoMaxConn() ?? 512, 1, 65_535);

    /// <summary>Whether small writes are sent at once (<c>TCP_NODELAY</c>, Nagle's algorithm off).</summary>
    /// <remarks>Default: <see langword="true"/>, as Go's <c>net</c> package. Request/response protocols
    /// want it; a bulk sender that makes many tiny writes without flushing in between may not.</remarks>
    public bool NoDelay { get; set; } = true;

    /// <summary>The kernel receive buffer size of each accepted socket (<c>SO_RCVBUF</c>, Go's
    /// <c>SetReadBuffer</c>), in bytes; <see langword="null"/> keeps the kernel's default and its
    /// auto-tuning.</summary>
    /// <remarks>Default: <see langword="null"/>. Smaller saves kernel memory with many connections
    /// and throttles fast senders sooner; larger helps throughput on high-latency links. Set on the
    /// listening socket before it listens (on an adopted <see cref="ListenFd"/>, when the server starts),
    /// and inherited by each accepted socket, so the handshake already advertises a window that fits;
    /// shrinking the buffer after the handshake makes the kernel drop what the peer was allowed to send
    /// (docs/TUNING.md).</remarks>
    public int? ReceiveBufferSize { get; set; }

    /// <summary>The kernel send buffer size of each accepted socket (<c>SO_SNDBUF</c>, Go's
    /// <c>SetWriteBuffer</c>), in bytes; <see langword="null"/> keeps the kernel's default.</summary>
    /// <remarks>Default: <see langword="null"/>. The same trade-off as <see cref="ReceiveBufferSize"/>, and
    /// set the same way: on the listener, inherited by accepted sockets.</remarks>
    public int? SendBufferSize { get; set; }

    /// <summary>TCP keep-alive probes for accepted sockets, which find peers that vanished without
    /// a FIN or RST; <see langword="null"/> leaves keep-alive off.</summary>
    /// <remarks>Default: <see langword="null"/> (off). When set, the first probe is sent after this much
    /// silence, then every <see cref="KeepAliveInterval"/>, and the connection is dropped after
    /// <see cref="KeepAliveRetryCount"/> unanswered probes. Go turns keep-alive on at 15 seconds.</remarks>
    public TimeSpan? KeepAlive { get; set; }

    /// <summary>Time between unanswered keep-alive probes.</summary>
    /// <remarks>Default: 15 seconds. Used only when <see cref="KeepAlive"/> is set.</remarks>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How many unanswered keep-alive probes drop the connection.</summary>
    /// <remarks>Default: 9, the Linux default. Used only when <see cref="KeepAlive"/> is set.</remarks>
    public int KeepAliveRetryCount { get; set; } = 9;

    /// <summary>Whether a new connection's handler starts on the accept loop's thread (up to its
    /// first await) instead of being queued to the thread pool.</summary>
    /// <remarks>Default: <see langword="false"/>. Queuing costs a thread wake-up per connection, which
    /// dominates the CPU of short connections (measured: most of a churn run's server time is kernel
    /// scheduling). Starting inline saves it, but a handler that computes or blocks before its first
    /// await then delays the next accept: right for handlers that go straight to I/O, as the built-in
    /// ones do (the CLI turns it on with inline socket completions).</remarks>
    public bool StartHandlersInline { get; set; }

    /// <summary>What waits for the connections' sockets: Sockeye's own epoll loop or .NET's socket engine.</summary>
    /// <remarks>Default: <see cref="IoEngine.Default"/>, which is <see cref="IoEngine.Epoll"/> on Linux
    /// (x86-64, arm64) and <see cref="IoEngine.Sockets"/> elsewhere. The epoll engine holds about 650
    /// bytes less per idle connection; the handler's API is the same with either. The listening
    /// socket's accepts always use .NET's engine.</remarks>
    public IoEngine IoEngine { get; set; }

    /// <summary>Whether the epoll engine resumes a connection's handler on its poll thread when the
    /// socket becomes ready, instead of queuing it to the thread pool.</summary>
    /// <remarks>Default: <see langword="false"/>. Inline saves a thread hand-off per read (the same as
    /// .NET's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>, which the CLI also sets), and the
    /// engine then runs one poll thread per core. A handler that blocks or computes for long between
    /// two awaits stalls every connection of its poll thread, so leave it off for such handlers.
    /// Ignored with <see cref="IoEngine.Sockets"/>.</remarks>
    public bool InlineCompletions { get; set; }

    /// <summary>How many epoll poll threads serve the server's connections; 0 (the default) for the
    /// engine's own choice: one per core with <see cref="InlineCompletions"/>, else one per 16 cores.</summary>
    /// <remarks>Between 0 and 64. One poll thread with inline completions runs every handler of the
    /// server on one thread, as redis-server does: for a handler that keeps shared state under one lock
    /// (samples/Kv), which two poll threads on two cores would contend on. Poll threads are created on
    /// first use and live for the process; servers that ask for the same kind and count share them.
    /// Ignored with <see cref="IoEngine.Sockets"/>.</remarks>
    public int PollThreads { get; set; }

    /// <summary>Where the server logs accept errors, handler faults and shutdown; <see langword="null"/>
    /// logs nothing.</summary>
    /// <remarks>Per-connection events are logged at Debug only: a server with a million connections
    /// must not write a line per connection by default.</remarks>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The clock for back-off delays, timeouts and deadlines; tests pass a fake one.</summary>
    /// <remarks>Default: <see cref="TimeProvider.System"/>.</remarks>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Checks every option and throws an <see cref="ArgumentException"/> naming the first
    /// one that is out of range.</summary>
    /// <exception cref="ArgumentException">An option has a value the server cannot use.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(EndPoint, nameof(EndPoint));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Require(UnixSocketPath is null || (UnixSocketPath.Length > 0 && System.Text.Encoding.UTF8.GetByteCount(UnixSocketPath) <= MaxUnixSocketPathBytes),
            nameof(UnixSocketPath), UnixSocketPath, $"must be a path of 1 to {MaxUnixSocketPathBytes} bytes");
        Require(MaxConnections > 0, nameof(MaxConnections), MaxConnections, "must be at least 1");
        Require(DescriptorReserve >= 0, nameof(DescriptorReserve), DescriptorReserve, "must not be negative");
        Require(ListenBacklog > 0, nameof(ListenBacklog), ListenBacklog, "must be at least 1");
        Require(ReceiveBufferSize is null or > 0, nameof(ReceiveBufferSize), ReceiveBufferSize, "must be positive");
        Require(SendBufferSize is null or > 0, nameof(SendBufferSize), SendBufferSize, "must be positive");
        Require(KeepAlive is null || KeepAlive.Value >= TimeSpan.FromSeconds(1), nameof(KeepAlive), KeepAlive, "must be at least 1 second");
        Require(KeepAliveInterval >= TimeSpan.FromSeconds(1), nameof(KeepAliveInterval), KeepAliveInterval, "must be at least 1 second");
        if (KeepAlive is { } keepAlive)
        {
            RequireDuration(keepAlive, nameof(KeepAlive));
        }

        RequireDuration(KeepAliveInterval, nameof(KeepAliveInterval));
        Require(KeepAliveRetryCount is > 0 and <= 127, nameof(KeepAliveRetryCount), KeepAliveRetryCount, "must be between 1 and 127");
        Require(Enum.IsDefined(IoEngine), nameof(IoEngine), IoEngine, "must be Default, Epoll or Sockets");
        Require(PollThreads is >= 0 and <= Transport.Epoll.PollerGroup.MaxPollers, nameof(PollThreads), PollThreads,
            $"must be between 0 (the engine's choice) and {Transport.Epoll.PollerGroup.MaxPollers}");
        Require(IoEngine != IoEngine.Epoll || Transport.Epoll.PollerGroup.IsSupported, nameof(IoEngine), IoEngine,
            "needs Linux on x86-64 or arm64; use Default or Sockets here");
        ValidateTimeouts();
        ValidateSecurity();
        ValidateAcceptors();
        ValidateListenFd();
    }

    // sockaddr_un.sun_path holds 108 bytes on Linux, the last one the terminating NUL.
    private const int MaxUnixSocketPathBytes = 107;

    /// <summary>The one rule for every duration (<see cref="Timing.DurationText.Check"/>): not negative,
    /// at most <see cref="Timing.DurationText.Maximum"/>.</summary>
    internal static void RequireDuration(TimeSpan value, string name, string note = "")
    {
        if (Timing.DurationText.Violation(value) is { } rule)
        {
            throw new ArgumentException($"{name} {rule}{note}, got {value}", name);
        }
    }

    private static void Require(bool condition, string name, object? value, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"{name} {rule}, got {value?.ToString() ?? "null"}", name);
        }
    }

    /// <summary>The copy a server keeps (see the class remarks): the lists and the PROXY options are
    /// copied too, so that editing them after the constructor can neither change the server nor skip
    /// <see cref="Validate"/>.</summary>
    internal TcpServerOptions Snapshot()
    {
        var copy = (TcpServerOptions)MemberwiseClone();
        copy.AllowedSources = [.. AllowedSources];
        copy.DeniedSources = [.. DeniedSources];
        copy.ProxyProtocol = ProxyProtocol?.Snapshot();
        return copy;
    }

    /// <summary>A test hook for the epoll engine's accept path: called before each <c>accept4</c>; a
    /// non-zero <c>errno</c> it returns is taken as that call's failure (<c>EMFILE</c> without
    /// starving the test process of descriptors). Null outside tests.</summary>
    internal Func<int>? AcceptFault { get; set; }

    /// <summary>The epoll pollers the server's connections use, or <see langword="null"/> for .NET's engine.</summary>
    internal Transport.Epoll.PollerGroup? ResolvePoller() => IoEngine switch
    {
        IoEngine.Sockets => null,
        _ when !Transport.Epoll.PollerGroup.IsSupported => null,
        _ => Transport.Epoll.PollerGroup.Get(InlineCompletions, PollThreads),
    };
}
