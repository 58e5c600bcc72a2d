using System.Globalization;
using Sockeye.Timing;

namespace Sockeye.Transport;

/// <summary>
/// The connection's side of the deadline mechanism: its timeouts and deadlines, the state of the read
/// the handler is in and of the pending send, and the hints it writes into its
/// <see cref="TimerSlot"/> for the server's <see cref="DeadlineScanner"/>.
/// </summary>
/// <remarks>
/// The hot path (a receive, a read, a send) only reads the clock and writes one long into the slot.
/// The scan calls <see cref="OnDeadlineDue(long)"/> when a hint is due; it re-checks the real state,
/// because hints are written without locks and may be stale. Fields are written before the hint
/// that announces them, so a scan that sees a due hint also sees the state it was computed from.
/// </remarks>
internal sealed partial class SocketConnection : IDeadlineTarget
{
    private DeadlineSettings? _deadlines;
    private TimerChunk? _timerChunk;
    private int _timerIndex;

    // This connection's timeouts in timestamp units (0 = off); they start as the server's defaults.
    private long _idleTicks;
    private long _readTicks;
    private long _writeTicks;

    // Absolute deadlines as timestamps; long.MaxValue = none.
    private long _readDeadline = long.MaxValue;
    private long _writeDeadline = long.MaxValue;

    // The read the handler is in, from its ReadAsync until it consumes bytes (see SocketReader).
    private volatile bool _readPending;
    private bool _readTimed;
    private long _readStart;
    private long _readExpiry = long.MaxValue;
    private long _readStartBytes;
    private long _bytesReceived;

    // The send in progress, from the socket send until the kernel took every byte.
    private volatile bool _sendPending;
    private long _sendExpiry = long.MaxValue;

    // (ConnectionTimeoutKind + 1) once a timeout fired; then every read and flush fails with it.
    private int _timedOut;
    private string? _timeoutMessage;

    public override TimeSpan IdleTimeout
    {
        get => _deadlines?.Scanner.ToTimeSpan(Volatile.Read(ref _idleTicks)) ?? TimeSpan.Zero;
        set
        {
            var scanner = RequireDeadlines(value).Scanner;
            var ticks = scanner.ToTicks(value);
            Volatile.Write(ref _idleTicks, ticks);
            var chunk = _timerChunk;
            if (chunk is not null)
            {
                Volatile.Write(ref chunk.Slots[_timerIndex].Idle, ticks == 0 ? long.MaxValue : scanner.Now + ticks);
            }
        }
    }

    public override TimeSpan ReadTimeout
    {
        get => _deadlines?.Scanner.ToTimeSpan(Volatile.Read(ref _readTicks)) ?? TimeSpan.Zero;
        set => Volatile.Write(ref _readTicks, RequireDeadlines(value).Scanner.ToTicks(value));
    }

    public override TimeSpan WriteTimeout
    {
        get => _deadlines?.Scanner.ToTimeSpan(Volatile.Read(ref _writeTicks)) ?? TimeSpan.Zero;
        set => Volatile.Write(ref _writeTicks, RequireDeadlines(value).Scanner.ToTicks(value));
    }

    /// <summary>Bytes received from the peer so far.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Whether the handler is in a read (a test probe).</summary>
    internal bool IsReadPending => _readPending;

    /// <summary>Whether a socket send is waiting for the kernel to take its bytes (a test probe).</summary>
    internal bool IsSendPending => _sendPending;

    public override void SetReadDeadline(DateTimeOffset deadline)
    {
        var settings = RequireDeadlines(TimeSpan.Zero);
        Volatile.Write(ref _readDeadline, settings.Scanner.ToTimestamp(deadline));
        RefreshReadHint();
    }

    public override void ClearReadDeadline()
    {
        RequireDeadlines(TimeSpan.Zero);
        Volatile.Write(ref _readDeadline, long.MaxValue);
        RefreshReadHint();
    }

