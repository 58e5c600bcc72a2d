using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>Everything one run of <c>sockeye bench</c> needs, after the command line was checked.</summary>
public sealed record BenchSettings
{
    /// <summary>Which workload runs.</summary>
    public BenchMode Mode { get; init; }

    /// <summary>The server: an IP endpoint, or a Unix socket path when <see cref="UnixPath"/> is set.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The server's port (ignored with <see cref="UnixPath"/>).</summary>
    public int Port { get; init; } = 7000;

    /// <summary>A Unix socket path to connect to instead of <see cref="Host"/> and <see cref="Port"/>; null for TCP.</summary>
    public string? UnixPath { get; init; }

    /// <summary>Connections held (echo, idle), connections in flight at once (churn), or sockets
    /// sending at once, each from its own port (udp).</summary>
    public int Connections { get; init; } = 100;

    /// <summary>Bytes per message (udp: per datagram, at least 8: the send timestamp rides in the first 8).</summary>
    public int Size { get; init; } = 64;

    /// <summary>Messages sent back to back before waiting for their echoes (1: strict request/response).</summary>
    public int Depth { get; init; } = 1;

    /// <summary>The measured window (echo, churn) or the hold time (idle).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Load applied before the measured window starts, not counted.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Datagrams each udp socket keeps in flight: 1 is ping-pong (pure latency); more measures throughput.</summary>
    public int Window { get; init; } = 16;

    /// <summary>A udp reply not back this long after the last one counts as lost; the socket then refills
    /// its window, so one loss does not stall it. After the window closes, what is still in flight gets this long.</summary>
    public TimeSpan LossTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Round trips per second over all connections (open loop); 0 for closed loop. Fanout: messages
    /// per second per publisher (always open loop).</summary>
    public double Rate { get; init; }

    /// <summary>Fanout: connections that join a room and only receive (subscriber i joins room i % <see cref="Rooms"/>).</summary>
    public int Subscribers { get; init; } = 1000;

    /// <summary>Fanout: rooms the subscribers and publishers are spread over.</summary>
    public int Rooms { get; init; } = 1;

    /// <summary>Fanout: connections that join a room and send to it at <see cref="Rate"/> (publisher j joins room j % <see cref="Rooms"/>).</summary>
    public int Publishers { get; init; } = 1;

    /// <summary>Stop after this many measured round trips (0: run for <see cref="Duration"/>).</summary>
    public long Requests { get; init; }

    /// <summary>Source addresses connections are spread over, round robin; null lets the kernel choose.</summary>
    public SourceAddresses? SourceAddresses { get; init; }

    /// <summary>The text <see cref="SourceAddresses"/> was parsed from, passed on to child processes.</summary>
    public string? SourceAddressesText { get; init; }

    /// <summary>Child processes to spread connections over (1: this process only).</summary>
    public int Processes { get; init; } = 1;

    /// <summary>The server's process id, to charge it CPU time and memory; null when unknown.</summary>
    public int? ServerPid { get; init; }

    /// <summary>Print the result as JSON instead of the table.</summary>
    public bool Json { get; init; }

    /// <summary>No live progress on stderr.</summary>
    public bool Quiet { get; init; }

    /// <summary>Close short connections with RST instead of FIN (churn): no TIME_WAIT on the client.</summary>
    public bool Reset { get; init; }

    /// <summary>Connect over TLS (an <see cref="System.Net.Security.SslStream"/> per connection),
    /// accepting any server certificate.</summary>
    public bool Tls { get; init; }

    /// <summary>The server name sent in the TLS handshake (SNI); null sends none.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>Run as a child of another bench process: talk over stdin/stdout, print no table.</summary>
    public bool Child { get; init; }

    /// <summary>Connections being opened at once; more would overflow the server's listen backlog.</summary>
    public int ConnectConcurrency { get; init; } = 128;

    /// <summary>The longest a connect (and, under TLS, its handshake) may take; a slower one is a connect failure.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>What holds <c>bench idle</c>'s connections: <see cref="IoEngine.Epoll"/> (bare descriptors on
    /// the bench's own epoll loop, a few bytes each), <see cref="IoEngine.Sockets"/> (a .NET
    /// <see cref="System.Net.Sockets.Socket"/> each, ~3 KB), or <see cref="IoEngine.Default"/>: epoll where
    /// it runs and the run is plain TCP, sockets otherwise (TLS, Unix sockets, not Linux).</summary>
    public IoEngine IoEngine { get; init; }

    /// <summary><c>bench idle</c>: after the final proof and the result, how long to keep the connections open
    /// waiting for the server to close them (zero: close them at once). What a drain of held connections
    /// is timed with (bench/c1m sends the server SIGTERM once the result is out).</summary>
    public TimeSpan Linger { get; init; }

    /// <summary>Whether <c>bench idle</c> runs on the epoll loop (see <see cref="IoEngine"/>).</summary>
    public bool IdleOnEpoll => IoEngine switch
    {
        IoEngine.Epoll => true,
        IoEngine.Sockets => false,
        _ => RawSockets.IsSupported && !Tls && UnixPath is null,
    };

    /// <summary>Why <paramref name="engine"/> cannot hold these connections, or null when it can.</summary>
    public static string? IdleEngineProblem(IoEngine engine, bool tls, bool unix) => engine != IoEngine.Epoll ? null
        : !RawSockets.IsSupported ? "--io-engine epoll runs on Linux (x86-64, arm64) only"
        : tls ? "--io-engine epoll holds plain TCP connections; --tls needs --io-engine sockets"
        : unix ? "--io-engine epoll holds TCP connections; --unix needs --io-engine sockets"
        : null;

    /// <summary>Where connections go, for display.</summary>
    public string Target => UnixPath is not null ? $"unix:{UnixPath}" : $"{Host}:{Port}";

    /// <summary>The endpoint to connect to.</summary>
    public EndPoint EndPoint => UnixPath is not null ? new UnixDomainSocketEndPoint(UnixPath) : new IPEndPoint(IPAddress.Parse(Host), Port);
}
