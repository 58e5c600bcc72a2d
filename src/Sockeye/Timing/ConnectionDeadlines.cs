using System.Globalization;

namespace Sockeye.Timing;

/// <summary>
/// One connection's timeouts and deadlines: their values, the state of the read the handler is in and
/// of the pending send, and the <see cref="TimerSlot"/> it holds in the server's
/// <see cref="DeadlineScanner"/>.
/// </summary>
/// <remarks>
/// <para>A separate object, created only for a connection that has something to time: at accept when
/// a server default (idle, read, write timeout or minimum rate) is on, else on the first setter call
/// (<see cref="Connection.IdleTimeout"/>, <see cref="Connection.SetReadDeadline"/>, ...). With every
/// timeout off, the default, an idle connection carries one null reference instead of about 130 bytes
/// of fields and a 32-byte scanner slot (docs/MEMORY.md).</para>
/// <para>The hot path (a receive, a read, a send) only reads the clock and writes one long into the
/// slot. The scan calls <see cref="OnDeadlineDue(long)"/> when a hint is due; it re-checks the real
/// state, because hints are written without locks and may be stale. Fields are written before the hint
/// that announces them, so a scan that sees a due hint also sees the state it was computed from.</para>
/// </remarks>
internal sealed class ConnectionDeadlines : IDeadlineTarget
{
    private readonly IDeadlineOwner _connection;
    private readonly DeadlineSettings _settings;

    // The slot; null once given back (or never taken, for a connection already finished).
    private TimerChunk? _chunk;
    private int _index;

    // This connection's timeouts in timestamp units (0 = off); they start as the server's defaults.
    private long _idleTicks;
    private long _readTicks;
    private long _writeTicks;

    // Absolute deadlines as timestamps; long.MaxValue = none.
    private long _readDeadline = long.MaxValue;
    private long _writeDeadline = long.MaxValue;

    // The read the handler is in, from its ReadAsync until it consumes bytes (see SocketReader); whether
    // it is pending is the connection's (SocketConnection.IsReadPending), which exists before this does.
    private bool _readTimed;
    private long _readStart;
    private long _readExpiry = long.MaxValue;
    private long _readStartBytes;
    private long _bytesReceived;

    // The send in progress, from the socket send until the kernel took every byte.
    private long _sendExpiry = long.MaxValue;

    // (ConnectionTimeoutKind + 1) once a timeout fired; then every read and flush fails with it.
    private int _timedOut;
    private string? _timeoutMessage;

    /// <summary>Starts with the server's defaults; takes a slot unless <paramref name="register"/> is
    /// false (the connection has already finished, so nothing may hold it in the scanner).</summary>
    public ConnectionDeadlines(IDeadlineOwner connection, DeadlineSettings settings, bool register)
    {
        _connection = connection;
        _settings = settings;
        _idleTicks = settings.IdleTicks;
        _readTicks = settings.ReadTicks;
        _writeTicks = settings.WriteTicks;
        if (!register)
        {
            return;
        }

        var (chunk, index) = settings.Scanner.Register(this);
        _index = index;
        if (_idleTicks != 0)
        {
            var idle = settings.Scanner.Now + _idleTicks;
            chunk.Slots[index].Idle = idle;
            settings.Scanner.Armed(idle);
        }

        Volatile.Write(ref _chunk, chunk);
    }

    /// <summary>Whether the server's defaults give an accepted connection anything to time, so its
    /// deadline state is needed from the start.</summary>
    public static bool NeededFromStart(DeadlineSettings settings) =>
        settings.IdleTicks != 0 || settings.ReadTicks != 0 || settings.WriteTicks != 0 || settings.MinReceiveRate is not null;

    private DeadlineScanner Scanner => _settings.Scanner;

    /// <summary>Bytes received since this state was created (at accept, when timeouts are on).</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    public TimeSpan IdleTimeout
    {
        get => Scanner.ToTimeSpan(Volatile.Read(ref _idleTicks));
        set
        {
            var ticks = Scanner.ToTicks(value);
            Volatile.Write(ref _idleTicks, ticks);
            var chunk = _chunk;
            if (chunk is not null)
            {
                var idle = ticks == 0 ? long.MaxValue : Scanner.Now + ticks;
                Volatile.Write(ref chunk.Slots[_index].Idle, idle);
                Scanner.Armed(idle);
            }
        }
    }

    public TimeSpan ReadTimeout
    {
        get => Scanner.ToTimeSpan(Volatile.Read(ref _readTicks));
        set => Volatile.Write(ref _readTicks, Scanner.ToTicks(value));
    }

