namespace Sockeye.Udp;

/// <summary>
/// The running counts of one <see cref="UdpServer"/>, kept together so that they can be published as
/// metrics instruments (observable counters reading these fields) without touching the hot path.
/// Updated with interlocked operations; safe for concurrent use.
/// </summary>
internal sealed class UdpCounters
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

    public long DatagramsReceived => Interlocked.Read(ref _datagramsReceived);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long DatagramsSent => Interlocked.Read(ref _datagramsSent);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long OversizeDrops => Interlocked.Read(ref _oversizeDrops);

    public long OverloadDrops => Interlocked.Read(ref _overloadDrops);

    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    public long ReceiveErrors => Interlocked.Read(ref _receiveErrors);

    public long SendErrors => Interlocked.Read(ref _sendErrors);

    public void Received(int bytes)
    {
        Interlocked.Increment(ref _datagramsReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
    }

    public void Sent(int bytes)
    {
        Interlocked.Increment(ref _datagramsSent);
        Interlocked.Add(ref _bytesSent, bytes);
    }

    public void OversizeDropped() => Interlocked.Increment(ref _oversizeDrops);

    public void OverloadDropped() => Interlocked.Increment(ref _overloadDrops);

    public void HandlerFailed() => Interlocked.Increment(ref _handlerErrors);

    public void ReceiveFailed() => Interlocked.Increment(ref _receiveErrors);

    public void SendFailed() => Interlocked.Increment(ref _sendErrors);
}
