using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Sockeye.Transport;

/// <summary>
/// <see cref="Connection.Input"/>: a <see cref="PipeReader"/> that receives from the socket only when
/// the handler asks for more bytes. No receive loop, no pipe in between: the bytes the kernel hands
/// over go into pool blocks that the handler reads in place.
/// </summary>
/// <remarks>
/// <para>One reader, two engines, one file each: this file is the <see cref="PipeReader"/> contract,
/// the buffered bytes and the handler's waiting read; <c>SocketReader.Epoll.cs</c> receives with
/// Sockeye's epoll engine (the default on Linux x86-64 and arm64) and <c>SocketReader.Sockets.cs</c>
/// with .NET's socket engine (the portable fallback). A partial class rather than two subclasses:
/// the engine is chosen by one type test on the hot path, with no virtual call and no extra object.</para>
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
/// by <see cref="CancelPendingRead"/> ends at once while the socket wait stays armed, and the next
/// read picks it up.</para>
/// <para>A read, for the timeouts, runs from the handler's first <c>ReadAsync</c> until
/// <c>AdvanceTo</c> consumes bytes, so a codec that examines a partial frame and reads again stays in
/// one read (see <see cref="Connection.ReadTimeout"/>).</para>
/// <para><b>Locking.</b> The state below is guarded by the connection's private monitor
/// (<see cref="SocketConnection.SyncRoot"/>), never by this object or the connection: both are handed
/// to the handler, and a handler that locks either must not be able to stall this connection's I/O
/// or a poll thread. The order is <b>reader → connection → poller</b>: the reader's state is taken
/// first; the connection's epoll registration (<see cref="SocketConnection.EnsurePolled"/>) is taken
/// inside it (the same monitor today, so that step is a re-entry); the poller's slot table lock is
/// taken last and never held while calling back into a connection. Nothing takes them the other way
/// round. The writer has no lock (the handler alone writes; its wait word is lock-free).</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The receiver is disposed by Complete, or by the completion of the receive still posted at that moment.")]
internal sealed partial class SocketReader : PipeReader, IValueTaskSource<ReadResult>
{
    // The least free space handed to one receive; a new block is rented when less remains.
    private const int MinReceiveSize = 2048;

    // The reader's flags, packed into one int (13 bools took 16 bytes on every idle connection;
    // docs/MEMORY.md). Written only under the lock.
    private const int ExaminedAllFlag = 1 << 0;        // the handler has examined every buffered byte
    private const int ResultOutFlag = 1 << 1;          // a ReadResult is out, awaiting AdvanceTo
    private const int CompletedFlag = 1 << 2;          // Complete was called
    private const int PeerClosedFlag = 1 << 3;         // the peer's FIN was received
    private const int CancelRequestedFlag = 1 << 4;    // CancelPendingRead before a read waited
    private const int LastReceiveFilledFlag = 1 << 5;  // the last receive filled its block
    private const int OperationPendingFlag = 1 << 6;   // waiting on the socket (posted receive or armed wait)
    private const int OperationIsDataFlag = 1 << 7;    // that operation is a data receive (.NET's engine)
    private const int WaitingFlag = 1 << 8;            // the handler's read waits
    private const int WaitingOnShutdownFlag = 1 << 9;  // ... with the server's shutdown token
    private const int InReadFlag = 1 << 10;            // a read is in progress for the timeouts
    private const int TrackConsumptionFlag = 1 << 11;  // ... which only consuming ends
    private const int UntimedFlag = 1 << 12;           // reads are timed by a layer on top (TLS)
    private const int DrainedFlag = 1 << 13;           // epoll: the last receive was short, the socket had no more

    // The socket, the pool and the limit are reached through the connection rather than kept here:
    // each field is 8 bytes on every idle connection (docs/MEMORY.md).
    private readonly SocketConnection _connection;

    // .NET's engine: the one socket operation object of this reader; null with the epoll engine.
    private readonly SocketReceiver? _receiver;

    // Received bytes not yet consumed.
    private SegmentChain _chain;

    // A block rented for a data receive that is not yet linked into the chain.
    private BufferSegment? _reserved;

    private Exception? _error;
    private int _flags = ExaminedAllFlag;

    // The epoll engine's wait for the next edge, shared with the poll thread (see PollState).
    private int _pollState;

    // The handler's pending read: the source says how it ended (Delivered or Canceled); the result
    // itself is built when the handler collects it.
    private ManualResetValueTaskSourceCore<bool> _source;
    private CancellationTokenRegistration _registration;

    public SocketReader(SocketConnection connection)
    {
        _connection = connection;
        if (connection.Context.Poller is null)
        {
            _receiver = new SocketReceiver(this);
        }
        else if (connection.Context.InlineCompletions)
        {
            // A new connection starts drained: its first read registers the socket and waits for an
            // edge instead of asking the kernel first. With inline completions the handler starts on the
            // poll thread microseconds after accept, before the client's first bytes in most cases, so
            // that receive would mostly hear EAGAIN (0.32 per short connection); the registration reports
            // bytes already there as an edge at once (epoll_ctl checks readiness when a socket is added),
            // and the handler resumes on the same poll thread, so nothing is handed between threads.
            // Not with the thread pool: a handler started there reads later, when the bytes usually
            // are there, and an edge would cost a hand-off a receive does not.
            _flags |= DrainedFlag;
        }
    }

