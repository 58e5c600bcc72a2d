using System.Buffers;
using Sockeye.Framing.Internal;

namespace Sockeye.Framing;

/// <summary>
/// Every frame has the same size: fixed-size records, sensor samples, game ticks.
/// </summary>
/// <remarks>
/// <code>
///   frameSize 4:   01 02 03 04 05 06 07 08 09
///   frames:        [01 02 03 04] [05 06 07 08]   (09 waits for three more bytes)
/// </code>
/// The frame size is also the maximum frame size. Stateless: one instance can serve any number of
/// connections at once.
/// </remarks>
public sealed class FixedSizeCodec : IFrameCodec
{
    /// <summary>Creates a codec for frames of exactly <paramref name="frameSize"/> bytes.</summary>
    /// <param name="frameSize">The size of every frame, at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frameSize"/> is less than 1.</exception>
    public FixedSizeCodec(int frameSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, 1);
        FrameSize = frameSize;
    }

    /// <summary>The size of every frame, in bytes.</summary>
    public int FrameSize { get; }

    /// <inheritdoc />
    public int MaxFrameSize => FrameSize;

    /// <inheritdoc />
    public bool TryDecode(in ReadOnlySequence<byte> input, out ReadOnlySequence<byte> frame, out SequencePosition consumed)
    {
        if (input.Length < FrameSize)
        {
            frame = default;
            consumed = input.Start;
            return false;
        }

        frame = input.Slice(0, FrameSize);
        consumed = frame.End;
        return true;
    }

    /// <inheritdoc />
    public void Encode(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (frame.Length != FrameSize)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes is not FrameSize {FrameSize}", nameof(frame));
        }

        FrameWriting.Write(frame, output);
    }
}
