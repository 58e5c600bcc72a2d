using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Sockeye.Fanout;

namespace Sockeye.Transport;

/// <summary>
/// A connection's send queue for messages from other tasks (<see cref="Connection.TrySend(OutgoingMessage)"/>):
/// bounded by its <see cref="SendQueueOptions"/>, drained in gathered sends by whichever thread finds
/// the connection's send gate free, in order, and never in the middle of one of the handler's flushes.
/// Created on the first send or setting: a connection that never gets one pays nothing for it.
/// </summary>
/// <remarks>
/// <para>The gate (<see cref="SocketWriter"/>'s send flag) admits one sender at a time: the handler's
/// flush or a drain. A drain starts on the thread that queued a message when the gate is free, sends
/// what is queued with one <c>sendmsg</c> per 64 messages, and goes on asynchronously (the poll
/// thread's writable edge) only when the socket buffer is full, so a broadcast to connections that keep
/// up costs one system call per recipient and no task. A handler flush that finds a drain sending
/// waits for the drain's current batch, then the gate is handed to it.</para>
/// <para>Lock order: this object's lock is taken alone (never while holding the connection's or the
/// poller's), and nothing is sent under it. The lock is the object itself rather than an object of its
/// own (24 bytes more on every connection that was ever sent to): the queue is internal and never
/// handed to user code, so nothing else can lock it.</para>
/// </remarks>
internal sealed class Outbox : IThreadPoolWorkItem
{
    private readonly SocketConnection _connection;
    private readonly IOutboxSink _sink;
    private SendQueueOptions _options;

    // Queued, not yet taken by a drain.
    private BufferSegment? _head;
    private BufferSegment? _tail;

    // Bytes queued and not yet taken by the kernel (including a drain's batch in flight).
    private long _pending;
    private long _overSoftSince;
    private bool _closed;

    // A handler flush waiting for the gate, and what it waits on: made the first time a flush has to
    // wait for a drain, which most connections never do.
    private bool _flushWaiting;
    private GateWait? _gateWait;

    /// <param name="connection">The transport: its counters, its abort, its slow-consumer disconnect.</param>
    /// <param name="sink">Where the queue sends, with the gate it shares with the handler's flushes.</param>
    /// <param name="options">The queue's limits.</param>
    public Outbox(SocketConnection connection, IOutboxSink sink, SendQueueOptions options)
    {
        _connection = connection;
        _sink = sink;
        _options = options;
    }

    /// <summary>The queue's limits and policy.</summary>
    public SendQueueOptions Options
    {
        get => Volatile.Read(ref _options);
        set => Volatile.Write(ref _options, value);
    }

    /// <summary>Bytes queued and not yet taken by the kernel.</summary>
    public long PendingBytes => Interlocked.Read(ref _pending);

