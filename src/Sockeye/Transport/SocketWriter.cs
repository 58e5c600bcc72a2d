using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// <see cref="Connection.Output"/>: a <see cref="PipeWriter"/> that buffers what the handler writes in
/// pool blocks and hands it to the socket on <see cref="FlushAsync"/>. No send loop, no pipe in between.
/// </summary>
/// <remarks>
/// <para>A flush sends every buffered byte in gathered sends (with the epoll engine, <c>sendmsg</c>
/// with up to 64 blocks at a time, waiting for a writable edge after <c>EAGAIN</c>; with .NET's
/// engine, one send through a pooled <see cref="SocketSender"/>) and completes when the kernel has
/// taken them all. That is the back-pressure: while the peer does not read, the socket buffer is full
/// and the handler waits in <c>FlushAsync</c> (released by <see cref="Connection.WriteTimeout"/>).
/// Memory held is what the handler wrote since its last flush; <c>WriteAsync</c> of a large buffer
/// sends it in pieces of <see cref="TcpServerOptions.MaxWriteBufferSize"/>.</para>
/// <para>Used by the handler alone, as any <see cref="PipeWriter"/>: one write or flush at a time.
/// <see cref="Connection.Abort(string)"/> from another thread closes the socket, which fails a flush
/// in progress.</para>
/// </remarks>
internal sealed class SocketWriter : PipeWriter, IOutboxSink
{
    // The socket, the pools and the limit are reached through the connection rather than kept here:
    // each field is 8 bytes on every idle connection (docs/MEMORY.md).
    private readonly SocketConnection _connection;

    private BufferSegment? _head;
    private BufferSegment? _tail;
    private long _unflushed;
    private bool _completed;
    private bool _closed;
    private bool _cancelRequested;

    // The send gate: 1 while a send is in progress, the handler's flush or a drain of the connection's
    // send queue (Outbox), so the two never interleave on the socket. A byte, so it fits in the padding
    // after the flags: an idle connection pays nothing for it.
    private byte _sending;
    private Exception? _error;

    // The epoll engine's wait for room in the socket buffer: its state shared with the poll thread
    // (see PollState), and the awaitable, created the first time a send has to wait.
    private int _pollState;
    private WritableWait? _wait;

    public SocketWriter(SocketConnection connection) => _connection = connection;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _unflushed;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (_completed)
        {
            throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        }

        var needed = Math.Max(sizeHint, 1);
        if (_tail is null || _tail.FreeSpace < needed)
        {
            BufferSegment segment = needed <= PinnedBlockMemoryPool.BlockSize ? _connection.Context.Pool.RentBlock() : new RentedSegment(needed);
            if (_tail is null)
            {
                _head = segment;
            }
            else
            {
                _tail.Link(segment);
            }

            _tail = segment;
        }

