using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// <see cref="Connection.Input"/>: a <see cref="PipeReader"/> that receives from the socket only when
/// the handler asks for more bytes. No receive loop, no pipe in between: the bytes the kernel hands
/// over go into pool blocks that the handler reads in place.
/// </summary>
/// <remarks>
/// <para>An idle connection holds no buffer. With the epoll engine a read that needs bytes rents a
/// block and calls <c>recv</c> without blocking; on <c>EAGAIN</c> it gives the block back and waits
/// for the socket's next readiness edge (<see cref="Epoll.Poller"/>). With .NET's engine it first
/// waits with a zero-byte receive, and only when the kernel says bytes are there is a block rented
/// and filled. Either way a receive that filled its block goes straight to the next receive, since
/// more bytes are likely waiting.</para>
/// <para>Back-pressure is TCP's own: while the handler is not reading, nothing is received, the
/// kernel buffer fills and the peer's window closes. A handler that has examined
/// <see cref="TcpServerOptions.MaxReadBufferSize"/> bytes without consuming any and asks for more gets
/// an <see cref="InvalidDataException"/> naming the limit (a frame too large for this server).</para>
/// <para>The socket operation and the handler's read are separate: a read cancelled by its token or
/// by <see cref="CancelPendingRead"/> ends at once while the zero-byte receive stays posted, and the
/// next read picks it up. State is guarded by a lock on this object: the socket's completions and
/// cancellations arrive on other threads than the handler's.</para>
/// <para>A read, for the timeouts, runs from the handler's first <c>ReadAsync</c> until
/// <c>AdvanceTo</c> consumes bytes, so a codec that examines a partial frame and reads again stays in
/// one read (see <see cref="Connection.ReadTimeout"/>).</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The receiver is disposed by Complete, or by the completion of the receive still posted at that moment.")]
internal sealed class SocketReader : PipeReader, IValueTaskSource<ReadResult>, IThreadPoolWorkItem
{
    // The least free space handed to one receive; a new block is rented when less remains.
    private const int MinReceiveSize = 2048;

    // The socket, the pool and the limit are reached through the connection rather than kept here:
    // each field is 8 bytes on every idle connection (docs/MEMORY.md).
    private readonly SocketConnection _connection;

    // Received bytes not yet consumed.
    private SegmentChain _chain;

    // A block rented for a data receive that is not yet linked into the chain.
    private BufferSegment? _reserved;

    private bool _examinedAll = true;
    private bool _resultOut;
    private bool _completed;
    private bool _peerClosed;
    private Exception? _error;
    private bool _cancelRequested;
    private bool _lastReceiveFilled;

    // The socket operation in flight, if any, and whether it is a data receive (or a zero-byte wait).
    // With the epoll engine there is no receiver: "pending" then means waiting for the next edge,
    // and _pollState is that wait's state shared with the poll thread (see PollState).
    private readonly SocketReceiver? _receiver;
    private bool _operationPending;
    private bool _operationIsData;
    private int _pollState;

    // The handler's pending read: the source says how it ended (Delivered or Canceled); the result
    // itself is built when the handler collects it.
    private ManualResetValueTaskSourceCore<bool> _source;
    private bool _waiting;
    private bool _waitingOnShutdown;
    private CancellationTokenRegistration _registration;

    // The read in progress for the timeouts: started, and whether only consuming (not a look) ends it.
    private bool _inRead;
    private bool _trackConsumption;

    public SocketReader(SocketConnection connection)
    {
        _connection = connection;
        if (connection.Context.Poller is null)
        {
            _receiver = new SocketReceiver(this);
        }
    }

    /// <summary>Whether the peer's FIN was received (for the close reason).</summary>
    internal bool PeerClosed => Volatile.Read(ref _peerClosed);

    /// <summary>Whether a receive failed because the peer reset the connection (for the close reason).</summary>
    internal bool PeerReset => Volatile.Read(ref _error) is ConnectionResetException;

    private long MaxBuffered => _connection.Context.MaxReadBufferSize;

    /// <summary>Whether this reader's reads are the handler's reads, timed by the read timeout,
    /// read deadline and minimum rate. A layer on top that does its own timing (TLS) turns it off.</summary>
    internal bool TimesReads { get; set; } = true;

