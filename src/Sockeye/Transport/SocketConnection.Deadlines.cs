using Sockeye.Timing;

namespace Sockeye.Transport;

/// <summary>
/// The connection's side of the deadline mechanism: the public timeout and deadline members, and the
/// hooks the reader and writer call around reads, receives and sends. The state itself lives in a
/// <see cref="ConnectionDeadlines"/>, created only when the connection has something to time.
/// </summary>
/// <remarks>
/// Without timeouts (the default) every hook is one null check, and an idle connection holds no
/// deadline state and no scanner slot. The state is created under the reader's lock, which the
/// reader's own hooks also hold, so a read never sees half of it; once the connection has finished
/// (<see cref="DetachDeadlines"/>), state created late takes no slot.
/// </remarks>
internal sealed partial class SocketConnection : IDeadlineOwner
{
    // The connection's deadline state; null until it has something to time (see ConnectionDeadlines).
    private ConnectionDeadlines? _deadlines;

    // Whether the handler is in a read (from its ReadAsync until it consumes bytes), and whether a
    // socket send is waiting for the kernel. Kept here, not in the deadline state, because a deadline
    // set in the middle of a read or send must see it.
    private volatile bool _readPending;
    private volatile bool _sendPending;

    // Set by DetachDeadlines: from then on, deadline state created by a late setter takes no slot.
    private bool _deadlinesDetached;

    public override TimeSpan IdleTimeout
    {
        get => Volatile.Read(ref _deadlines)?.IdleTimeout ?? TimeSpan.Zero;
        set
        {
            if (DeadlinesFor(value) is { } deadlines)
            {
                deadlines.IdleTimeout = value;
            }
        }
    }

    public override TimeSpan ReadTimeout
    {
        get => Volatile.Read(ref _deadlines)?.ReadTimeout ?? TimeSpan.Zero;
        set
        {
            if (DeadlinesFor(value) is { } deadlines)
            {
                deadlines.ReadTimeout = value;
            }
        }
    }

    public override TimeSpan WriteTimeout
    {
        get => Volatile.Read(ref _deadlines)?.WriteTimeout ?? TimeSpan.Zero;
        set
        {
            if (DeadlinesFor(value) is { } deadlines)
            {
                deadlines.WriteTimeout = value;
            }
        }
    }

    /// <summary>Bytes received from the peer while the connection had deadline state (from the accept
    /// when a server timeout is on): what the minimum receive rate measures (a test probe).</summary>
    public long BytesReceived => Volatile.Read(ref _deadlines)?.BytesReceived ?? 0;

    /// <summary>Whether the handler is in a read.</summary>
    public bool IsReadPending => _readPending;

    /// <summary>Whether a socket send is waiting for the kernel to take its bytes.</summary>
    public bool IsSendPending => _sendPending;

    /// <summary>Whether this connection holds deadline state (a test probe for the lazy creation).</summary>
    internal bool HasDeadlineState => Volatile.Read(ref _deadlines) is not null;

    public override void SetReadDeadline(DateTimeOffset deadline) => EnsureDeadlines().SetReadDeadline(deadline);

    public override void ClearReadDeadline() => DeadlinesFor(TimeSpan.Zero)?.SetReadDeadline(null);

    public override void SetWriteDeadline(DateTimeOffset deadline) => EnsureDeadlines().SetWriteDeadline(deadline);

    public override void ClearWriteDeadline() => DeadlinesFor(TimeSpan.Zero)?.SetWriteDeadline(null);

    /// <summary>Starts the deadline state now if the server's defaults time every connection. Call before the handler starts.</summary>
    internal void AttachDeadlines()
    {
        if (_context.Deadlines is { } settings && ConnectionDeadlines.NeededFromStart(settings))
        {
            EnsureDeadlines();
        }
    }

    /// <summary>Gives the scanner slot back, if one was taken, and takes none after. Call once both
    /// directions have stopped, so nothing writes the slot after its next owner got it.</summary>
    internal void DetachDeadlines()
    {
        // Under the reader's lock (SyncRoot): a receive completing late (the socket is closed by now) must not
        // write into a slot that already belongs to another connection.
        lock (SyncRoot)
        {
            _deadlinesDetached = true;
            _deadlines?.Detach();
        }
    }

    /// <summary>A receive got <paramref name="received"/> bytes: counted for the metrics, and the idle
    /// clock restarts. Called under the reader's lock.</summary>
    internal void OnReceived(int received)
    {
        _context.Deadlines?.Traffic?.Received.Add(received);
        _deadlines?.OnReceived(received);
    }

    /// <summary>
    /// The handler starts a read (its first <c>ReadAsync</c> since it last consumed bytes). Called
    /// under the reader's lock.
    /// </summary>
    /// <param name="trackConsumption">Whether the reader must tell consumption from a mere look at the
    /// buffer: true when a read timeout or minimum rate times this read; otherwise any
    /// <c>AdvanceTo</c> ends it.</param>
    /// <returns>The exception to fail the read with when the read deadline has already passed.</returns>
    internal Exception? BeginRead(out bool trackConsumption)
    {
        trackConsumption = false;
        _readPending = true; // before the slot hint, so a scan that sees the hint sees the read
        if (_deadlines is { } deadlines && deadlines.BeginRead(out trackConsumption))
        {
            _readPending = false;
            return CreateAbortException(null);
        }

        return null;
    }

    /// <summary>The handler consumed bytes: the read is over. Called under the reader's lock.</summary>
    internal void EndRead()
    {
        _readPending = false;
        _deadlines?.EndRead();
    }

    /// <summary>A flush hands bytes to the socket.</summary>
    /// <exception cref="ConnectionTimeoutException">The write deadline has passed.</exception>
    internal void BeginSend()
    {
        _sendPending = true; // before the slot hint, so a scan that sees the hint sees the send
        if (Volatile.Read(ref _deadlines) is { } deadlines && deadlines.BeginSend())
        {
            throw CreateAbortException(null);
        }
    }

    /// <summary>The kernel took every byte of the send (or the send failed).</summary>
    internal void EndSend()
    {
        _sendPending = false;
        Volatile.Read(ref _deadlines)?.EndSend();
    }

    /// <summary>The exception a read or flush fails with after an abort: the timeout that caused it,
    /// if one did.</summary>
    private ConnectionClosedException CreateAbortException(Exception? inner) =>
        (ConnectionClosedException?)Volatile.Read(ref _deadlines)?.TimeoutException(inner) ?? new ConnectionClosedException(AbortMessage, inner);

    /// <summary>The deadline state for a setter given <paramref name="value"/>: created when the value
    /// turns something on, <see langword="null"/> when it turns off what was never on.</summary>
    private ConnectionDeadlines? DeadlinesFor(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
        RequireDeadlineSupport();
        return value == TimeSpan.Zero ? Volatile.Read(ref _deadlines) : EnsureDeadlines();
    }

    private ConnectionDeadlines EnsureDeadlines()
    {
        if (Volatile.Read(ref _deadlines) is { } existing)
        {
            return existing;
        }

        var settings = RequireDeadlineSupport();
        lock (SyncRoot)
        {
            if (_deadlines is null)
            {
                Volatile.Write(ref _deadlines, new ConnectionDeadlines(this, settings, register: !_deadlinesDetached));
            }

            return _deadlines;
        }
    }

    private DeadlineSettings RequireDeadlineSupport() =>
        _context.Deadlines ?? throw new NotSupportedException("this connection has no timers: timeouts and deadlines need a connection from TcpServer or Dialer");
}
