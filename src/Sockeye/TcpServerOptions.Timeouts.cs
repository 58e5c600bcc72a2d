namespace Sockeye;

public sealed partial class TcpServerOptions
{
    /// <summary>How long a connection may go without receiving a byte before it is closed;
    /// <see cref="TimeSpan.Zero"/> turns it off. Each connection can override it
    /// (<see cref="Connection.IdleTimeout"/>).</summary>
    /// <remarks>Default: off, as in Go: a protocol with long silent connections (push, pub/sub) must
    /// not be cut by a default. An internet-facing server should set it (the design example uses two
    /// minutes): with it off, a peer that connects and never sends holds its slot until TCP keep-alive
    /// or the server's shutdown ends it. Only received bytes count as activity, so a server that
    /// streams to a silent client must leave it off for that connection or expect the client to send.
    /// It fires at most <see cref="TimeoutResolution"/> late.</remarks>
    public TimeSpan IdleTimeout { get; set; }

    /// <summary>The longest one read may take, from the handler's <c>ReadAsync</c> until it consumes
    /// bytes (a whole frame through a codec); <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <remarks>Default: off. Set it to the longest a peer may take to send one request once it has
    /// started, so a peer trickling a byte a second cannot keep a frame read alive. Too short cuts
    /// large requests on slow links; <see cref="MinReceiveRate"/> judges those by rate instead. The
    /// time a handler spends not reading (computing, writing) does not count.</remarks>
    public TimeSpan ReadTimeout { get; set; }

    /// <summary>The longest one send may wait for the kernel to take its bytes, which is how long a peer
    /// may stop reading while the server has output for it; <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <remarks>Default: off. With it off, a peer that never reads leaves its handler paused in
    /// <c>FlushAsync</c> forever (holding what it wrote since its last flush, see
    /// <see cref="MaxWriteBufferSize"/>; the connection and its task live on). Too short cuts slow but
    /// honest readers: one flush (a piece of up to <see cref="MaxWriteBufferSize"/> bytes, for
    /// <c>WriteAsync</c>) must be taken by the kernel within it.</remarks>
    public TimeSpan WriteTimeout { get; set; }

    /// <summary>The least average rate a peer must send at while a handler waits for a read, once the
    /// grace period has passed; <see langword="null"/> for none.</summary>
    /// <remarks>Default: <see langword="null"/>. Kestrel's request-body default is 240 bytes/s after
    /// 5 seconds. It defeats slowloris-style peers that keep a large read alive with a byte every few
    /// seconds, without cutting large requests that arrive at a steady pace. It is checked on every
    /// timer tick past the grace period, only for connections in a read.</remarks>
    public MinDataRate? MinReceiveRate { get; set; }