    /// <summary>Whether the reader waits on the socket: a posted receive (.NET's engine) or an armed
    /// readiness wait (epoll engine). Also a test probe.</summary>
    internal bool IsReceivePending
    {
        get
        {
            lock (this)
            {
                return _operationPending;
            }
        }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ReadResult result;
        lock (this)
        {
            ThrowIfUnusable();
            if (!_inRead)
            {
                var error = BeginRead();
                if (error is not null)
                {
                    return ValueTask.FromException<ReadResult>(error);
                }
            }

            if (_cancelRequested)
            {
                _cancelRequested = false;
                return new ValueTask<ReadResult>(TakeResult(canceled: true));
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<ReadResult>(cancellationToken);
            }

            if (TryTakeAvailable(out result, out var failure))
            {
                return new ValueTask<ReadResult>(result);
            }

            if (failure is not null)
            {
                return ValueTask.FromException<ReadResult>(failure);
            }

            if (!_operationPending)
            {
                Receive();
                if (TryTakeAvailable(out result, out failure))
                {
                    return new ValueTask<ReadResult>(result);
                }

                if (failure is not null)
                {
                    return ValueTask.FromException<ReadResult>(failure);
                }
            }

            _source.Reset();
            _waiting = true;
            if (cancellationToken == _connection.ShutdownRequested)
            {
                // The server wakes these itself (WakeForShutdown): no registration per idle read.
                _waitingOnShutdown = true;
            }
            else if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.UnsafeRegister(static (s, token) => ((SocketReader)s!).OnReadCanceled(token), this);
            }

            return new ValueTask<ReadResult>(this, _source.Version);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        lock (this)
        {
            ThrowIfUnusable();
            if (_cancelRequested)
            {
                _cancelRequested = false;
                result = TakeResult(canceled: true);
                return StartedRead();
            }

            if (!TryTakeAvailable(out result, out var failure) && failure is null && !_operationPending)
            {
                // Nothing buffered: look at the socket without waiting (a posted receive is left posted).
                Receive();
                TryTakeAvailable(out result, out failure);
            }

            if (failure is not null)
            {
                throw failure;
            }

            return _resultOut && StartedRead();
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        lock (this)
        {
            if (!_resultOut)
            {
                throw new InvalidOperationException("AdvanceTo was called without a ReadResult to advance (no ReadAsync or TryRead before it).");
            }

            _resultOut = false;

            // Keep the last block when a data receive is writing into its free space.
            var (consumedAny, examinedAll) = _chain.Advance(consumed, examined, keepEmptyTail: _operationPending && _operationIsData && _reserved is null);
            _examinedAll = examinedAll;
            if (_inRead && (!_trackConsumption || consumedAny))
            {
                _inRead = false;
                if (TimesReads)
                {
                    _connection.EndRead();
                }
            }
        }
    }

    public override void CancelPendingRead()
    {
        lock (this)
        {
            if (!_waiting)
            {
                _cancelRequested = true;
                return;
            }

            StopWaiting();
        }

        _source.SetResult(false);
    }

    /// <summary>Ends a read that waits with the server's shutdown token, now that it has fired.</summary>
    internal void WakeForShutdown()
    {
        lock (this)
        {
            if (!_waiting || !_waitingOnShutdown)
            {
                return;
            }

            StopWaiting();
        }

        _source.SetException(new OperationCanceledException(_connection.ShutdownRequested));
    }

    public override void Complete(Exception? exception = null)
    {
        lock (this)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _resultOut = false;
            ReleaseAll();
            if (!_operationPending)
            {
                _receiver?.Dispose();
            }
        }
    }

    // ---- socket receives ----

    /// <summary>Posts receives until one is pending or an outcome (bytes, FIN, error) is recorded.</summary>
    private void Receive()
    {
        if (_receiver is null)
        {
            ReceiveDirect();
            return;
        }

        while (true)
        {
            bool pending;
            try
            {
                // After a receive that filled its block more bytes are likely waiting: go straight to
                // the data receive, but only if the kernel has some, or the block would sit under a
                // posted receive while the peer idles (seen once in 20 idle TLS connections).
                if (_operationIsData || (_lastReceiveFilled && !NothingAvailable()))
                {
                    _operationIsData = true;
                    _receiver.SetBuffer(ReserveSpace());
                }
                else
                {
                    _receiver.SetBuffer(Memory<byte>.Empty);
                }

                pending = _connection.Socket.ReceiveAsync(_receiver);
            }
            catch (Exception ex)
            {
                RecordFailure(ex);
                return;
            }

            if (pending)
            {
                _operationPending = true;
                return;
            }

            if (Record(inline: true))
            {
                return;
            }
        }
    }