        return _tail.Writable;
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        if (_tail is null || (uint)bytes > (uint)_tail.FreeSpace)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Advance went past the memory that GetMemory or GetSpan returned.");
        }

        _tail.Commit(bytes);
        _unflushed += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_error is not null)
        {
            return ValueTask.FromException<FlushResult>(_error);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        }

        if (_unflushed == 0)
        {
            return new ValueTask<FlushResult>(Result());
        }

        return SendBufferedAsync();
    }

    /// <summary>Writes <paramref name="source"/> and flushes, in pieces of at most
    /// <see cref="TcpServerOptions.MaxWriteBufferSize"/>, so one large write does not buffer all of
    /// itself in user space before the kernel takes any of it.</summary>
    public override async ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        var result = default(FlushResult);
        do
        {
            var room = (int)Math.Max(1, _connection.Context.MaxWriteBufferSize - _unflushed);
            var piece = source[..Math.Min(source.Length, room)];
            this.Write(piece.Span);
            source = source[piece.Length..];
            if (!source.IsEmpty || _unflushed > 0)
            {
                result = await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        while (!source.IsEmpty && !result.IsCanceled);

        return result;
    }

    public override void CancelPendingFlush() => _cancelRequested = true;

    /// <summary>Marks the end of writing; what is buffered is sent when the connection closes.</summary>
    public override void Complete(Exception? exception = null) => _completed = true;

    /// <summary>Marks the end of writing, sends what is buffered, then the FIN.</summary>
    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        _completed = true;
        await CloseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Sends what is buffered, then the FIN (unless the connection was aborted or a send failed), and
    /// gives the blocks back. Idempotent.
    /// </summary>
    /// <param name="sendFin">Whether to send the FIN now (<c>shutdown(SHUT_WR)</c>). The connection's
    /// final close passes <see langword="false"/> when no receive is posted: closing the socket right
    /// after sends the FIN anyway, and the extra system call is part of every short connection.</param>
    public async ValueTask CloseAsync(bool sendFin = true)
    {
        _completed = true;
        if (_closed)
        {
            return;
        }

        // Written before the send queue is looked at, with a full fence: a send that takes a queue from
        // the pool meanwhile either sees this (and closes its queue) or is seen below.
        Volatile.Write(ref _closed, true);
        Interlocked.MemoryBarrier();
        try
        {
            if (_unflushed > 0 && _error is null && !_connection.IsAborted)
            {
                await SendBufferedAsync().ConfigureAwait(false);
            }

            // Messages other tasks queued go out before the FIN: a graceful close loses none of them.
            // A queue given back meanwhile sent all it had; the connection's next one is looked at again.
            while (_error is null && !_connection.IsAborted && _connection.Outbox is { } outbox)
            {
                if (!TryEnterGate())
                {
                    await EnterGateSlowAsync().ConfigureAwait(false);
                }

                // A queue given back while this waited answers false: the loop looks at the next one.
                bool drained;
                try
                {
                    drained = await outbox.TryDrainBeforeCloseAsync(_connection).ConfigureAwait(false);
                }
                finally
                {
                    FreeGate();
                }

                if (drained)
                {
                    break;
                }
            }

            if (sendFin && _error is null && !_connection.IsAborted)
            {
                EpollNative.ShutdownSend(_connection.Handle);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The peer is gone or the connection was aborted meanwhile: nothing left to say.
        }
        finally
        {
            _connection.CloseOutbox();
            ReleaseAll();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> SendBufferedAsync()
    {
        if (!TryEnterGate())
        {
            await EnterGateSlowAsync().ConfigureAwait(false);
        }

        try
        {
            await SendChainAsync(_head!, _tail!).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _error = ex as ConnectionClosedException ?? _connection.TranslateError(ex);
            throw _error;
        }
        finally
        {
            ReleaseAll();
            ExitGateAfterFlush();
        }

        return Result();
    }

    /// <summary>Takes the send gate a drain of the send queue holds: it is handed over after the drain's
    /// batch. A queue given back meanwhile has freed the gate on its way out (or the drain ended just
    /// now): the gate is tried again, spinning politely, as the queue read next may be another's.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask EnterGateSlowAsync()
    {
        var spin = default(SpinWait);
        while (!TryEnterGate())
        {
            if (_connection.Outbox is { } outbox && outbox.TryWaitForGate(_connection, out var handedOver))
            {
                await handedOver.ConfigureAwait(false);
                return;
            }

            spin.SpinOnce();
        }
    }

    /// <summary>Sends the chain <paramref name="head"/> … <paramref name="tail"/> (the handler's blocks or
    /// queued messages) with the connection's engine; the caller holds the gate. Completes when the
    /// kernel took every byte; throws the engine's error.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendChainAsync(BufferSegment head, BufferSegment tail)
    {
        var length = tail.RunningIndex + tail.End - head.RunningIndex;
        var senders = _connection.Context.Poller is null ? _connection.Context.Senders : null;
        var sender = senders?.Rent();
        try
        {
            _connection.BeginSend();
            if (sender is null)
            {
                await SendDirectAsync(head).ConfigureAwait(false);
            }
            else
            {
                await sender.SendAsync(_connection.Socket, new ReadOnlySequence<byte>(head, 0, tail, tail.End)).ConfigureAwait(false);
            }

            _connection.OnSent(length);
        }
        finally
        {
            _connection.EndSend();
            if (sender is not null)
            {
                senders!.Return(sender);
            }
        }
    }

    /// <summary>Whether the writer was closed (the connection is ending gracefully).</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>Takes the send gate if it is free.</summary>
    public bool TryEnterGate() => Interlocked.CompareExchange(ref _sending, 1, 0) == 0;

    /// <summary>Frees the send gate (the send queue does it under its lock).</summary>
    public void FreeGate() => Interlocked.Exchange(ref _sending, 0);

    /// <summary>The handler's flush is done: frees the gate and lets a queue that filled meanwhile
    /// drain. The gate is freed before the queue is looked at, so a message queued while the flush
    /// held it is always seen, by the queue's own attempt at the gate or by this one.</summary>
    private void ExitGateAfterFlush()
    {
        FreeGate();
        while (_connection.Outbox is { } outbox && !outbox.TryAfterFlush(_connection))
        {
        }
    }

    // ---- the epoll engine ----

    /// <summary>Sends every buffered byte with non-blocking <c>sendmsg</c> calls, waiting for room
    /// after each <c>EAGAIN</c>. Completes synchronously when the kernel takes it all at once.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendDirectAsync(BufferSegment? head)
    {
        var offset = 0;
        while (head is not null)
        {
            var sent = EpollNative.Send(_connection.Handle, head, offset, out var errno);
            if (sent >= 0)
            {
                Skip(ref head, ref offset, sent);
                continue;
            }

            if (errno != EpollNative.EAGAIN)
            {
                throw EpollNative.Failure(errno);
            }

            _connection.EnsurePolled(output: true);
            await WaitWritableAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Moves past <paramref name="sent"/> bytes; <paramref name="head"/> ends <see langword="null"/>
    /// when nothing is left.</summary>
    private static void Skip(ref BufferSegment? head, ref int offset, long sent)
    {
        while (head is not null)
        {
            var available = head.End - offset;
            if (sent < available)
            {
                offset += (int)sent;
                return;
            }

            sent -= available;
            head = head.NextSegment;
            offset = 0;
        }
    }

    private ValueTask WaitWritableAsync()
    {
        var wait = _wait ??= new WritableWait(runContinuationsAsynchronously: !_connection.Context.InlineCompletions);
        wait.Reset();
        return PollState.BeginWait(ref _pollState) switch
        {
            PollState.Waiting => new ValueTask(wait, wait.Version),
            PollState.Ready => default, // room appeared since the send: try again
            _ => ValueTask.FromException(new SocketException((int)SocketError.OperationAborted)),
        };
    }

    /// <summary>The poll thread saw room in the socket buffer (or an error).</summary>
    internal void OnPollWritable()
    {
        if (PollState.Signal(ref _pollState))
        {
            _wait!.SetResult();
        }
    }

    /// <summary>The socket was closed: a send waiting for room ends with the closure, on the thread
    /// pool rather than the thread that closed it (a deadline scanner, another connection's handler).</summary>
    internal void OnSocketClosed()
    {
        if (PollState.Close(ref _pollState))
        {
            ThreadPool.UnsafeQueueUserWorkItem(
                static wait => wait.SetException(new SocketException((int)SocketError.OperationAborted)), _wait!, preferLocal: false);
        }
    }

    private FlushResult Result()
    {
        var canceled = _cancelRequested;
        _cancelRequested = false;
        return new FlushResult(canceled, isCompleted: false);
    }

    private void ReleaseAll()
    {
        for (var segment = _head; segment is not null;)
        {
            var next = segment.NextSegment;
            segment.Release();
            segment = next;
        }

        _head = _tail = null;
        _unflushed = 0;
    }
}

/// <summary>What a send waits on when the socket buffer is full (epoll engine): completed by the poll
/// thread's next writable edge, or failed when the socket closes.</summary>
internal sealed class WritableWait(bool runContinuationsAsynchronously) : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _source = new() { RunContinuationsAsynchronously = runContinuationsAsynchronously };

    public short Version => _source.Version;

    public void Reset() => _source.Reset();

    public void SetResult() => _source.SetResult(true);

    public void SetException(Exception error) => _source.SetException(error);

    void IValueTaskSource.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
