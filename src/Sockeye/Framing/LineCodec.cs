using System.Buffers;
using Sockeye.Framing.Internal;

namespace Sockeye.Framing;

/// <summary>
/// Frames are lines ended by <c>\n</c> or <c>\r\n</c>: text protocols such as SMTP, Redis's inline
/// commands, IRC, or newline-delimited JSON.
/// </summary>
/// <remarks>
/// <code>
///   on the wire:  H e l l o \r \n  b y e \n
///   frames:       "Hello"          "bye"          (stripCarriageReturn: true, the default)
///                 "Hello\r"        "bye"          (stripCarriageReturn: false)
/// </code>
/// <para>The line terminator is never part of the frame. <see cref="MaxFrameSize"/> counts the line as
/// handed out: a line of <c>maxLineLength + 1</c> bytes without its end is refused as soon as those bytes
/// have arrived, before any more are buffered. So with <c>stripCarriageReturn: false</c> a kept
/// <c>\r</c> counts: a <c>\r\n</c> line may carry <c>maxLineLength - 1</c> bytes of text, a <c>\n</c>
/// line <c>maxLineLength</c> (this is what <c>sockeye serve echo --framing line</c> does, and its
/// <c>--max-frame-size</c> help says so); with stripping, the default, both carry <c>maxLineLength</c>. The encoder writes the frame and <c>\n</c>, or
/// <c>\r\n</c> when <c>writeCrLf</c> is set.</para>
/// <para>Remembers how far it has searched a partial line: one instance per connection. Not
/// thread-safe.</para>
/// </remarks>
public sealed class LineCodec : IFrameCodec
{
    private readonly int _window;
    private DelimiterSearch _search;

    /// <summary>Creates a line codec.</summary>
    /// <param name="maxLineLength">The longest line accepted, in bytes, without its terminator (but with
    /// a kept <c>\r</c>). Required: there is no safe default for how much a peer may make the server
    /// buffer.</param>
    /// <param name="stripCarriageReturn">Whether a <c>\r</c> before the <c>\n</c> is removed from the
    /// frame. Default <see langword="true"/>: <c>\r\n</c> and <c>\n</c> lines read the same. Set it to
    /// <see langword="false"/> to hand lines out byte for byte (an echo that must not change them).</param>
    /// <param name="writeCrLf">Whether the encoder ends lines with <c>\r\n</c> (telnet-style protocols)
    /// instead of <c>\n</c>. Default <see langword="false"/>. Needs <paramref name="stripCarriageReturn"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="maxLineLength"/> is less than 1, or
    /// <paramref name="writeCrLf"/> is set without <paramref name="stripCarriageReturn"/> (lines written
    /// would not read back as themselves).</exception>
    public LineCodec(int maxLineLength, bool stripCarriageReturn = true, bool writeCrLf = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 1);
        if (writeCrLf && !stripCarriageReturn)
        {
            throw new ArgumentException("writeCrLf needs stripCarriageReturn: the decoder would keep the \r it writes", nameof(writeCrLf));
        }

        MaxFrameSize = maxLineLength;
        StripCarriageReturn = stripCarriageReturn;
        WriteCrLf = writeCrLf;

        // The longest run of bytes that can still end in a valid line: the line, a stripped \r, the \n.
        _window = (int)Math.Min((long)maxLineLength + (stripCarriageReturn ? 2 : 1), int.MaxValue);
    }

    /// <inheritdoc />
    public int MaxFrameSize { get; }

    /// <summary>Whether a <c>\r</c> before the <c>\n</c> is removed from decoded lines.</summary>
    public bool StripCarriageReturn { get; }

    /// <summary>Whether the encoder ends lines with <c>\r\n</c> rather than <c>\n</c>.</summary>
    public bool WriteCrLf { get; }

    /// <inheritdoc />
    public bool TryDecode(in ReadOnlySequence<byte> input, out ReadOnlySequence<byte> frame, out SequencePosition consumed) =>
        TryDecode(input, ref _search, out frame, out consumed);

    /// <summary><see cref="TryDecode(in ReadOnlySequence{byte}, out ReadOnlySequence{byte}, out SequencePosition)"/>
    /// with the search state kept by the caller: one codec then serves every connection of a server,
    /// each keeping only its 8-byte <paramref name="search"/> (the chat server's members: a codec is 40
    /// bytes per waiting connection). Thread-safe when each stream has its own <paramref name="search"/>.</summary>
    internal bool TryDecode(in ReadOnlySequence<byte> input, ref DelimiterSearch search, out ReadOnlySequence<byte> frame, out SequencePosition consumed)
    {
        var newline = search.IndexOf(input, "\n"u8, _window, out var windowFull);
        if (newline < 0)
        {
            if (windowFull)
            {
                throw new FrameTooLargeException((long)MaxFrameSize + 1, MaxFrameSize, isLowerBound: true);
            }

            frame = default;
            consumed = input.Start;
            return false;
        }

        var length = newline;
        if (StripCarriageReturn && length > 0 && ByteAt(input, length - 1) == (byte)'\r')
        {
            length--;
        }

        if (length > MaxFrameSize)
        {
            throw new FrameTooLargeException(length, MaxFrameSize);
        }

        frame = input.Slice(0, length);
        consumed = input.GetPosition(newline + 1);
        return true;
    }

    private static byte ByteAt(in ReadOnlySequence<byte> input, long index)
    {
        var first = input.FirstSpan;
        return index < first.Length ? first[(int)index] : input.Slice(index, 1).FirstSpan[0];
    }

    /// <inheritdoc />
    public void Encode(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (frame.Length > MaxFrameSize)
        {
            throw new ArgumentException($"line of {frame.Length} bytes exceeds MaxFrameSize {MaxFrameSize}", nameof(frame));
        }

        if (frame.PositionOf((byte)'\n') is not null)
        {
            throw new ArgumentException("a line cannot contain a line feed (\\n)", nameof(frame));
        }

        if (StripCarriageReturn && !frame.IsEmpty && frame.Slice(frame.Length - 1).FirstSpan[0] == (byte)'\r')
        {
            throw new ArgumentException("the line ends with \\r, which the decoder would strip", nameof(frame));
        }

        FrameWriting.Write(frame, output);
        output.Write(WriteCrLf ? "\r\n"u8 : "\n"u8);
    }
}
