using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Sockeye.Fanout;

namespace Sockeye.Transport;

/// <summary>
/// A connection's send queue for messages from other tasks (<see cref="Connection.TrySend(OutgoingMessage)"/>):
/// bounded by its <see cref="SendQueueOptions"/>, drained in gathered sends by whichever thread finds
/// the connection's send gate free, in order, and never in the middle of one of the handler's flushes.
/// A plain connection takes one from its server's <see cref="OutboxPool"/> on a send and gives it back
/// when a drain has emptied it; a TLS connection makes its own on the first send or setting and keeps it.
/// </summary>
/// <remarks>
/// <para>The gate (<see cref="SocketWriter"/>'s send flag) admits one sender at a time: the handler's
/// flush or a drain. A drain starts on the thread that queued a message when the gate is free, sends
/// what is queued with one <c>sendmsg</c> per 64 messages, and goes on asynchronously (the poll
/// thread's writable edge) only when the socket buffer is full, so a broadcast to connections that keep
/// up costs one system call per recipient and no task. A handler flush that finds a drain sending
/// waits for the drain's current batch, then the gate is handed to it.</para>
/// <para>Pooled queues: the queue belongs to the connection whose <see cref="ConnectionExtras.Outbox"/>
/// points at it, and the two are linked and unlinked together under this object's lock
/// (<see cref="TryAttach"/>, <see cref="GiveBackIfIdle"/>). Anyone may still hold a queue it read from
/// that field before it was given back, and the queue may since serve another connection (or the same
/// one again), so every entry point takes the connection it means and, under the lock, answers
/// <see langword="false"/> when the queue is not that connection's now: the caller reads the field again.
/// A queue is given back only by the holder of the gate (a drain that found nothing more to send, or a
/// handler's flush that found the queue empty), while nothing is queued or in flight, no flush waits, it
/// has the server's limits (a connection or group that set its own keeps its queue) and it is open:
/// so no drain of a queue ever runs once it is detached, and the holder of a connection's gate is always
/// the handler or a drain of the queue attached to it. A closed queue stays with its connection.</para>
/// <para>Lock order: this object's lock is taken alone (never while holding the connection's or the
/// poller's), and nothing is sent under it. The lock is the object itself rather than an object of its
/// own (24 bytes more on every connection that was ever sent to): the queue is internal and never
/// handed to user code, so nothing else can lock it.</para>
/// </remarks>
internal sealed class Outbox : IThreadPoolWorkItem
{
    // The connection the queue belongs to now and where it sends; null while it waits in the pool.
    // Changed only under the lock; stable while the gate is held through this queue.
    private SocketConnection? _connection;
    private IOutboxSink? _sink;
    private SendQueueOptions _options;

    // Queued, not yet taken by a drain.
    private BufferSegment? _head;
    private BufferSegment? _tail;

    // Bytes queued and not yet taken by the kernel (including a drain's batch in flight).
    private long _pending;
    private long _overSoftSince;
    private bool _closed;

    // Whether the queue comes from (and goes back to) its server's pool; false for a TLS connection's
    // own. A bool beside the others, in padding the object has anyway.
    private readonly bool _pooled;

    // A handler flush waiting for the gate, and what it waits on: made the first time a flush has to
    // wait for a drain, which most connections never do.
    private bool _flushWaiting;
    private GateWait? _gateWait;

    /// <summary>A queue of <paramref name="connection"/>'s own for its whole life (the TLS layer's).</summary>
    /// <param name="connection">The transport: its counters, its abort, its slow-consumer disconnect.</param>
    /// <param name="sink">Where the queue sends, with the gate it shares with the handler's flushes.</param>
    /// <param name="options">The queue's limits.</param>
    public Outbox(SocketConnection connection, IOutboxSink sink, SendQueueOptions options)
    {
        _connection = connection;
        _sink = sink;
        _options = options;
    }

    private Outbox()
    {
        _options = SendQueueOptions.Default;
        _pooled = true;
    }

    /// <summary>A detached queue for an <see cref="OutboxPool"/>.</summary>
    internal static Outbox CreatePooled() => new();