    public override void SetWriteDeadline(DateTimeOffset deadline)
    {
        var settings = RequireDeadlines(TimeSpan.Zero);
        Volatile.Write(ref _writeDeadline, settings.Scanner.ToTimestamp(deadline));
        RefreshWriteHint();
    }

    public override void ClearWriteDeadline()
    {
        RequireDeadlines(TimeSpan.Zero);
        Volatile.Write(ref _writeDeadline, long.MaxValue);
        RefreshWriteHint();
    }

    /// <summary>Takes a slot in the server's scanner and starts the idle clock. Call before the handler starts.</summary>
    internal void AttachDeadlines(DeadlineSettings settings)
    {
        _deadlines = settings;
        _idleTicks = settings.IdleTicks;
        _readTicks = settings.ReadTicks;
        _writeTicks = settings.WriteTicks;
        var (chunk, index) = settings.Scanner.Register(this);
        _timerIndex = index;
        if (_idleTicks != 0)
        {
            chunk.Slots[index].Idle = settings.Scanner.Now + _idleTicks;
        }

        Volatile.Write(ref _timerChunk, chunk);
    }

    /// <summary>Gives the slot back. Call once both loops have ended, so nothing writes the slot after
    /// its next owner got it.</summary>
    internal void DetachDeadlines()
    {
        // Under the reader's lock: a receive completing late (the socket is closed by now) must not
        // write into a slot that already belongs to another connection.
        lock (_reader)
        {
            var chunk = Interlocked.Exchange(ref _timerChunk, null);
            if (chunk is not null)
            {
                _deadlines!.Scanner.Unregister(chunk, _timerIndex);
            }
        }
    }

    /// <summary>A receive got <paramref name="received"/> bytes: restart the idle clock. Called under the reader's lock.</summary>
    internal void OnReceived(int received)
    {
        _bytesReceived += received;
        _deadlines?.Traffic?.Received.Add(received);
        var ticks = _idleTicks;
        var chunk = _timerChunk;
        if (ticks != 0 && chunk is not null)
        {
            chunk.Slots[_timerIndex].Idle = _deadlines!.Scanner.Now + ticks;
        }
    }

    /// <summary>
    /// The handler starts a read (its first <c>ReadAsync</c> since it last consumed bytes).
    /// </summary>
    /// <param name="trackConsumption">Whether the reader must tell consumption from a mere look at the
    /// buffer: true when a read timeout or minimum rate times this read; otherwise any
    /// <c>AdvanceTo</c> ends it.</param>
    /// <returns>The exception to fail the read with when the read deadline has already passed.</returns>
    internal Exception? BeginRead(out bool trackConsumption)
    {
        trackConsumption = false;
        var settings = _deadlines;
        var chunk = _timerChunk;
        if (settings is null || chunk is null)
        {
            _readPending = true;
            return null;
        }

        var deadline = Volatile.Read(ref _readDeadline);
        var readTicks = Volatile.Read(ref _readTicks);
        var timed = readTicks != 0 || settings.MinReceiveRate is not null;
        if (!timed && deadline == long.MaxValue)
        {
            _readTimed = false;
            _readPending = true;
            return null;
        }

        var now = settings.Scanner.Now;
        if (deadline <= now)
        {
            TimeOut(ConnectionTimeoutKind.ReadDeadline, now);
            return CreateAbortException(null);
        }

        _readStart = now;
        _readStartBytes = Volatile.Read(ref _bytesReceived);
        _readExpiry = readTicks != 0 ? now + readTicks : long.MaxValue;
        _readTimed = timed;
        _readPending = true;
        Volatile.Write(ref chunk.Slots[_timerIndex].Read, NextReadCheck(now, deadline));
        trackConsumption = timed;
        return null;
    }

    /// <summary>The handler consumed bytes: the read is over.</summary>
    internal void EndRead()
    {
        _readPending = false;
        var chunk = _timerChunk;
        if (chunk is not null && chunk.Slots[_timerIndex].Read != long.MaxValue)
        {
            Volatile.Write(ref chunk.Slots[_timerIndex].Read, long.MaxValue);
        }
    }

