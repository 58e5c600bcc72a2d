using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Sockeye.Transport;

namespace Sockeye.Security.Internal;

/// <summary>
/// <see cref="Connection.Input"/> of a TLS connection: a <see cref="PipeReader"/> that reads decrypted
/// bytes from the <see cref="SslStream"/> into pool blocks when the handler asks, and times the
/// handler's reads as on plain TCP.
/// </summary>
/// <remarks>
/// <para>Idle costs nothing: a read with nothing buffered first waits with a zero-byte read, which the
/// <see cref="SslStream"/> passes down to the socket, and a block is rented only once bytes arrived;
/// when the handler has consumed everything, every block goes back to the pool. (The framework's
/// <c>PipeReader.Create(stream)</c> keeps its last block, 4 KiB per idle connection.)</para>
/// <para>The read timeout, read deadline and minimum receive rate judge the handler's read, from its
/// <c>ReadAsync</c> until it consumes bytes. Under TLS that read is timed here, not in the
/// <see cref="SocketReader"/> below: the TLS layer consumes encrypted bytes as soon as they arrive,
/// so timing the socket reads would let a peer that trickles a byte a second restart the clock with
/// each byte.</para>
/// <para>A TLS failure after the handshake (a record that does not decrypt, a bad alert) surfaces as
/// an <see cref="InvalidDataException"/>: the peer broke the protocol, which the server counts as a
/// protocol error, not a handler fault.</para>
/// </remarks>
internal sealed class TlsInputReader(SslStream ssl, SocketConnection transport, PinnedBlockMemoryPool pool, long? maxBuffered) : PipeReader
{
    // The least free space handed to one read; a new block is rented when less remains.
    private const int MinReadSize = 1024;

    private readonly long _maxBuffered = maxBuffered ?? long.MaxValue;

    // Decrypted bytes not yet consumed: from _headStart in _head to the end of _tail.
    private BufferSegment? _head;
    private int _headStart;
    private BufferSegment? _tail;
    private long _buffered;
    private bool _examinedAll = true;
    private bool _ended;
    private bool _resultOut;
    private bool _completed;

    // CancelPendingRead: the flag for a read that has not started, the source for one in progress
    // (created on the first read that waits, reused until it is cancelled).
    private volatile bool _cancelRequested;
    private CancellationTokenSource? _cancel;
    private bool _reading;

    // The read in progress for the timeouts (see the remarks).
    private bool _inRead;
    private bool _trackConsumption;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfUnusable();
        if (!_inRead)
        {
            _inRead = true;
            if (transport.BeginRead(out _trackConsumption) is { } expired)
            {
                return ValueTask.FromException<ReadResult>(expired);
            }
        }

        if (_cancelRequested)
        {
            return new ValueTask<ReadResult>(TakeCanceled());
        }

        if ((_buffered > 0 && !_examinedAll) || _ended)
        {
            return new ValueTask<ReadResult>(TakeResult(canceled: false));
        }

        if (_buffered >= _maxBuffered)
        {
            return ValueTask.FromException<ReadResult>(new InvalidDataException(
                $"connection {transport.Id} read {_buffered} bytes without consuming any and asked for more; MaxReadBufferSize is {_maxBuffered}"));
        }

