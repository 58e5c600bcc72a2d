using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Udp;

/// <summary>
/// Settings for a <see cref="UdpServer"/>: where it listens, how many sockets receive, how large a datagram
/// may be, and how much handler work may run at once. The server copies them when it is constructed and
/// validates the copy, so changes made to this object afterwards have no effect on it.
/// </summary>
public sealed class UdpServerOptions
{
    /// <summary>The address and port to receive on.</summary>
    /// <remarks>Default: 127.0.0.1 on port 0 (the kernel picks a free port; read it back from
    /// <see cref="UdpServer.LocalEndPoint"/>). <see cref="IPAddress.IPv6Any"/> receives IPv4 and IPv6 on
    /// dual-mode sockets.</remarks>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 0);

    /// <summary>How many sockets share the port (<c>SO_REUSEPORT</c>), each with its own receive loop.</summary>
    /// <remarks>Default: the number of processors. The kernel spreads senders over the sockets by a hash of
    /// their address, so several cores receive at once; one sender always lands on the same socket. More
    /// sockets than cores adds nothing. Only Linux spreads datagrams this way: elsewhere one socket is used.
    /// With more than one socket, another process of the same user could join the port with
    /// <c>SO_REUSEPORT</c> too; with one, the port is exclusive.</remarks>
    public int ReceiveSockets { get; set; } = Environment.ProcessorCount;

    /// <summary>The largest datagram payload accepted, in bytes; larger ones are dropped and counted in
    /// <see cref="UdpServer.OversizeDrops"/>.</summary>
    /// <remarks>Default: 8,192. Every receive buffer is this size plus one byte (the extra byte is how an
    /// oversize datagram is recognised), and each running handler holds one, so memory is at most
    /// <c>(MaxConcurrentHandlers + ReceiveSockets) × (MaxDatagramSize + 1)</c>: 8 MiB with the defaults.
    /// The UDP limit is 65,507 bytes over IPv4; datagrams that must cross the Internet unfragmented stay
    /// under about 1,200.</remarks>
    public int MaxDatagramSize { get; set; } = 8192;

    /// <summary>The most handler calls running at once, over all sockets; a datagram that arrives while all
    /// are busy is dropped and counted in <see cref="UdpServer.OverloadDrops"/>.</summary>
    /// <remarks>Default: 1,024. UDP allows loss, so a flood is shed here rather than queued: work and memory
    /// stay bounded however fast datagrams arrive. A handler that completes synchronously frees its slot
    /// at once; one that awaits holds it (and its buffer) until it completes.</remarks>
    public int MaxConcurrentHandlers { get; set; } = 1024;

    /// <summary>The kernel receive buffer of each socket (<c>SO_RCVBUF</c>), in bytes; <see langword="null"/>
    /// keeps the kernel's default (about 208 KiB on Linux).</summary>
    /// <remarks>Default: <see langword="null"/>. A larger buffer rides out bursts that arrive faster than the
    /// receive loop reads; the kernel drops what does not fit (counted in <c>netstat -su</c> as receive buffer
    /// errors, not by the server). Linux caps it at <c>net.core.rmem_max</c>.</remarks>
    public int? ReceiveBufferSize { get; set; }

    /// <summary>The kernel send buffer of each socket (<c>SO_SNDBUF</c>), in bytes; <see langword="null"/>
    /// keeps the kernel's default.</summary>
    /// <remarks>Default: <see langword="null"/>.</remarks>
    public int? SendBufferSize { get; set; }

    /// <summary>Where the server logs its start and stop, handler faults and load shedding;
    /// <see langword="null"/> logs nothing.</summary>
    /// <remarks>Nothing is logged per datagram; shedding is reported at most once per 10 seconds.</remarks>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The clock for the drain timeout and the shedding report; tests pass a fake one.</summary>
    /// <remarks>Default: <see cref="TimeProvider.System"/>.</remarks>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The copy a server keeps: every option is a value or shared by reference on purpose
    /// (the logger factory, the clock).</summary>
    internal UdpServerOptions Snapshot() => (UdpServerOptions)MemberwiseClone();

    /// <summary>Checks every option and throws an <see cref="ArgumentException"/> naming the first one that is
    /// out of range.</summary>
    /// <exception cref="ArgumentException">An option has a value the server cannot use.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(EndPoint, nameof(EndPoint));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Require(ReceiveSockets is >= 1 and <= 256, nameof(ReceiveSockets), ReceiveSockets, "must be between 1 and 256");
        Require(MaxDatagramSize is >= 1 and <= MaxUdpPayload, nameof(MaxDatagramSize), MaxDatagramSize, $"must be between 1 and {MaxUdpPayload}");
        Require(MaxConcurrentHandlers >= 1, nameof(MaxConcurrentHandlers), MaxConcurrentHandlers, "must be at least 1");
        Require(ReceiveBufferSize is null or > 0, nameof(ReceiveBufferSize), ReceiveBufferSize, "must be positive");
        Require(SendBufferSize is null or > 0, nameof(SendBufferSize), SendBufferSize, "must be positive");
    }

    // 65,535 less the IPv4 header (20) and the UDP header (8).
    private const int MaxUdpPayload = 65_507;

    private static void Require(bool condition, string name, object? value, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"{name} {rule}, got {value?.ToString() ?? "null"}", name);
        }
    }
}
