using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Sockeye.Framing.Internal;

/// <summary>How a <see cref="FrameReader"/> read ended.</summary>
internal enum FrameReadStatus
{
    /// <summary>A frame was decoded: see <see cref="FrameReader.Frame"/>.</summary>
    Frame,

    /// <summary>The peer closed the connection between two frames.</summary>
    End,

    /// <summary>A pending read was cancelled (<see cref="PipeReader.CancelPendingRead"/>).</summary>
    Canceled,
}

/// <summary>
/// Reads frames from one connection's input pipe and keeps every frame it hands out valid until the
/// next read, one per connection.
/// </summary>
/// <remarks>
/// <para><b>Zero-copy mode.</b> Frames are slices of the pipe's own buffer. The pipe is not advanced past
/// a frame when it is handed out, only at the next read, so the frame's memory stays put until then;
/// frames that arrived together are decoded from the same pipe read without going back to the pipe.</para>
/// <para><b>Copy mode.</b> A pipe stops its writer once a set amount is unconsumed (1 MiB in
/// <see cref="TcpServer"/>), so a frame larger than that could never arrive whole. When
/// <see cref="CopyThreshold"/> bytes are buffered without a complete frame, the reader moves them into
/// pooled arrays, consumes them from the pipe, and keeps appending until the frame is complete; it
/// returns to zero-copy mode once every copied byte has been handed out. Memory still grows only with
/// the bytes that arrived, and the decoder's limit still applies.</para>
/// </remarks>
internal sealed class FrameReader : IDisposable
{
    /// <summary>Buffered bytes without a complete frame that switch the reader to copy mode: a quarter
    /// of the server's 1 MiB input pause threshold, so the switch happens well before the pipe stops.</summary>
    public const int DefaultCopyThreshold = 256 * 1024;

    private readonly PipeReader _input;

    // Zero-copy mode: the last pipe read minus the frames handed out from it. The pipe is not advanced
    // while _holding, which is what keeps handed-out frames valid.
    private ReadOnlySequence<byte> _held;
    private bool _holding;

    // The pipe read behind the bytes we hold saw the end of the stream, or a cancellation.
    private bool _inputCompleted;
    private bool _canceled;

    private PooledSequence? _copy;

    public FrameReader(PipeReader input, Connection? owner = null, int copyThreshold = DefaultCopyThreshold)
    {
        _input = input;
        _owner = owner;
        CopyThreshold = copyThreshold;
    }

    // The connection whose frames these are, told of each one for the server's frame count.
    private readonly Connection? _owner;

    /// <summary>See <see cref="DefaultCopyThreshold"/>.</summary>
    public int CopyThreshold { get; }

    /// <summary>The frame decoded by the last successful read; valid until the next read.</summary>
    public ReadOnlySequence<byte> Frame { get; private set; }

    /// <summary>Whether the reader is in copy mode (a test figure).</summary>
    public bool IsCopying => _copy is not null;

    /// <summary>Decodes a frame from bytes already received, without waiting.</summary>
    public bool TryReadBuffered(IFrameDecoder decoder, out ReadOnlySequence<byte> frame)
    {
        SequencePosition consumed;
        if (_copy is not null)
        {
            // A new read: frames handed out before are no longer in use.
            _copy.ReleaseConsumed();
            var rest = _copy.Unconsumed;
            if (!rest.IsEmpty)
            {
                if (decoder.TryDecode(rest, out frame, out consumed))
                {
                    _copy.Consume(consumed);
                    _owner?.OnFrameDecoded();
                    return true;
                }

                return false;
            }

            _copy.Dispose();
            _copy = null;
        }

        if (!_holding)
        {
            if (!_input.TryRead(out var result))
            {
                frame = default;
                return false;
            }

            Hold(result);
        }

        if (decoder.TryDecode(_held, out frame, out consumed))
        {
            _held = _held.Slice(consumed);
            _owner?.OnFrameDecoded();
            return true;
        }

        return false;
    }

    /// <summary>Reads the next frame, waiting for bytes as needed.</summary>
    /// <exception cref="InvalidDataException">The decoder refused the bytes, or the peer closed the
    /// connection in the middle of a frame.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<FrameReadStatus> ReadAsync(IFrameDecoder decoder, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryReadBuffered(decoder, out var frame))
            {
                Frame = frame;
                return FrameReadStatus.Frame;
            }

            if (_inputCompleted)
            {
                var left = _copy?.Unconsumed.Length ?? _held.Length;
                if (left > 0)
                {
                    throw new InvalidDataException($"the peer closed the connection in the middle of a frame ({left} bytes of it had arrived)");
                }

                return FrameReadStatus.End;
            }

            if (_canceled)
            {
                _canceled = false;
                return FrameReadStatus.Canceled;
            }

            if (_holding)
            {
                // The decoder has seen every byte we hold: wait for more.
                if (_held.Length >= CopyThreshold)
                {
                    _copy = new PooledSequence();
                    _copy.Append(_held);
                    _input.AdvanceTo(_held.End);
                }
                else
                {
                    _input.AdvanceTo(_held.Start, _held.End);
                }

                _holding = false;
            }

            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (_copy is not null)
            {
                _copy.Append(result.Buffer);
                _input.AdvanceTo(result.Buffer.End);
                _inputCompleted = result.IsCompleted;
                _canceled = result.IsCanceled;
            }
            else
            {
                Hold(result);
            }
        }
    }

    /// <summary>Drops every byte held and reads and drops what arrives until the peer closes its side
    /// (or <paramref name="cancellationToken"/> fires): the rest of a rejected frame, read so that the
    /// close is not a reset. Frames handed out before are invalid afterwards.</summary>
    public async Task DiscardAsync(CancellationToken cancellationToken)
    {
        _copy?.Dispose();
        _copy = null;
        if (_holding)
        {
            _input.AdvanceTo(_held.End);
            _holding = false;
        }

        _held = default;
        Frame = default;
        while (!_inputCompleted)
        {
            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            _input.AdvanceTo(result.Buffer.End);
            _inputCompleted = result.IsCompleted;
            if (result.IsCanceled)
            {
                // CancelPendingRead from the shutdown: stop lingering, the drain is under way.
                return;
            }
        }
    }

    /// <summary>Gives copy-mode memory back to the pool; called when the connection ends.</summary>
    public void Dispose()
    {
        _copy?.Dispose();
        _copy = null;
    }

    private void Hold(in ReadResult result)
    {
        _held = result.Buffer;
        _holding = true;
        _inputCompleted = result.IsCompleted;
        _canceled |= result.IsCanceled;
    }
}