    /// <summary>Whether the peer's FIN was received (for the close reason).</summary>
    internal bool PeerClosed => (Volatile.Read(ref _flags) & PeerClosedFlag) != 0;

    /// <summary>Whether a receive failed because the peer reset the connection (for the close reason).</summary>
    internal bool PeerReset => Volatile.Read(ref _error) is ConnectionLostException;

    private long MaxBuffered => _connection.Context.MaxReadBufferSize;

    // The connection's private monitor (see the remarks): not this object, which the handler holds.
    private object Sync => _connection.SyncRoot;

    /// <summary>Whether this reader's reads are the handler's reads, timed by the read timeout,
    /// read deadline and minimum rate. A layer on top that does its own timing (TLS) turns it off.</summary>
    internal bool TimesReads
    {
        get => !Has(UntimedFlag);
        set
        {
            lock (Sync)
            {
                Set(UntimedFlag, !value);
            }
        }
    }

    /// <summary>Whether the reader waits on the socket: a posted receive (.NET's engine) or an armed
    /// readiness wait (epoll engine). Also a test probe.</summary>
    internal bool IsReceivePending
    {
        get
        {
            lock (Sync)
            {
                return OperationPending;
            }
        }
    }

    private bool ExaminedAll { get => Has(ExaminedAllFlag); set => Set(ExaminedAllFlag, value); }

    private bool ResultOut { get => Has(ResultOutFlag); set => Set(ResultOutFlag, value); }

    private bool Completed { get => Has(CompletedFlag); set => Set(CompletedFlag, value); }

    private bool PeerClosedLocked { get => Has(PeerClosedFlag); set => Set(PeerClosedFlag, value); }

    private bool CancelRequested { get => Has(CancelRequestedFlag); set => Set(CancelRequestedFlag, value); }

    private bool LastReceiveFilled { get => Has(LastReceiveFilledFlag); set => Set(LastReceiveFilledFlag, value); }

    private bool OperationPending { get => Has(OperationPendingFlag); set => Set(OperationPendingFlag, value); }

    private bool OperationIsData { get => Has(OperationIsDataFlag); set => Set(OperationIsDataFlag, value); }

    private bool Waiting { get => Has(WaitingFlag); set => Set(WaitingFlag, value); }

    private bool WaitingOnShutdown { get => Has(WaitingOnShutdownFlag); set => Set(WaitingOnShutdownFlag, value); }

    private bool InRead { get => Has(InReadFlag); set => Set(InReadFlag, value); }

    private bool TrackConsumption { get => Has(TrackConsumptionFlag); set => Set(TrackConsumptionFlag, value); }

