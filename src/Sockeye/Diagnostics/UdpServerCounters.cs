namespace Sockeye.Diagnostics;

/// <summary>
/// The running counts of one <see cref="Udp.UdpServer"/>: its receive loops and replies add to them,
/// and the server's public properties and <see cref="UdpServerMetrics"/> (observable counters reading
/// these fields) read them, so nothing is recorded per datagram beyond an interlocked add. Owned by
/// Diagnostics so that the metrics depend on the counts, never on the server. Safe for concurrent use.
/// </summary>
internal sealed class UdpServerCounters
{
    private long _datagramsReceived;
    private long _bytesReceived;
    private long _datagramsSent;
    private long _bytesSent;
    private long _oversizeDrops;
    private long _overloadDrops;
    private long _handlerErrors;
    private long _receiveErrors;
    private long _sendErrors;
    private long _buffersAllocated;

    /// <summary>Datagrams read from the sockets, dropped ones included.</summary>
    public long DatagramsReceived => Interlocked.Read(ref _datagramsReceived);

    /// <summary>Payload bytes read (for an oversize datagram, up to the limit).</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Replies sent.</summary>
    public long DatagramsSent => Interlocked.Read(ref _datagramsSent);

    /// <summary>Payload bytes of the replies sent.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Datagrams over the size limit.</summary>
    public long OversizeDrops => Interlocked.Read(ref _oversizeDrops);

    /// <summary>Datagrams dropped because every handler slot was taken.</summary>
    public long OverloadDrops => Interlocked.Read(ref _overloadDrops);

    /// <summary>Handler calls that threw.</summary>
    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    /// <summary>Receives that failed.</summary>
    public long ReceiveErrors => Interlocked.Read(ref _receiveErrors);

    /// <summary>Replies the kernel refused.</summary>
    public long SendErrors => Interlocked.Read(ref _sendErrors);

    /// <summary>Receive buffers allocated over the server's life (bounded by the handler limit plus the sockets).</summary>
    public long BuffersAllocated => Interlocked.Read(ref _buffersAllocated);

    /// <summary>Counts a datagram of <paramref name="bytes"/> read.</summary>
    public void Received(int bytes)
    {
        Interlocked.Increment(ref _datagramsReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
    }

    /// <summary>Counts a reply of <paramref name="bytes"/> sent.</summary>
    public void Sent(int bytes)
    {
        Interlocked.Increment(ref _datagramsSent);
        Interlocked.Add(ref _bytesSent, bytes);
    }

    /// <summary>Counts an oversize drop.</summary>
    public void OversizeDropped() => Interlocked.Increment(ref _oversizeDrops);

    /// <summary>Counts an overload drop.</summary>
    public void OverloadDropped() => Interlocked.Increment(ref _overloadDrops);

    /// <summary>Counts a handler that threw.</summary>
    public void HandlerFailed() => Interlocked.Increment(ref _handlerErrors);

    /// <summary>Counts a failed receive.</summary>
    public void ReceiveFailed() => Interlocked.Increment(ref _receiveErrors);

    /// <summary>Counts a refused reply.</summary>
    public void SendFailed() => Interlocked.Increment(ref _sendErrors);

    /// <summary>Counts a receive buffer allocated.</summary>
    public void BufferAllocated() => Interlocked.Increment(ref _buffersAllocated);
}