    /// <summary>A flush hands bytes to the socket.</summary>
    /// <exception cref="ConnectionTimeoutException">The write deadline has passed.</exception>
    internal void BeginSend()
    {
        var settings = _deadlines;
        var chunk = _timerChunk;
        var deadline = Volatile.Read(ref _writeDeadline);
        var writeTicks = Volatile.Read(ref _writeTicks);
        if (settings is null || chunk is null || (writeTicks == 0 && deadline == long.MaxValue))
        {
            _sendExpiry = long.MaxValue;
            _sendPending = true;
            return;
        }

        var now = settings.Scanner.Now;
        if (deadline <= now)
        {
            TimeOut(ConnectionTimeoutKind.WriteDeadline, now);
            throw CreateAbortException(null);
        }

        _sendExpiry = writeTicks != 0 ? now + writeTicks : long.MaxValue;
        _sendPending = true;
        Volatile.Write(ref chunk.Slots[_timerIndex].Write, Math.Min(_sendExpiry, deadline));
    }

    /// <summary>The kernel took every byte of the send.</summary>
    internal void EndSend()
    {
        _sendPending = false;
        var chunk = _timerChunk;
        if (chunk is not null && chunk.Slots[_timerIndex].Write != long.MaxValue)
        {
            Volatile.Write(ref chunk.Slots[_timerIndex].Write, long.MaxValue);
        }
    }

    public void OnDeadlineDue(long now)
    {
        var chunk = _timerChunk;
        var settings = _deadlines;
        if (chunk is null || settings is null || IsAborted)
        {
            return;
        }

        ref var slot = ref chunk.Slots[_timerIndex];
        var idle = Volatile.Read(ref slot.Idle);
        if (idle <= now)
        {
            if (Volatile.Read(ref _idleTicks) != 0)
            {
                TimeOut(ConnectionTimeoutKind.Idle, now);
                return;
            }

            Interlocked.CompareExchange(ref slot.Idle, long.MaxValue, idle);
        }

        var read = Volatile.Read(ref slot.Read);
        if (read <= now)
        {
            if (_readPending)
            {
                var deadline = Volatile.Read(ref _readDeadline);
                if (deadline <= now)
                {
                    TimeOut(ConnectionTimeoutKind.ReadDeadline, now);
                    return;
                }

                if (_readTimed && _readExpiry <= now)
                {
                    TimeOut(ConnectionTimeoutKind.Read, now);
                    return;
                }

                if (_readTimed && IsBelowMinReceiveRate(settings, now))
                {
                    TimeOut(ConnectionTimeoutKind.MinReceiveRate, now);
                    return;
                }

                Interlocked.CompareExchange(ref slot.Read, NextReadCheck(now, deadline), read);
            }
            else
            {
                Interlocked.CompareExchange(ref slot.Read, long.MaxValue, read);
            }
        }

        var write = Volatile.Read(ref slot.Write);
        if (write <= now)
        {
            if (_sendPending)
            {
                var deadline = Volatile.Read(ref _writeDeadline);
                if (deadline <= now)
                {
                    TimeOut(ConnectionTimeoutKind.WriteDeadline, now);
                    return;
                }

                if (_sendExpiry <= now)
                {
                    TimeOut(ConnectionTimeoutKind.Write, now);
                    return;
                }

                Interlocked.CompareExchange(ref slot.Write, Math.Min(_sendExpiry, deadline), write);
            }
            else
            {
                Interlocked.CompareExchange(ref slot.Write, long.MaxValue, write);
            }
        }
    }

    private bool IsBelowMinReceiveRate(DeadlineSettings settings, long now)
    {
        var rate = settings.MinReceiveRate;
        if (rate is null || now - _readStart < settings.GraceTicks)
        {
            return false;
        }

        var received = Volatile.Read(ref _bytesReceived) - _readStartBytes;
        return received < rate.RequiredBytes(settings.Scanner.ToTimeSpan(now - _readStart));
    }