    /// <summary>Links this detached queue with <paramref name="owner"/> (its <see cref="ConnectionExtras.Outbox"/>);
    /// false when the connection has a queue already (this one stays detached).</summary>
    public bool TryAttach(SocketConnection owner, IOutboxSink sink, SendQueueOptions options)
    {
        Debug.Assert(_pooled, "only a pooled queue is attached");
        var extras = owner.Extras;
        lock (this)
        {
            Debug.Assert(_connection is null && _head is null && _pending == 0 && !_closed, "a queue in the pool is detached and empty");
            if (Interlocked.CompareExchange(ref extras.Outbox, this, null) is not null)
            {
                return false;
            }

            _connection = owner;
            _sink = sink;
            _options = options;
            return true;
        }
    }

    /// <summary>The queue's limits and policy (a TLS connection's own queue).</summary>
    public SendQueueOptions Options
    {
        get => Volatile.Read(ref _options);
        set
        {
            Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
            Volatile.Write(ref _options, value);
        }
    }

    /// <summary>The queue's limits, if it is <paramref name="owner"/>'s.</summary>
    public bool TryGetOptions(SocketConnection owner, out SendQueueOptions options)
    {
        lock (this)
        {
            options = _options;
            return _connection == owner;
        }
    }

    /// <summary>Sets the queue's limits, if it is <paramref name="owner"/>'s. A queue with limits other
    /// than its server's is never given back (the limits would be lost with it).</summary>
    public bool TrySetOptions(SocketConnection owner, SendQueueOptions options)
    {
        lock (this)
        {
            if (_connection != owner)
            {
                return false;
            }

            _options = options;
            return true;
        }
    }

    /// <summary>Bytes queued and not yet taken by the kernel (a TLS connection's own queue).</summary>
    public long PendingBytes => Interlocked.Read(ref _pending);

    /// <summary>Bytes queued and not yet taken by the kernel, if the queue is <paramref name="owner"/>'s.</summary>
    public bool TryGetPendingBytes(SocketConnection owner, out long bytes)
    {
        lock (this)
        {
            bytes = _pending;
            return _connection == owner;
        }
    }

    /// <summary>Queues <paramref name="message"/> (a TLS connection's own queue).</summary>
    public SendResult Enqueue(OutgoingMessage message)
    {
        Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
        TryEnqueue(_connection!, message, out var result);
        return result;
    }

    /// <summary>Queues <paramref name="message"/> under the policy and starts a drain if none runs;
    /// false (nothing done) when the queue is not <paramref name="owner"/>'s any more.</summary>
    public bool TryEnqueue(SocketConnection owner, OutgoingMessage message, out SendResult result)
    {
        var disconnect = false;
        var drain = false;
        string? why = null;
        result = SendResult.Queued;
        var counters = owner.Context.Fanout;
        lock (this)
        {
            if (_connection != owner)
            {
                return false;
            }

            if (_closed)
            {
                result = SendResult.Closed;
                return true;
            }

            var options = _options;
            var length = message.Length;
            if (_pending + length > options.HardLimit)
            {
                switch (options.Overflow)
                {
                    case QueueOverflow.DropNewest:
                        counters?.Dropped.Add(1);
                        result = SendResult.Dropped;
                        return true;
                    case QueueOverflow.DropOldest:
                        if (length > options.HardLimit)
                        {
                            result = SendResult.Dropped; // it could never fit
                            break;
                        }

                        // What is left over the limit after this is a batch a drain already handed to
                        // the socket: it is never recalled, and the newest message is kept anyway, so
                        // a latest-value feed always ends on its latest value. Dropping the newest here
                        // instead lost a feed's last update whenever it came while a batch was stuck.
                        DropOldest(options.HardLimit - length, counters);
                        break;
                    default:
                        disconnect = true;
                        break;
                }
            }

            if (!disconnect && result == SendResult.Queued)
            {
                var segment = MessageSegment.For(message);
                if (_tail is null)
                {
                    _head = segment;
                }
                else
                {
                    _tail.Link(segment);
                }

                _tail = segment;
                _pending += length;
                counters?.PendingBytes.Add(length);
                disconnect = OverSoftLimitTooLong(options);
            }

            if (disconnect)
            {
                why = Describe();
            }
            else if (result == SendResult.Queued)
            {
                // Under the lock, while the queue is surely this connection's: a drain started here
                // sends through this connection's gate.
                drain = _sink!.TryEnterGate();
            }
        }

        if (result == SendResult.Queued && !disconnect)
        {
            counters?.Queued.Add(1);
        }
        else
        {
            counters?.Dropped.Add(1);
        }

        if (disconnect)
        {
            owner.DisconnectSlowConsumer($"its send queue passed the slow-consumer limit ({why})");
            result = SendResult.Disconnected;
            return true;
        }

        if (drain)
        {
            // The drain runs as a work item, not on this thread: a broadcast queues on every member
            // first, and messages that arrive before a member's drain runs go out with it, gathered
            // into one sendmsg. Sending inline instead cost one system call per message per member,
            // so a busy room could never batch (BENCHMARKS.md, "Fan-out").
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }

        return true;
    }

