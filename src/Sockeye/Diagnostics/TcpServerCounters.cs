using Sockeye.Security;

namespace Sockeye.Diagnostics;

/// <summary>
/// The running counts of one <see cref="TcpServer"/>: the server's parts (accept loop, edge gate,
/// connection lifecycle, deadlines) add to them, and the server's public properties and
/// <see cref="TcpServerMetrics"/> read them. Owned by Diagnostics so that the metrics depend on the
/// counts, never on the server. Safe for concurrent use.
/// </summary>
/// <remarks>Counts touched once per connection are single interlocked fields or
/// <see cref="EnumCounters{TEnum}"/>; the traffic counts, touched on every receive and flush, are
/// <see cref="StripedCounter"/>s so that the cores do not contend for one cache line.</remarks>
internal sealed class TcpServerCounters
{
    private long _accepted;
    private long _rejectedForLimit;
    private long _rejectedForDescriptors;
    private long _handlerErrors;
    private long _protocolErrors;
    private long _acceptErrors;
    private long _acceptBackoffs;

    // Connections each acceptor handed to a handler, by acceptor index: shows how the kernel spread them.
    private long[] _acceptedByAcceptor = [];

    /// <summary>Creates the counters; the traffic counters only when <paramref name="traffic"/> is on
    /// (they cost an add per receive and flush).</summary>
    public TcpServerCounters(bool traffic)
    {
        Traffic = traffic ? new TrafficCounters(new StripedCounter(), new StripedCounter(), new StripedCounter()) : null;
    }

    /// <summary>Bytes in and out and frames decoded; <see langword="null"/> when metrics are off.
    /// Connections reach it through <see cref="Timing.DeadlineSettings.Traffic"/>.</summary>
    public TrafficCounters? Traffic { get; }

    /// <summary>Messages sent to the connections from other tasks (send queues, group broadcasts).</summary>
    public FanoutCounters Fanout { get; } = new();

    /// <summary>Connections that ended, by how they ended: one interlocked add per connection, at its end.</summary>
    public EnumCounters<ConnectionCloseReason> Closed { get; } = new();

    /// <summary>Timeouts and deadlines that expired, by kind (the deadline code adds to it).</summary>
    public EnumCounters<ConnectionTimeoutKind> Timeouts { get; } = new();

    /// <summary>Connections the edge checks turned away, by reason.</summary>
    public EnumCounters<RefusalReason> Refusals { get; } = new();

    /// <summary>Connections accepted and handed to a handler.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Refusals because the connection limit was reached.</summary>
    public long RejectedForLimit => Interlocked.Read(ref _rejectedForLimit);

    /// <summary>Refusals because the process was short of file descriptors.</summary>
    public long RejectedForDescriptors => Interlocked.Read(ref _rejectedForDescriptors);

    /// <summary>Refusals at accept, for either reason.</summary>
    public long Rejected => RejectedForLimit + RejectedForDescriptors;

    /// <summary>Handlers that threw.</summary>
    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    /// <summary>Connections closed for a malformed or oversize frame.</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    /// <summary>Accepts that failed and were retried.</summary>
    public long AcceptErrors => Interlocked.Read(ref _acceptErrors);

    /// <summary>Back-off waits of the accept loops.</summary>
    public long AcceptBackoffs => Interlocked.Read(ref _acceptBackoffs);

    /// <summary>Sizes the per-acceptor counts; called once, at the start, before any accept.</summary>
    public void SetAcceptors(int count) => _acceptedByAcceptor = new long[count];

    /// <summary>How many acceptors there are (0 before the start).</summary>
    public int Acceptors => _acceptedByAcceptor.Length;

    /// <summary>Connections handed to a handler by each acceptor, by acceptor index.</summary>
    public long[] AcceptedByAcceptor()
    {
        var counts = new long[_acceptedByAcceptor.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Interlocked.Read(ref _acceptedByAcceptor[i]);
        }

        return counts;
    }

    /// <summary>Counts a connection that acceptor <paramref name="acceptor"/> handed to a handler.</summary>
    public void OnAccepted(int acceptor)
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Increment(ref _acceptedByAcceptor[acceptor]);
    }

    /// <summary>Counts a connection reset at accept: over the limit, or short of descriptors.</summary>
    public void OnRejected(bool forLimit)
    {
        if (forLimit)
        {
            Interlocked.Increment(ref _rejectedForLimit);
        }
        else
        {
            Interlocked.Increment(ref _rejectedForDescriptors);
        }
    }

    /// <summary>Counts a handler that threw.</summary>
    public void OnHandlerError() => Interlocked.Increment(ref _handlerErrors);

    /// <summary>Counts a connection closed for breaking the protocol.</summary>
    public void OnProtocolError() => Interlocked.Increment(ref _protocolErrors);

    /// <summary>Counts a failed accept.</summary>
    public void OnAcceptError() => Interlocked.Increment(ref _acceptErrors);

    /// <summary>Counts one back-off wait.</summary>
    public void OnAcceptBackoff() => Interlocked.Increment(ref _acceptBackoffs);
}