    /// <summary>Records the outcome of the receive that just finished; <see langword="false"/> when
    /// it was the zero-byte wait and the data receive comes next.</summary>
    private bool Record(bool inline)
    {
        if (_receiver!.SocketError != SocketError.Success)
        {
            RecordFailure(new SocketException((int)_receiver.SocketError));
            return true;
        }

        if (!_operationIsData)
        {
            // On Linux a zero-byte receive can complete on a stale readiness event: bytes that an earlier
            // receive already took (several packets, one edge). Renting a block for that would leave it
            // under a posted receive while the connection idles, so a wake-up from epoll that finds
            // nothing to read waits again. A FIN also shows nothing available, but its zero-byte
            // receive then completes inline, and goes on to the data receive that reads it.
            if (!inline && NothingAvailable())
            {
                return false;
            }

            _operationIsData = true; // bytes (or the FIN) are waiting
            return false;
        }

        var received = _receiver!.BytesTransferred;
        _operationIsData = false;
        _receiver.SetBuffer(Memory<byte>.Empty); // keep no reference to a block between receives
        RecordReceived(received);
        return true;
    }

    /// <summary>Records <paramref name="received"/> bytes received into the reserved space (0: the FIN).</summary>
    private void RecordReceived(int received)
    {
        if (received == 0)
        {
            _peerClosed = true;
            ReleaseReserved();
            _connection.OnReceiveEnded();
            return;
        }

        if (_completed)
        {
            ReleaseReserved();
            return;
        }

        _chain.Append(_reserved, received);
        _reserved = null;
        _examinedAll = false;
        _lastReceiveFilled = _chain.TailIsFull;
        _connection.OnReceived(received);
    }

    // ---- the epoll engine ----

    /// <summary>Receives without blocking until bytes, the FIN or an error are recorded, or the
    /// kernel has nothing and the reader waits for the next edge (<see cref="_operationPending"/>).</summary>
    private void ReceiveDirect()
    {
        while (true)
        {
            int received;
            int errno;
            try
            {
                received = EpollNative.Receive(_connection.Socket.SafeHandle, ReserveSpace().Span, out errno);
            }
            catch (Exception ex)
            {
                RecordFailure(ex); // ObjectDisposedException: the socket was closed
                return;
            }

            if (received >= 0)
            {
                RecordReceived(received);
                return;
            }

            if (errno != EpollNative.EAGAIN)
            {
                RecordFailure(EpollNative.Failure(errno));
                return;
            }

            // Nothing there: hold no block while waiting.
            ReleaseReserved();
            try
            {
                _connection.EnsurePolled(output: false);
            }
            catch (Exception ex)
            {
                RecordFailure(ex);
                return;
            }

            switch (PollState.BeginWait(ref _pollState))
            {
                case PollState.Waiting:
                    _operationPending = true;
                    return;
                case PollState.Ready:
                    continue; // an edge arrived since the receive: look again
                default:
                    RecordFailure(new SocketException((int)SocketError.OperationAborted));
                    return;
            }
        }
    }