    /// <summary>Whether the queue has stayed over the soft limit longer than allowed; remembers when
    /// it went over, forgets when it is back under.</summary>
    private bool OverSoftLimitTooLong(SendQueueOptions options)
    {
        if (options.SoftLimit == 0 || _pending <= options.SoftLimit)
        {
            _overSoftSince = 0;
            return false;
        }

        var now = Stopwatch.GetTimestamp();
        if (_overSoftSince == 0)
        {
            _overSoftSince = now;
            return false;
        }

        return options.Overflow == QueueOverflow.Disconnect && Stopwatch.GetElapsedTime(_overSoftSince, now) > options.SoftLimitTime;
    }

    /// <summary>Drops queued messages from the head until <paramref name="room"/> bytes or fewer are
    /// pending (never a batch a drain already took). Under the lock: releasing a message only returns
    /// it to its pool.</summary>
    private void DropOldest(long room, Diagnostics.FanoutCounters? counters)
    {
        while (_head is { } head && _pending > room)
        {
            _head = head.NextSegment;
            var length = head.End;
            _pending -= length;
            counters?.PendingBytes.Add(-length);
            counters?.Dropped.Add(1);
            head.Release();
        }

        if (_head is null)
        {
            _tail = null;
        }
    }

    private string Describe()
    {
        var options = _options;
        return $"{_pending} bytes pending; hard limit {options.HardLimit}, soft limit {options.SoftLimit} for {options.SoftLimitTime.TotalSeconds:0.#} s";
    }

    /// <summary>Sends what is queued while holding the gate, batch after batch, until the queue is empty
    /// (or a handler flush is waiting: then the gate is handed to it after the current batch).</summary>
    /// <remarks>The queue is its connection's throughout: it is given back only by the holder of the
    /// gate, which is this drain until its last <see cref="ExitGate"/>.</remarks>
    private async Task DrainAsync()
    {
        var connection = _connection!;
        var sink = _sink!;
        while (true)
        {
            var head = TakeAll(connection, out var tail, closeIfEmpty: false, out _);
            if (head is null)
            {
                if (!ExitGate(resumeIfQueued: true))
                {
                    return;
                }

                continue;
            }

            var count = Measure(head, out var bytes);

            try
            {
                await sink.SendChainAsync(head, tail!).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A failed send ends the connection; the drain runs detached and must not throw.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Release(head);
                Settle(connection, bytes);
                connection.Context.Fanout?.Dropped.Add(count);
                // A send that fails because the connection is closing gracefully (a message queued in
                // the last moment, after the FIN) is dropped, not turned into a reset.
                if (!connection.IsAborted && !sink.IsClosed)
                {
                    connection.Abort($"a queued send failed: {ex.Message}");
                }

                TryClose(connection);
                ExitGate(resumeIfQueued: false);
                return;
            }

            Release(head);
            connection.Context.Fanout?.Sent.Add(count);
            Settle(connection, bytes);

            if (Volatile.Read(ref _flushWaiting))
            {
                ExitGate(resumeIfQueued: true); // hands the gate to the handler's flush
                return;
            }
        }
    }

    /// <summary>A handler flush found the gate taken (a TLS connection's own queue): completes when it
    /// is handed the gate.</summary>
    public ValueTask WaitForGateAsync()
    {
        Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
        TryWaitForGate(_connection!, out var wait);
        return wait;
    }