    /// <summary>How many received bytes the handler may hold unconsumed (examined, waiting for the
    /// rest of a frame) and still ask for more; <see langword="null"/> for no limit.</summary>
    /// <remarks>Default: 1 MiB, as Kestrel. Sockeye receives only when the handler reads, so a handler
    /// that is busy or slow is protected by TCP flow control: the kernel's receive buffer fills and
    /// the peer stops. This limit catches the other case, a frame that never ends: a read past it
    /// fails with an <see cref="InvalidDataException"/> naming the limit, counted as a protocol error,
    /// and only that connection is closed. It must be larger than the largest frame a codec has to
    /// see whole.</remarks>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>The largest piece <c>Output.WriteAsync</c> buffers in user space before it flushes: a
    /// larger write is sent in pieces of this size; <see langword="null"/> for no limit.</summary>
    /// <remarks>
    /// <para>Default: 64 KiB, as Kestrel. A flush hands every buffered byte to the kernel before it
    /// completes, so a handler writing to a peer that does not read waits in <c>FlushAsync</c>
    /// (back-pressure); with <see cref="WriteTimeout"/> such a peer is disconnected.</para>
    /// <para><b>What it bounds.</b> Only <c>WriteAsync</c> (and the framing helpers' one-frame
    /// writes, which flush each frame): a handler using them holds at most this much per connection
    /// while the peer is slow, plus the kernel's send buffer. Bytes written with <c>Output.Write</c>,
    /// <c>GetSpan</c>/<c>GetMemory</c> and <c>Advance</c> (and <c>WriteFrame</c>, <c>WriteFramesAsync</c>)
    /// are not limited: they stay buffered until the handler flushes, so memory is what the handler
    /// wrote since its last flush. That is the handler's choice to batch; to bound it, flush when
    /// <c>Output.UnflushedBytes</c> passes a size of your own (Kestrel's response buffer limit works
    /// the same way: it pauses the flush, not the writes). Larger means fewer sends for big
    /// responses; smaller bounds memory per slow peer more tightly.</para>
    /// </remarks>
    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>How often, at most, the one shared timer checks every connection's timeouts and deadlines.</summary>
    /// <remarks>Default: 250 ms. A timeout never fires early and fires at most this late. Shorter is
    /// more precise and costs more CPU with many connections (a check reads 24 bytes per connection;
    /// see docs/DEADLINES.md for the measured cost at 100,000 connections). Between 10 ms and 10 s.
    /// The timer wakes only when a timeout or deadline can be due (the earliest one, or this long after
    /// the last check if that is later): a server with nothing to time, or only idle timeouts far ahead,
    /// does not wake every 250 ms.</remarks>
    public TimeSpan TimeoutResolution { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The send queue each connection starts with: the bound on bytes queued by
    /// <see cref="Connection.TrySend(Fanout.OutgoingMessage)"/> (and group broadcasts) and not yet sent,
    /// and what happens to a connection that passes it (the slow-consumer policy).</summary>
    /// <remarks>Default: <see cref="Fanout.SendQueueOptions.Default"/>, Redis's pub/sub limits (32 MiB
    /// hard, 8 MiB for 60 s soft, disconnect); see <see cref="Fanout.SendQueueOptions"/> for the
    /// trade-off. Nothing is reserved: a connection that is never sent to pays nothing.</remarks>
    public Fanout.SendQueueOptions SendQueue { get; set; } = Fanout.SendQueueOptions.Default;

    private void ValidateTimeouts()
    {
        ArgumentNullException.ThrowIfNull(SendQueue, nameof(SendQueue));
        SendQueue.Validate();
        RequireDuration(IdleTimeout, nameof(IdleTimeout), " (zero turns it off)");
        RequireDuration(ReadTimeout, nameof(ReadTimeout), " (zero turns it off)");
        RequireDuration(WriteTimeout, nameof(WriteTimeout), " (zero turns it off)");
        Require(MinReceiveRate is null || MinReceiveRate.BytesPerSecond > 0, nameof(MinReceiveRate), MinReceiveRate, "must have a positive BytesPerSecond");
        Require(MinReceiveRate is null || double.IsFinite(MinReceiveRate.BytesPerSecond), nameof(MinReceiveRate), MinReceiveRate, "must have a finite BytesPerSecond");
        Require(MinReceiveRate is null || Timing.DurationText.Violation(MinReceiveRate.GracePeriod) is null, nameof(MinReceiveRate), MinReceiveRate,
            $"must have a GracePeriod that is not negative and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}");
        Require(MaxReadBufferSize is null or > 0, nameof(MaxReadBufferSize), MaxReadBufferSize, "must be positive (null for no limit)");
        Require(MaxWriteBufferSize is null or > 0, nameof(MaxWriteBufferSize), MaxWriteBufferSize, "must be positive (null for no limit)");
        Require(TimeoutResolution >= TimeSpan.FromMilliseconds(10) && TimeoutResolution <= TimeSpan.FromSeconds(10), nameof(TimeoutResolution), TimeoutResolution, "must be between 10 ms and 10 s");
    }
}
