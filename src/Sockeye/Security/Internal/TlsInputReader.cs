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
internal sealed class TlsInputReader(SslStream ssl, SocketConnection transport, PinnedBlockMemoryPool pool, long? maxBuffered, Func<long, bool>? trimIdle = null) : PipeReader
{
    // The least free space handed to one read; a new block is rented when less remains.
    private const int MinReadSize = 1024;

    private readonly long _maxBuffered = maxBuffered ?? long.MaxValue;

    // Decrypted bytes not yet consumed.
    private SegmentChain _chain;
    private bool _examinedAll = true;
    private bool _ended;
    private bool _resultOut;
    private bool _completed;

    // CancelPendingRead: the flag for a read that has not started, the source for one in progress
    // (created on the first read that waits, reused until it is cancelled).
    private volatile bool _cancelRequested;
    private CancellationTokenSource? _cancel;
    private bool _reading;

    // Decrypted bytes read since trimIdle last trimmed.
    private long _readSinceTrim;

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

        if ((_chain.Length > 0 && !_examinedAll) || _ended)
        {
            return new ValueTask<ReadResult>(TakeResult(canceled: false));
        }

        if (_chain.Length >= _maxBuffered)
        {
            return ValueTask.FromException<ReadResult>(ReaderContract.TooMuchBuffered(transport.Id, _chain.Length, _maxBuffered));
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

        if ((_chain.Length > 0 && !_examinedAll) || _ended)
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
        ReaderContract.ThrowIfNothingToAdvance(_resultOut);
        _resultOut = false;
        var (consumedAny, examinedAll) = _chain.Advance(consumed, examined, keepEmptyTail: false);
        _examinedAll = examinedAll;
        if (ReaderContract.AdvanceEndsRead(_inRead, _trackConsumption, consumedAny))
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
        _chain.ReleaseAll(keepTail: false);
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

            if (_chain.Length == 0)
            {
                // About to wait with nothing buffered and outside the SslStream: the moment to give back
                // what a large message grew (TlsConnection.TrimIdleBuffers).
                if (trimIdle is not null && trimIdle(_readSinceTrim))
                {
                    _readSinceTrim = 0;
                }

                // Wait for bytes without a buffer: the SslStream passes the zero-byte read down to the socket.
                await ssl.ReadAsync(Memory<byte>.Empty, token).ConfigureAwait(false);
            }

            var space = _chain.TailSpace(MinReadSize);
            if (space.IsEmpty)
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
                _chain.Append(rented, read);
                _readSinceTrim += read;
                rented = null;
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
        return new ReadResult(_chain.Buffer, canceled, _ended && !canceled);
    }

    private void ThrowIfUnusable() => ReaderContract.ThrowIfUnusable(_completed, _resultOut);

    private static bool IsTlsFailure(Exception ex) =>
        ex is AuthenticationException || (ex is IOException && ex is not ConnectionClosedException && ex.InnerException is not ConnectionClosedException);
}