    /// <summary>A handler flush of <paramref name="owner"/> found the gate taken: <paramref name="wait"/>
    /// completes when it is handed the gate. False when the queue is not <paramref name="owner"/>'s any
    /// more (it was given back, so its drain has freed the gate: the caller tries the gate again).</summary>
    public bool TryWaitForGate(SocketConnection owner, out ValueTask wait)
    {
        lock (this)
        {
            wait = default;
            if (_connection != owner)
            {
                return false;
            }

            if (_sink!.TryEnterGate())
            {
                return true;
            }

            var gate = _gateWait ??= new GateWait();
            gate.Core.Reset();
            _flushWaiting = true;
            wait = new ValueTask(gate, gate.Core.Version);
            return true;
        }
    }

    /// <summary>The drain gives the gate up: to a waiting handler flush if there is one, else frees it,
    /// and then, when <paramref name="resumeIfQueued"/>, takes it back if messages are queued, or gives
    /// the queue back to the pool if nothing is.</summary>
    /// <returns>Whether the caller holds the gate again and should drain.</returns>
    private bool ExitGate(bool resumeIfQueued)
    {
        bool handOff;
        var resume = false;
        OutboxPool? giveBackTo = null;
        lock (this)
        {
            handOff = _flushWaiting;
            if (handOff)
            {
                _flushWaiting = false;
            }
            else if (resumeIfQueued && _head is null)
            {
                giveBackTo = GiveBackIfIdle();
            }

            if (!handOff && giveBackTo is null)
            {
                _sink!.FreeGate();
                resume = resumeIfQueued && _head is not null && !_closed && _sink.TryEnterGate();
            }
        }

        if (handOff)
        {
            _gateWait!.Core.SetResult(true);
        }

        giveBackTo?.Return(this);
        return resume;
    }

    /// <summary>Under the lock, by the holder of the gate: if the queue may go back to the pool (see the
    /// remarks), frees the gate, unlinks the queue from its connection and returns the pool to give it
    /// to (after the lock); else null, and nothing changed.</summary>
    private OutboxPool? GiveBackIfIdle()
    {
        var connection = _connection!;
        if (!_pooled || _head is not null || _pending != 0 || _closed || _flushWaiting
            || !ReferenceEquals(_options, connection.Context.SendQueue))
        {
            return null;
        }

        _sink!.FreeGate();
        var unlinked = Interlocked.CompareExchange(ref connection.Extras.Outbox, null, this);
        Debug.Assert(ReferenceEquals(unlinked, this), "an attached queue is its connection's");
        _connection = null;
        _sink = null;
        _overSoftSince = 0;
        return connection.Context.Outboxes;
    }

    /// <summary>The handler's flush has freed the gate (a TLS connection's own queue); see <see cref="TryAfterFlush"/>.</summary>
    public void AfterFlush()
    {
        Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
        TryAfterFlush(_connection!);
    }

    /// <summary>The handler's flush of <paramref name="owner"/> has freed the gate: a drain starts if
    /// messages were queued meanwhile, and an empty pooled queue goes back to the pool. It only tries to
    /// take the gate, never frees one it did not take: a drain may have taken it already, and freeing it
    /// then would let a second drain run beside the first and reorder their batches. False when the queue
    /// is not <paramref name="owner"/>'s any more (the caller looks at the connection's queue again).</summary>
    public bool TryAfterFlush(SocketConnection owner)
    {
        var start = false;
        OutboxPool? giveBackTo = null;
        lock (this)
        {
            if (_connection != owner)
            {
                return false;
            }

            if (_head is not null)
            {
                start = !_closed && _sink!.TryEnterGate();
            }
            else if (_pooled && !_closed && _sink!.TryEnterGate())
            {
                giveBackTo = GiveBackIfIdle();
                if (giveBackTo is null)
                {
                    _sink!.FreeGate(); // kept (its own limits, or a batch still pending)
                }
            }
        }

        if (start)
        {
            _ = DrainAsync();
        }

        giveBackTo?.Return(this);
        return true;
    }

    /// <summary>Sends everything still queued, holding the gate, and closes the queue (a TLS connection's
    /// own queue at its graceful close).</summary>
    public async ValueTask DrainBeforeCloseAsync()
    {
        Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
        await TryDrainBeforeCloseAsync(_connection!).ConfigureAwait(false);
    }

