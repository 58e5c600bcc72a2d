using System.Buffers;
using Sockeye.Framing.Internal;

namespace Sockeye.Framing;

/// <summary>
/// Frames end with a fixed byte sequence of one or more bytes: <c>\0</c>-terminated messages (STOMP),
/// <c>\r\n\r\n</c>-ended headers, or any application-chosen separator.
/// </summary>
/// <remarks>
/// <code>
///   delimiter "||":   a b c | | | | x y | |
///   frames:           "abc"     ""    "xy"
/// </code>
/// <para>The delimiter is never part of the frame; an empty frame (two delimiters in a row) is a frame.
/// A frame longer than <see cref="MaxFrameSize"/> is refused as soon as that many bytes have arrived
/// without a delimiter. The encoder writes the frame and the delimiter, and refuses a frame that
/// contains the delimiter or would form one with it.</para>
/// <para>Remembers how far it has searched a partial frame: one instance per connection. Not
/// thread-safe.</para>
/// </remarks>
public sealed class DelimiterCodec : IFrameCodec
{
    /// <summary>The longest delimiter accepted, in bytes.</summary>
    public const int MaxDelimiterLength = 128;

    private readonly byte[] _delimiter;
    private readonly long _window;
    private DelimiterSearch _search;

    /// <summary>Creates a codec for frames ended by <paramref name="delimiter"/>.</summary>
    /// <param name="delimiter">The separator, 1 to <see cref="MaxDelimiterLength"/> bytes.</param>
    /// <param name="maxFrameSize">The largest frame accepted, in bytes, without the delimiter. Required:
    /// there is no safe default for how much a peer may make the server buffer.</param>
    /// <exception cref="ArgumentException">The delimiter is empty or too long, or
    /// <paramref name="maxFrameSize"/> is less than 1.</exception>
    public DelimiterCodec(ReadOnlySpan<byte> delimiter, int maxFrameSize)
    {
        if (delimiter.IsEmpty || delimiter.Length > MaxDelimiterLength)
        {
            throw new ArgumentException($"the delimiter must be 1 to {MaxDelimiterLength} bytes, got {delimiter.Length}", nameof(delimiter));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameSize, 1);
        _delimiter = delimiter.ToArray();
        MaxFrameSize = maxFrameSize;
        _window = (long)maxFrameSize + delimiter.Length;
    }

    /// <inheritdoc />
    public int MaxFrameSize { get; }

    /// <summary>The bytes that end every frame.</summary>
    public ReadOnlyMemory<byte> Delimiter => _delimiter;

    /// <inheritdoc />
    public bool TryDecode(in ReadOnlySequence<byte> input, out ReadOnlySequence<byte> frame, out SequencePosition consumed)
    {
        var index = _search.IndexOf(input, _delimiter, _window, out var windowFull);
        if (index < 0)
        {
            if (windowFull)
            {
                throw new FrameTooLargeException((long)MaxFrameSize + 1, MaxFrameSize, isLowerBound: true);
            }

            frame = default;
            consumed = input.Start;
            return false;
        }

        // Within the window, so at most MaxFrameSize bytes precede the delimiter.
        frame = input.Slice(0, index);
        consumed = input.GetPosition(index + _delimiter.Length);
        return true;
    }

    /// <inheritdoc />
    public void Encode(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (frame.Length > MaxFrameSize)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes exceeds MaxFrameSize {MaxFrameSize}", nameof(frame));
        }

        if (!EndsOnlyAtDelimiter(frame))
        {
            throw new ArgumentException("the frame contains the delimiter, or forms it with the delimiter that follows", nameof(frame));
        }

        FrameWriting.Write(frame, output);
        output.Write(_delimiter);
    }

    /// <summary>Whether the first delimiter in <c>frame + delimiter</c> is the one appended.</summary>
    private bool EndsOnlyAtDelimiter(in ReadOnlySequence<byte> frame)
    {
        var d = _delimiter.Length;
        if (frame.IsSingleSegment ? frame.FirstSpan.IndexOf(_delimiter) >= 0 : new SequenceReader<byte>(frame).TryReadTo(out ReadOnlySequence<byte> _, _delimiter))
        {
            return false;
        }

        // A match that starts in the frame's last d-1 bytes and ends inside the appended delimiter.
        var tailLength = (int)Math.Min(frame.Length, d - 1);
        Span<byte> joined = stackalloc byte[(2 * MaxDelimiterLength) - 1];
        joined = joined[..(tailLength + d)];
        frame.Slice(frame.Length - tailLength).CopyTo(joined);
        _delimiter.CopyTo(joined[tailLength..]);
        return joined.IndexOf(_delimiter) == tailLength;
    }
}