    /// <summary>When the scan should next look at the current read: the earliest of the deadline, the
    /// read timeout and (past the grace period, every tick) the minimum-rate check.</summary>
    private long NextReadCheck(long now, long deadline)
    {
        var next = deadline;
        if (_readTimed)
        {
            next = Math.Min(next, _readExpiry);
            var settings = _deadlines!;
            if (settings.MinReceiveRate is not null)
            {
                next = Math.Min(next, Math.Max(_readStart + settings.GraceTicks, now + settings.Scanner.ResolutionTicks));
            }
        }

        return next;
    }

    private void RefreshReadHint()
    {
        var chunk = _timerChunk;
        if (chunk is not null && _readPending)
        {
            Volatile.Write(ref chunk.Slots[_timerIndex].Read, NextReadCheck(_deadlines!.Scanner.Now, Volatile.Read(ref _readDeadline)));
        }
    }

    private void RefreshWriteHint()
    {
        var chunk = _timerChunk;
        if (chunk is not null && _sendPending)
        {
            Volatile.Write(ref chunk.Slots[_timerIndex].Write, Math.Min(_sendExpiry, Volatile.Read(ref _writeDeadline)));
        }
    }

    /// <summary>Records that <paramref name="kind"/> expired, counts it, and aborts the connection.</summary>
    private void TimeOut(ConnectionTimeoutKind kind, long now)
    {
        if (IsAborted || Volatile.Read(ref _timedOut) != 0)
        {
            return;
        }

        var settings = _deadlines!;
        var scanner = settings.Scanner;
        var what = kind switch
        {
            ConnectionTimeoutKind.Idle => $"no bytes received for IdleTimeout {DurationText.Format(scanner.ToTimeSpan(_idleTicks))}",
            ConnectionTimeoutKind.Read => $"a read took longer than ReadTimeout {DurationText.Format(scanner.ToTimeSpan(_readTicks))}",
            ConnectionTimeoutKind.Write => $"a send waited longer than WriteTimeout {DurationText.Format(scanner.ToTimeSpan(_writeTicks))} for the peer to read",
            ConnectionTimeoutKind.ReadDeadline => $"the read deadline {FormatDeadline(scanner, _readDeadline)} passed",
            ConnectionTimeoutKind.WriteDeadline => $"the write deadline {FormatDeadline(scanner, _writeDeadline)} passed",
            ConnectionTimeoutKind.MinReceiveRate => string.Create(CultureInfo.InvariantCulture,
                $"received {Volatile.Read(ref _bytesReceived) - _readStartBytes} bytes in {DurationText.Format(scanner.ToTimeSpan(now - _readStart))} of a read, below MinReceiveRate {settings.MinReceiveRate!.BytesPerSecond} bytes/s"),
            _ => kind.ToString(),
        };
        // The message is the gate: the first timeout to publish it wins, and it is in place before
        // _timedOut tells CreateAbortException to use it.
        var message = $"connection {Id} timed out: {what}";
        if (Interlocked.CompareExchange(ref _timeoutMessage, message, null) is not null)
        {
            return;
        }

        Volatile.Write(ref _timedOut, (int)kind + 1);
        settings.Counters.Increment(kind);
        Abort(message);
    }

    private static string FormatDeadline(DeadlineScanner scanner, long deadline) =>
        scanner.ToDateTimeOffset(deadline).ToString("O", CultureInfo.InvariantCulture);

    /// <summary>The exception a read or flush fails with after an abort: the timeout that caused it,
    /// if one did.</summary>
    private ConnectionAbortedException CreateAbortException(Exception? inner)
    {
        var timedOut = Volatile.Read(ref _timedOut);
        if (timedOut != 0)
        {
            return new ConnectionTimeoutException((ConnectionTimeoutKind)(timedOut - 1), _timeoutMessage ?? $"connection {Id} timed out", inner);
        }

        return new ConnectionAbortedException(AbortMessage, inner);
    }

    private DeadlineSettings RequireDeadlines(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
        return _deadlines ?? throw new NotSupportedException("this connection has no timers: timeouts and deadlines need a connection accepted by TcpServer");
    }
}