    public TimeSpan WriteTimeout
    {
        get => Scanner.ToTimeSpan(Volatile.Read(ref _writeTicks));
        set => Volatile.Write(ref _writeTicks, Scanner.ToTicks(value));
    }

    public void SetReadDeadline(DateTimeOffset? deadline)
    {
        Volatile.Write(ref _readDeadline, deadline is { } at ? Scanner.ToTimestamp(at) : long.MaxValue);
        var chunk = _chunk;
        if (chunk is not null && _connection.IsReadPending)
        {
            var check = NextReadCheck(Scanner.Now, Volatile.Read(ref _readDeadline));
            Volatile.Write(ref chunk.Slots[_index].Read, check);
            Scanner.Armed(check);
        }
    }

    public void SetWriteDeadline(DateTimeOffset? deadline)
    {
        Volatile.Write(ref _writeDeadline, deadline is { } at ? Scanner.ToTimestamp(at) : long.MaxValue);
        var chunk = _chunk;
        if (chunk is not null && _connection.IsSendPending)
        {
            var expiry = Math.Min(_sendExpiry, Volatile.Read(ref _writeDeadline));
            Volatile.Write(ref chunk.Slots[_index].Write, expiry);
            Scanner.Armed(expiry);
        }
    }

    /// <summary>Gives the slot back. The caller holds the reader's lock, so no receive writes the slot
    /// after its next owner got it.</summary>
    public void Detach()
    {
        var chunk = Interlocked.Exchange(ref _chunk, null);
        if (chunk is not null)
        {
            Scanner.Unregister(chunk, _index);
        }
    }

    /// <summary>A receive got <paramref name="received"/> bytes: restart the idle clock. Called under the reader's lock.
    /// No <see cref="DeadlineScanner.Armed"/>: the hint only moves later, and the tick set for the old time
    /// finds the new one.</summary>
    public void OnReceived(int received)
    {
        _bytesReceived += received;
        var ticks = _idleTicks;
        var chunk = _chunk;
        if (ticks != 0 && chunk is not null)
        {
            chunk.Slots[_index].Idle = Scanner.Now + ticks;
        }
    }

    /// <summary>The handler starts a read; see the transport's <c>SocketConnection.BeginRead</c>.</summary>
    /// <returns>Whether the read deadline had already passed (the connection is then timed out).</returns>
    public bool BeginRead(out bool trackConsumption)
    {
        trackConsumption = false;
        var chunk = _chunk;
        var deadline = Volatile.Read(ref _readDeadline);
        var readTicks = Volatile.Read(ref _readTicks);
        var timed = readTicks != 0 || _settings.MinReceiveRate is not null;
        if (chunk is null || (!timed && deadline == long.MaxValue))
        {
            _readTimed = false;
            return false;
        }

        var now = Scanner.Now;
        if (deadline <= now)
        {
            TimeOut(ConnectionTimeoutKind.ReadDeadline, now);
            return true;
        }

        _readStart = now;
        _readStartBytes = Volatile.Read(ref _bytesReceived);
        _readExpiry = readTicks != 0 ? now + readTicks : long.MaxValue;
        _readTimed = timed;
        var check = NextReadCheck(now, deadline);
        Volatile.Write(ref chunk.Slots[_index].Read, check);
        Scanner.Armed(check);
        trackConsumption = timed;
        return false;
    }

    /// <summary>The handler consumed bytes: the read is over.</summary>
    public void EndRead()
    {
        var chunk = _chunk;
        if (chunk is not null && chunk.Slots[_index].Read != long.MaxValue)
        {
            Volatile.Write(ref chunk.Slots[_index].Read, long.MaxValue);
        }
    }

    /// <summary>A flush hands bytes to the socket; the connection marks the send pending after this.</summary>
    /// <returns>Whether the write deadline had already passed (the connection is then timed out).</returns>
    public bool BeginSend()
    {
        var chunk = _chunk;
        var deadline = Volatile.Read(ref _writeDeadline);
        var writeTicks = Volatile.Read(ref _writeTicks);
        if (chunk is null || (writeTicks == 0 && deadline == long.MaxValue))
        {
            _sendExpiry = long.MaxValue;
            return false;
        }

        var now = Scanner.Now;
        if (deadline <= now)
        {
            TimeOut(ConnectionTimeoutKind.WriteDeadline, now);
            return true;
        }

        _sendExpiry = writeTicks != 0 ? now + writeTicks : long.MaxValue;
        var expiry = Math.Min(_sendExpiry, deadline);
        Volatile.Write(ref chunk.Slots[_index].Write, expiry);
        Scanner.Armed(expiry);
        return false;
    }