        return ReadMoreAsync(cancellationToken);
    }

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfUnusable();
        if (_cancelRequested)
        {
            result = TakeCanceled();
            return true;
        }

        if ((_buffered > 0 && !_examinedAll) || _ended)
        {
            if (!_inRead)
            {
                _inRead = true;
                if (transport.BeginRead(out _trackConsumption) is { } expired)
                {
                    throw expired;
                }
            }

            result = TakeResult(canceled: false);
            return true;
        }

        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (!_resultOut)
        {
            throw new InvalidOperationException("AdvanceTo was called without a ReadResult to advance (no ReadAsync or TryRead before it).");
        }

        _resultOut = false;
        var start = _head is null ? 0 : _head.RunningIndex + _headStart;
        var end = _tail is null ? 0 : _tail.RunningIndex + _tail.End;
        var consumedAt = consumed.GetObject() is BufferSegment c ? c.RunningIndex + consumed.GetInteger() : start;
        var examinedAt = examined.GetObject() is BufferSegment e ? e.RunningIndex + examined.GetInteger() : consumedAt;
        if (consumedAt < start || consumedAt > end || examinedAt < consumedAt || examinedAt > end)
        {
            throw new InvalidOperationException("AdvanceTo was given a position outside the buffer of the last read, or examined before consumed.");
        }

        if (consumedAt > start)
        {
            Consume(consumed, consumedAt - start);
        }

        _examinedAll = examinedAt == end;
        if (_inRead && (!_trackConsumption || consumedAt > start))
        {
            _inRead = false;
            transport.EndRead();
        }
    }

    public override void CancelPendingRead()
    {
        _cancelRequested = true;
        if (Volatile.Read(ref _reading))
        {
            try
            {
                Volatile.Read(ref _cancel)?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The reader was completed meanwhile.
            }
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _resultOut = false;
        for (var segment = _head; segment is not null;)
        {
            var next = segment.NextSegment;
            segment.Release();
            segment = next;
        }

        _head = _tail = null;
        _buffered = 0;
        _cancel?.Dispose();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadMoreAsync(CancellationToken cancellationToken)
    {
        var cancel = _cancel;
        if (cancel is null || !cancel.TryReset())
        {
            cancel?.Dispose();
            cancel = new CancellationTokenSource();
            Volatile.Write(ref _cancel, cancel);
        }

        _reading = true;
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, cancel.Token) : null;
        var token = linked?.Token ?? cancel.Token;
        BufferSegment? rented = null;
        try
        {
            if (_cancelRequested)
            {
                return TakeCanceled();
            }

            if (_buffered == 0)
            {
                // Wait for bytes without a buffer: the SslStream passes the zero-byte read down to the socket.
                await ssl.ReadAsync(Memory<byte>.Empty, token).ConfigureAwait(false);
            }

            Memory<byte> space;
            if (_tail is not null && _tail.FreeSpace >= MinReadSize)
            {
                space = _tail.Writable;
            }
            else
            {
                rented = pool.RentBlock();
                space = rented.Writable;
            }

            var read = await ssl.ReadAsync(space, token).ConfigureAwait(false);
            if (read == 0)
            {
                _ended = true;
            }
            else
            {
                if (rented is not null)
                {
                    if (_tail is null)
                    {
                        _head = _tail = rented;
                        _headStart = 0;
                    }
                    else
                    {
                        _tail.Link(rented);
                        _tail = rented;
                    }

                    rented = null;
                }

                _tail!.Commit(read);
                _buffered += read;
                _examinedAll = false;
            }

            return TakeResult(canceled: false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return TakeCanceled();
        }
        catch (Exception ex) when (IsTlsFailure(ex))
        {
            throw new InvalidDataException($"connection {transport.Id}: TLS failed after the handshake: {ex.Message}", ex);
        }
        finally
        {
            _reading = false;
            rented?.Release();
        }
    }

    private ReadResult TakeCanceled()
    {
        _cancelRequested = false;
        return TakeResult(canceled: true);
    }

    private ReadResult TakeResult(bool canceled)
    {
        _resultOut = true;
        var buffer = _head is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_head, _headStart, _tail!, _tail!.End);
        return new ReadResult(buffer, canceled, _ended && !canceled);
    }

    private void Consume(SequencePosition consumed, long count)
    {
        _buffered -= count;
        var segment = (BufferSegment)consumed.GetObject()!;
        while (_head != segment)
        {
            var next = _head!.NextSegment;
            _head.Release();
            _head = next;
        }

        _headStart = consumed.GetInteger();
        if (_buffered == 0)
        {
            // Everything consumed: give the last block back too, so an idle connection holds none.
            _head!.Release();
            _head = _tail = null;
            _headStart = 0;
        }
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

    private static bool IsTlsFailure(Exception ex) =>
        ex is AuthenticationException || (ex is IOException && ex is not ConnectionAbortedException && ex.InnerException is not ConnectionAbortedException);
}