    /// <summary>The poll thread saw the socket readable (or the peer's FIN, or an error).</summary>
    internal void OnPollReadable()
    {
        if (!PollState.Signal(ref _pollState))
        {
            return; // nobody waits: the next receive will find the bytes
        }

        if (_connection.Context.InlineCompletions)
        {
            OnReadyToReceive();
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>The socket was closed: a wait in progress ends (on the pool, not the closing thread).</summary>
    internal void OnSocketClosed()
    {
        if (PollState.Close(ref _pollState))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute() => OnReadyToReceive();

    /// <summary>The wait ended: receive, and hand the outcome to a waiting read.</summary>
    private void OnReadyToReceive()
    {
        Exception? failure = null;
        lock (this)
        {
            _operationPending = false;
            if (_completed)
            {
                return;
            }

            ReceiveDirect();
            if (_operationPending || !_waiting || !CanDeliver(out failure))
            {
                return;
            }

            StopWaiting();
        }

        if (failure is not null)
        {
            _source.SetException(failure);
        }
        else
        {
            _source.SetResult(true);
        }
    }

    private void RecordFailure(Exception ex)
    {
        _operationIsData = false;
        _error ??= _connection.TranslateError(ex);
        ReleaseReserved();
        _connection.OnReceiveEnded();
    }

    /// <summary>The posted receive finished (called by <see cref="SocketReceiver"/>).</summary>
    internal void OnOperationCompleted()
    {
        Exception? failure = null;
        lock (this)
        {
            _operationPending = false;
            var recorded = Record(inline: false);
            if (_completed)
            {
                // The handler is gone: no more receives, and the receiver is no longer needed.
                ReleaseReserved();
                _receiver!.Dispose();
                return;
            }

            if (!recorded)
            {
                Receive();
                if (_operationPending)
                {
                    return;
                }
            }

            if (!_waiting || !CanDeliver(out failure))
            {
                return;
            }

            StopWaiting();
        }

        if (failure is not null)
        {
            _source.SetException(failure);
        }
        else
        {
            _source.SetResult(true);
        }
    }

    private void OnReadCanceled(CancellationToken token)
    {
        lock (this)
        {
            if (!_waiting)
            {
                return;
            }

            StopWaiting();
        }

        _source.SetException(new OperationCanceledException(token));
    }

    private bool NothingAvailable()
    {
        try
        {
            return _connection.Socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false; // the data receive will report the failure
        }
    }

    /// <summary>Free space for the next data receive: the tail's, or a block rented for it.</summary>
    private Memory<byte> ReserveSpace()
    {
        var space = _chain.TailSpace(MinReceiveSize);
        if (!space.IsEmpty)
        {
            return space;
        }

        _reserved ??= _connection.Context.Pool.RentBlock();
        return _reserved.Writable;
    }

    // ---- results ----

    /// <summary>Hands out what is there: unexamined bytes, or the end of the stream. A failure is
    /// returned once the buffered bytes have been read.</summary>
    private bool TryTakeAvailable(out ReadResult result, out Exception? failure)
    {
        failure = null;
        if (_chain.Length > 0 && !_examinedAll)
        {
            result = TakeResult(canceled: false);
            return true;
        }

        if (_error is not null)
        {
            result = default;
            failure = _error;
            return false;
        }

        if (_peerClosed)
        {
            result = TakeResult(canceled: false);
            return true;
        }

        if (_chain.Length >= MaxBuffered)
        {
            result = default;
            failure = TooMuchBuffered();
            return false;
        }

        result = default;
        return false;
    }

    private ReadResult TakeResult(bool canceled)
    {
        _resultOut = true;
        return new ReadResult(_chain.Buffer, canceled, _peerClosed && !canceled);
    }

    /// <summary>Whether a waiting read can end now: with bytes, the end of the stream, or a failure.</summary>
    private bool CanDeliver(out Exception? failure)
    {
        failure = null;
        if ((_chain.Length > 0 && !_examinedAll) || _peerClosed)
        {
            return true;
        }

        failure = _error ?? (_chain.Length >= MaxBuffered ? TooMuchBuffered() : null);
        return failure is not null;
    }

    private void StopWaiting()
    {
        _waiting = false;
        _waitingOnShutdown = false;
        _registration.Unregister();
        _registration = default;
    }

    private InvalidDataException TooMuchBuffered() =>
        new($"connection {_connection.Id} read {_chain.Length} bytes without consuming any and asked for more; MaxReadBufferSize is {MaxBuffered}");

    private bool StartedRead()
    {
        if (!_inRead && BeginRead() is { } error)
        {
            _resultOut = false;
            throw error;
        }

        return true;
    }

    private Exception? BeginRead()
    {
        _inRead = true;
        if (!TimesReads)
        {
            _trackConsumption = false;
            return null;
        }

        return _connection.BeginRead(out _trackConsumption);
    }

    // ---- memory ----

    private void ReleaseAll()
    {
        _chain.ReleaseAll(keepTail: _operationPending && _operationIsData && _reserved is null);
        if (!_operationPending)
        {
            ReleaseReserved();
        }
    }

    private void ReleaseReserved()
    {
        _reserved?.Release();
        _reserved = null;
    }

    private void ThrowIfUnusable()
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }

        if (_resultOut)
        {
            throw new InvalidOperationException("ReadAsync or TryRead was called again before AdvanceTo released the previous result.");
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        var delivered = _source.GetResult(token);
        lock (this)
        {
            return TakeResult(canceled: !delivered);
        }
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// The reader's one socket operation object, reused for every zero-byte wait and data receive of the
/// connection. Owning it (rather than calling <c>Socket.ReceiveAsync(Memory)</c>) lets its completion
/// call the reader directly, with no delegate and no awaiter per connection.
/// </summary>
internal sealed class SocketReceiver(SocketReader reader) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
{
    protected override void OnCompleted(SocketAsyncEventArgs e) => reader.OnOperationCompleted();
}