    /// <summary>The kernel took every byte of the send.</summary>
    public void EndSend()
    {
        var chunk = _chunk;
        if (chunk is not null && chunk.Slots[_index].Write != long.MaxValue)
        {
            Volatile.Write(ref chunk.Slots[_index].Write, long.MaxValue);
        }
    }

    public void OnDeadlineDue(long now)
    {
        var chunk = _chunk;
        if (chunk is null || _connection.IsAborted)
        {
            return;
        }

        ref var slot = ref chunk.Slots[_index];
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
            if (_connection.IsReadPending)
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

                if (_readTimed && IsBelowMinReceiveRate(now))
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
            if (_connection.IsSendPending)
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

    /// <summary>Which timeout ended the connection, if one did.</summary>
    public ConnectionTimeoutKind? TimedOutKind => Volatile.Read(ref _timedOut) is var t and not 0 ? (ConnectionTimeoutKind)(t - 1) : null;

    /// <summary>The exception a read or flush fails with after a timeout fired; <see langword="null"/>
    /// when none did.</summary>
    public ConnectionTimeoutException? TimeoutException(Exception? inner)
    {
        var timedOut = Volatile.Read(ref _timedOut);
        return timedOut == 0
            ? null
            : new ConnectionTimeoutException((ConnectionTimeoutKind)(timedOut - 1), _timeoutMessage ?? $"connection {_connection.Id} timed out", inner);
    }

    private bool IsBelowMinReceiveRate(long now)
    {
        var rate = _settings.MinReceiveRate;
        if (rate is null || now - _readStart < _settings.GraceTicks)
        {
            return false;
        }

        var received = Volatile.Read(ref _bytesReceived) - _readStartBytes;
        return received < rate.RequiredBytes(Scanner.ToTimeSpan(now - _readStart));
    }

    /// <summary>When the scan should next look at the current read: the earliest of the deadline, the
    /// read timeout and (past the grace period, every tick) the minimum-rate check.</summary>
    private long NextReadCheck(long now, long deadline)
    {
        var next = deadline;
        if (_readTimed)
        {
            next = Math.Min(next, _readExpiry);
            if (_settings.MinReceiveRate is not null)
            {
                next = Math.Min(next, Math.Max(_readStart + _settings.GraceTicks, now + Scanner.ResolutionTicks));
            }
        }

        return next;
    }

    /// <summary>Records that <paramref name="kind"/> expired, counts it, and aborts the connection.</summary>
    private void TimeOut(ConnectionTimeoutKind kind, long now)
    {
        if (_connection.IsAborted || Volatile.Read(ref _timedOut) != 0)
        {
            return;
        }

        var scanner = Scanner;
        var what = kind switch
        {
            ConnectionTimeoutKind.Idle => $"no bytes received for IdleTimeout {DurationText.Format(scanner.ToTimeSpan(_idleTicks))}",
            ConnectionTimeoutKind.Read => $"a read took longer than ReadTimeout {DurationText.Format(scanner.ToTimeSpan(_readTicks))}",
            ConnectionTimeoutKind.Write => $"a send waited longer than WriteTimeout {DurationText.Format(scanner.ToTimeSpan(_writeTicks))} for the peer to read",
            ConnectionTimeoutKind.ReadDeadline => $"the read deadline {FormatDeadline(scanner, _readDeadline)} passed",
            ConnectionTimeoutKind.WriteDeadline => $"the write deadline {FormatDeadline(scanner, _writeDeadline)} passed",
            ConnectionTimeoutKind.MinReceiveRate => string.Create(CultureInfo.InvariantCulture,
                $"received {Volatile.Read(ref _bytesReceived) - _readStartBytes} bytes in {DurationText.Format(scanner.ToTimeSpan(now - _readStart))} of a read, below MinReceiveRate {_settings.MinReceiveRate!.BytesPerSecond} bytes/s"),
            _ => kind.ToString(),
        };
        // The message is the gate: the first timeout to publish it wins, and it is in place before
        // _timedOut tells TimeoutException to use it.
        var message = $"connection {_connection.Id} timed out: {what}";
        if (Interlocked.CompareExchange(ref _timeoutMessage, message, null) is not null)
        {
            return;
        }

        Volatile.Write(ref _timedOut, (int)kind + 1);
        _settings.Counters.Increment(kind);
        _connection.Abort(message);
    }

    private static string FormatDeadline(DeadlineScanner scanner, long deadline) =>
        scanner.ToDateTimeOffset(deadline).ToString("O", CultureInfo.InvariantCulture);
}