    private bool Drained { get => Has(DrainedFlag); set => Set(DrainedFlag, value); }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ReadResult result;
        lock (Sync)
        {
            ReaderContract.ThrowIfUnusable(Completed, ResultOut);
            if (!InRead)
            {
                var error = BeginRead();
                if (error is not null)
                {
                    return ValueTask.FromException<ReadResult>(error);
                }
            }

            if (CancelRequested)
            {
                CancelRequested = false;
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

            if (!OperationPending)
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
            Waiting = true;
            if (cancellationToken == _connection.ShutdownRequested)
            {
                // The server wakes these itself (WakeForShutdown): no registration per idle read.
                WaitingOnShutdown = true;
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
        lock (Sync)
        {
            ReaderContract.ThrowIfUnusable(Completed, ResultOut);
            if (CancelRequested)
            {
                CancelRequested = false;
                result = TakeResult(canceled: true);
                return StartedRead();
            }

            if (!TryTakeAvailable(out result, out var failure) && failure is null && !OperationPending)
            {
                // Nothing buffered: look at the socket without waiting (a posted receive is left posted).
                Receive();
                TryTakeAvailable(out result, out failure);
            }

            if (failure is not null)
            {
                throw failure;
            }

            return ResultOut && StartedRead();
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        lock (Sync)
        {
            ReaderContract.ThrowIfNothingToAdvance(ResultOut);
            ResultOut = false;

            // Keep the last block when a data receive is writing into its free space.
            var (consumedAny, examinedAll) = _chain.Advance(consumed, examined, keepEmptyTail: DataReceivePending);
            ExaminedAll = examinedAll;
            if (ReaderContract.AdvanceEndsRead(InRead, TrackConsumption, consumedAny))
            {
                InRead = false;
                if (TimesReads)
                {
                    _connection.EndRead();
                }
            }
        }
    }

    public override void CancelPendingRead()
    {
        lock (Sync)
        {
            if (!Waiting)
            {
                CancelRequested = true;
                return;
            }

            StopWaiting();
        }

        _source.SetResult(false);
    }

    /// <summary>Ends a read that waits with the server's shutdown token, now that it has fired.</summary>
    internal void WakeForShutdown()
    {
        lock (Sync)
        {
            if (!Waiting || !WaitingOnShutdown)
            {
                return;
            }

            StopWaiting();
        }

        _source.SetException(new OperationCanceledException(_connection.ShutdownRequested));
    }

    public override void Complete(Exception? exception = null)
    {
        lock (Sync)
        {
            if (Completed)
            {
                return;
            }

            Completed = true;
            ResultOut = false;
            ReleaseAll();
            if (!OperationPending)
            {
                _receiver?.Dispose();
            }
        }
    }

    // ---- receiving: shared by both engines ----

    /// <summary>Receives until an outcome (bytes, FIN, error) is recorded or the reader waits on the
    /// socket (<see cref="OperationPending"/>), with the connection's engine.</summary>
    private void Receive()
    {
        if (_receiver is null)
        {
            ReceiveDirect();
        }
        else
        {
            ReceivePosted(_receiver);
        }
    }

    /// <summary>Records <paramref name="received"/> bytes received into the reserved space (0: the FIN).</summary>
    private void RecordReceived(int received)
    {
        if (received == 0)
        {
            PeerClosedLocked = true;
            ReleaseReserved();
            _connection.OnReceiveEnded();
            return;
        }

        if (Completed)
        {
            ReleaseReserved();
            return;
        }

        _chain.Append(_reserved, received);
        _reserved = null;
        ExaminedAll = false;
        LastReceiveFilled = _chain.TailIsFull;
        _connection.OnReceived(received);
    }

    private void RecordFailure(Exception ex)
    {
        OperationIsData = false;
        _error ??= _connection.TranslateError(ex);
        ReleaseReserved();
        _connection.OnReceiveEnded();
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

    // Whether a data receive is writing into the chain's last block (which must then stay).
    private bool DataReceivePending => OperationPending && OperationIsData && _reserved is null;

    // ---- the handler's waiting read ----

    /// <summary>Under the lock, after a receive: whether the waiting read ends now (with bytes, the
    /// end of the stream or <paramref name="failure"/>). When so, the caller wakes it with
    /// <see cref="Wake"/> once the lock is released.</summary>
    private bool TryEndWait(out Exception? failure)
    {
        failure = null;
        if (OperationPending || !Waiting || !CanDeliver(out failure))
        {
            return false;
        }

        StopWaiting();
        return true;
    }

    /// <summary>Outside the lock: completes the read <see cref="TryEndWait"/> ended.</summary>
    private void Wake(Exception? failure)
    {
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
        lock (Sync)
        {
            if (!Waiting)
            {
                return;
            }

            StopWaiting();
        }

        _source.SetException(new OperationCanceledException(token));
    }

    // ---- results ----

    /// <summary>Hands out what is there: unexamined bytes, or the end of the stream. A failure is
    /// returned once the buffered bytes have been read.</summary>
    private bool TryTakeAvailable(out ReadResult result, out Exception? failure)
    {
        failure = null;
        if (_chain.Length > 0 && !ExaminedAll)
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

        if (PeerClosedLocked)
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
        ResultOut = true;
        return new ReadResult(_chain.Buffer, canceled, PeerClosedLocked && !canceled);
    }

    /// <summary>Whether a waiting read can end now: with bytes, the end of the stream, or a failure.</summary>
    private bool CanDeliver(out Exception? failure)
    {
        failure = null;
        if ((_chain.Length > 0 && !ExaminedAll) || PeerClosedLocked)
        {
            return true;
        }

        failure = _error ?? (_chain.Length >= MaxBuffered ? TooMuchBuffered() : null);
        return failure is not null;
    }

    private void StopWaiting()
    {
        Waiting = false;
        WaitingOnShutdown = false;
        _registration.Unregister();
        _registration = default;
    }

    private InvalidDataException TooMuchBuffered() => ReaderContract.TooMuchBuffered(_connection.Id, _chain.Length, MaxBuffered);

    private bool StartedRead()
    {
        if (!InRead && BeginRead() is { } error)
        {
            ResultOut = false;
            throw error;
        }

        return true;
    }

    private Exception? BeginRead()
    {
        InRead = true;
        if (!TimesReads)
        {
            TrackConsumption = false;
            return null;
        }

        var error = _connection.BeginRead(out var trackConsumption);
        TrackConsumption = trackConsumption;
        return error;
    }

    // ---- memory ----

    private void ReleaseAll()
    {
        _chain.ReleaseAll(keepTail: DataReceivePending);
        if (!OperationPending)
        {
            ReleaseReserved();
        }
    }

    private void ReleaseReserved()
    {
        _reserved?.Release();
        _reserved = null;
    }

    private bool Has(int flag) => (_flags & flag) != 0;

    private void Set(int flag, bool on) => _flags = on ? _flags | flag : _flags & ~flag;

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        var delivered = _source.GetResult(token);
        lock (Sync)
        {
            return TakeResult(canceled: !delivered);
        }
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