    /// <summary>Queues <paramref name="message"/> under the policy and starts a drain if none runs.</summary>
    public SendResult Enqueue(OutgoingMessage message)
    {
        var disconnect = false;
        var result = SendResult.Queued;
        lock (this)
        {
            if (_closed)
            {
                return SendResult.Closed;
            }

            var options = _options;
            var length = message.Length;
            if (_pending + length > options.HardLimit)
            {
                switch (options.Overflow)
                {
                    case QueueOverflow.DropNewest:
                        _connection.Context.Fanout?.Dropped.Add(1);
                        return SendResult.Dropped;
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
                        DropOldest(options.HardLimit - length);
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
                _connection.Context.Fanout?.PendingBytes.Add(length);
                disconnect = OverSoftLimitTooLong(options);
            }
        }

        var counters = _connection.Context.Fanout;
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
            _connection.DisconnectSlowConsumer($"its send queue passed the slow-consumer limit ({Describe()})");
            return SendResult.Disconnected;
        }

        if (result == SendResult.Queued && _sink.TryEnterGate())
        {
            // The drain runs as a work item, not on this thread: a broadcast queues on every member
            // first, and messages that arrive before a member's drain runs go out with it, gathered
            // into one sendmsg. Sending inline instead cost one system call per message per member,
            // so a busy room could never batch (BENCHMARKS.md, "Fan-out").
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }

        return result;
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
    private void DropOldest(long room)
    {
        while (_head is { } head && _pending > room)
        {
            _head = head.NextSegment;
            var length = head.End;
            _pending -= length;
            _connection.Context.Fanout?.PendingBytes.Add(-length);
            _connection.Context.Fanout?.Dropped.Add(1);
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
    private async Task DrainAsync()
    {
        while (true)
        {
            var head = TakeAll(out var tail, closeIfEmpty: false);
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
                await _sink.SendChainAsync(head, tail!).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A failed send ends the connection; the drain runs detached and must not throw.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Release(head);
                Settle(bytes);
                _connection.Context.Fanout?.Dropped.Add(count);
                // A send that fails because the connection is closing gracefully (a message queued in
                // the last moment, after the FIN) is dropped, not turned into a reset.
                if (!_connection.IsAborted && !_sink.IsClosed)
                {
                    _connection.Abort($"a queued send failed: {ex.Message}");
                }

                Close();
                ExitGate(resumeIfQueued: false);
                return;
            }

            Release(head);
            _connection.Context.Fanout?.Sent.Add(count);
            Settle(bytes);

            if (Volatile.Read(ref _flushWaiting))
            {
                ExitGate(resumeIfQueued: true); // hands the gate to the handler's flush
                return;
            }
        }
    }

    /// <summary>A handler flush found the gate taken: completes when it is handed the gate.</summary>
    public ValueTask WaitForGateAsync()
    {
        lock (this)
        {
            if (_sink.TryEnterGate())
            {
                return default;
            }

            var wait = _gateWait ??= new GateWait();
            wait.Core.Reset();
            _flushWaiting = true;
            return new ValueTask(wait, wait.Core.Version);
        }
    }

    /// <summary>Gives the gate up: to a waiting handler flush if there is one, else frees it, and then,
    /// when <paramref name="resumeIfQueued"/>, takes it back if messages are queued.</summary>
    /// <returns>Whether the caller holds the gate again and should drain.</returns>
    public bool ExitGate(bool resumeIfQueued)
    {
        bool handOff;
        bool resume = false;
        lock (this)
        {
            handOff = _flushWaiting;
            if (handOff)
            {
                _flushWaiting = false;
            }
            else
            {
                _sink.FreeGate();
                resume = resumeIfQueued && _head is not null && !_closed && _sink.TryEnterGate();
            }
        }

        if (handOff)
        {
            _gateWait!.Core.SetResult(true);
        }

        return resume;
    }

    /// <summary>The handler's flush has freed the gate: a drain starts if messages were queued meanwhile.
    /// It only tries to take the gate, never frees it: a drain may have taken it already, and freeing it
    /// then would let a second drain run beside the first and reorder their batches.</summary>
    public void AfterFlush()
    {
        bool start;
        lock (this)
        {
            start = _head is not null && !_closed && _sink.TryEnterGate();
        }

        if (start)
        {
            _ = DrainAsync();
        }
    }

    /// <summary>Sends everything still queued, holding the gate (the connection's graceful close).</summary>
    public async ValueTask DrainBeforeCloseAsync()
    {
        while (true)
        {
            var head = TakeAll(out var tail, closeIfEmpty: true);
            if (head is null)
            {
                return;
            }

            var count = Measure(head, out var bytes);

            try
            {
                await _sink.SendChainAsync(head, tail!).ConfigureAwait(false);
                _connection.Context.Fanout?.Sent.Add(count);
            }
            catch
            {
                _connection.Context.Fanout?.Dropped.Add(count);
                throw;
            }
            finally
            {
                Release(head);
                Settle(bytes);
            }
        }
    }

    /// <summary>Refuses new messages and releases the queued ones (the connection is closing or aborted).</summary>
    public void Close()
    {
        BufferSegment? head;
        lock (this)
        {
            _closed = true;
            head = _head;
            _head = _tail = null;
        }

        var count = Measure(head, out var bytes);

        if (count > 0)
        {
            Settle(bytes);
            _connection.Context.Fanout?.Dropped.Add(count);
        }

        Release(head);
    }

    /// <summary>Takes every queued message for a send (the chain's head, or null when none is queued);
    /// with <paramref name="closeIfEmpty"/> an empty queue also closes, atomically, so nothing can be
    /// queued after the last look of a graceful close.</summary>
    private BufferSegment? TakeAll(out BufferSegment? tail, bool closeIfEmpty)
    {
        lock (this)
        {
            var head = _head;
            tail = _tail;
            _head = _tail = null;
            if (head is null && closeIfEmpty)
            {
                _closed = true;
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
    /// soft-limit clock stops once the queue is back under it.</summary>
    private void Settle(long bytes)
    {
        lock (this)
        {
            _pending -= bytes;
            OverSoftLimitTooLong(_options);
        }

        _connection.Context.Fanout?.PendingBytes.Add(-bytes);
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

    /// <summary>A handler flush's wait for the gate (<see cref="WaitForGateAsync"/>), completed when a
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