    /// <summary>Sends everything still queued, holding the gate, then closes the queue: the connection's
    /// graceful close. False (nothing sent) when the queue is not <paramref name="owner"/>'s any more.</summary>
    public async ValueTask<bool> TryDrainBeforeCloseAsync(SocketConnection owner)
    {
        while (true)
        {
            var head = TakeAll(owner, out var tail, closeIfEmpty: true, out var owned);
            if (!owned)
            {
                return false;
            }

            if (head is null)
            {
                return true;
            }

            var count = Measure(head, out var bytes);

            try
            {
                await _sink!.SendChainAsync(head, tail!).ConfigureAwait(false);
                owner.Context.Fanout?.Sent.Add(count);
            }
            catch
            {
                owner.Context.Fanout?.Dropped.Add(count);
                throw;
            }
            finally
            {
                Release(head);
                Settle(owner, bytes);
            }
        }
    }

    /// <summary>Refuses new messages and releases the queued ones (a TLS connection's own queue).</summary>
    public void Close()
    {
        Debug.Assert(!_pooled, "a pooled queue is reached with its owner");
        TryClose(_connection!);
    }

    /// <summary>Refuses new messages and releases the queued ones (the connection is closing or
    /// aborted); the queue stays with its connection from now on. False when it is not
    /// <paramref name="owner"/>'s any more.</summary>
    public bool TryClose(SocketConnection owner)
    {
        BufferSegment? head;
        lock (this)
        {
            if (_connection != owner)
            {
                return false;
            }

            MarkClosed();
            head = _head;
            _head = _tail = null;
        }

        var count = Measure(head, out var bytes);

        if (count > 0)
        {
            Settle(owner, bytes);
            owner.Context.Fanout?.Dropped.Add(count);
        }

        Release(head);
        return true;
    }

    /// <summary>Under the lock: the queue takes no more messages, and a pooled one is counted as
    /// never coming back.</summary>
    private void MarkClosed()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        if (_pooled)
        {
            _connection!.Context.Outboxes.OnRetired();
        }
    }

    /// <summary>Takes every queued message for a send (the chain's head, or null when none is queued);
    /// with <paramref name="closeIfEmpty"/> an empty queue also closes, atomically, so nothing can be
    /// queued after the last look of a graceful close. <paramref name="owned"/> is false (and nothing
    /// taken) when the queue is not <paramref name="owner"/>'s.</summary>
    private BufferSegment? TakeAll(SocketConnection owner, out BufferSegment? tail, bool closeIfEmpty, out bool owned)
    {
        lock (this)
        {
            tail = null;
            owned = _connection == owner;
            if (!owned)
            {
                return null;
            }

            var head = _head;
            tail = _tail;
            _head = _tail = null;
            if (head is null && closeIfEmpty)
            {
                MarkClosed();
            }

            return head;
        }
    }

    /// <summary>How many messages and bytes the chain from <paramref name="head"/> holds.</summary>
    private static int Measure(BufferSegment? head, out long bytes)
    {
        bytes = 0;
        var count = 0;
        for (var segment = head; segment is not null; segment = segment.NextSegment)
        {
            bytes += segment.End;
            count++;
        }

        return count;
    }

    /// <summary><paramref name="bytes"/> left the queue (sent or dropped): no longer pending, and the
    /// soft-limit clock stops once the queue is back under it. Called while the queue cannot change
    /// hands (its gate is held, or it is closed).</summary>
    private void Settle(SocketConnection owner, long bytes)
    {
        lock (this)
        {
            _pending -= bytes;
            OverSoftLimitTooLong(_options);
        }

        owner.Context.Fanout?.PendingBytes.Add(-bytes);
    }

    private static void Release(BufferSegment? head)
    {
        while (head is not null)
        {
            var next = head.NextSegment;
            head.Release();
            head = next;
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = DrainAsync();

    /// <summary>A handler flush's wait for the gate (<see cref="TryWaitForGate"/>), completed when a
    /// drain hands the gate over.</summary>
    private sealed class GateWait : IValueTaskSource
    {
        public ManualResetValueTaskSourceCore<bool> Core = new() { RunContinuationsAsynchronously = true };

        void IValueTaskSource.GetResult(short token) => Core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => Core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);
    }
}
