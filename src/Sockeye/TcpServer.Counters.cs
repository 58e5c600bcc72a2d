using Sockeye.Security;

namespace Sockeye;

// The public counters: each reads the server's TcpServerCounters (or its slots), which the parts add to.
public sealed partial class TcpServer
{
    /// <summary>The server's spare send queues and their counts (tests: no queue is lost).</summary>
    internal Transport.OutboxPool SendQueuePool => _context.Outboxes;

    /// <summary>Connections open now (each holds one of the <see cref="TcpServerOptions.MaxConnections"/> slots).</summary>
    public int ActiveConnections => _lifecycle.Slots.Taken;

    /// <summary>Connections accepted and handed to a handler since the start.</summary>
    public long AcceptedConnections => _counters.Accepted;

    /// <summary>Connections refused because <see cref="TcpServerOptions.MaxConnections"/> were open or
    /// the process was short of file descriptors (see <see cref="TcpServerOptions.DescriptorReserve"/>).</summary>
    public long RejectedConnections => _counters.Rejected;

    /// <summary>Handlers that ended with an exception (each aborted only its own connection).</summary>
    public long HandlerErrors => _counters.HandlerErrors;

    /// <summary>Connections closed because the peer broke the protocol: the handler ended with an
    /// <see cref="InvalidDataException"/> (a malformed frame) or a
    /// <see cref="Framing.FrameTooLargeException"/> (a frame over a codec's limit).</summary>
    public long ProtocolErrors => _counters.ProtocolErrors;

    /// <summary>Accepts that failed (for example, out of file descriptors) and were retried after a back-off.</summary>
    public long AcceptErrors => _counters.AcceptErrors;

    /// <summary>Back-off waits of the accept loop since the start (each failed accept is followed by one).</summary>
    public long AcceptBackoffs => _counters.AcceptBackoffs;

    /// <summary>Bytes received from peers since the start, over every connection (0 when
    /// <see cref="TcpServerOptions.EnableMetrics"/> is off).</summary>
    public long BytesReceived => _counters.Traffic?.Received.Sum ?? 0;

    /// <summary>Bytes the kernel took to send to peers since the start, over every connection (0 when
    /// <see cref="TcpServerOptions.EnableMetrics"/> is off).</summary>
    public long BytesSent => _counters.Traffic?.Sent.Sum ?? 0;

    /// <summary>Frames decoded by the framing helpers (<see cref="Framing.ConnectionFramingExtensions"/>)
    /// since the start, over every connection (0 when <see cref="TcpServerOptions.EnableMetrics"/> is off).
    /// Frame errors are <see cref="ProtocolErrors"/>.</summary>
    public long FramesDecoded => _counters.Traffic?.Frames.Sum ?? 0;

    /// <summary>How many connections were closed by a timeout or deadline of any kind.</summary>
    public long TimedOutConnections => _counters.Timeouts.Total;

    /// <summary>How many connections the edge checks turned away, for every reason together.</summary>
    public long RefusedConnections => _counters.Refusals.Total;

    /// <summary>Refusals because <see cref="TcpServerOptions.MaxConnections"/> connections were open.</summary>
    internal long RejectedForLimit => _counters.RejectedForLimit;

    /// <summary>How many connections ended the way <paramref name="reason"/> says, since the start.</summary>
    /// <param name="reason">How the connections ended.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetClosedCount(ConnectionCloseReason reason) => _counters.Closed.Get(reason);

    /// <summary>How many connections were closed because a timeout or deadline of
    /// <paramref name="kind"/> expired, since the server started.</summary>
    /// <param name="kind">The timeout or deadline to count.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetTimeoutCount(ConnectionTimeoutKind kind) => _counters.Timeouts.Get(kind);

    /// <summary>How many connections the edge checks (source lists, per-address cap, accept rates,
    /// PROXY protocol, TLS handshake) turned away for <paramref name="reason"/> since the start.</summary>
    /// <param name="reason">The reason to count.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetRefusalCount(RefusalReason reason) => _counters.Refusals.Get(reason);

    /// <summary>Connections handed to a handler by each acceptor since the start, by acceptor index.</summary>
    internal long[] AcceptedByAcceptor() => _counters.AcceptedByAcceptor();
}
