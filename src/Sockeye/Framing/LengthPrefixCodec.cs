using System.Buffers;
using System.Buffers.Binary;
using Sockeye.Framing.Internal;

namespace Sockeye.Framing;

/// <summary>
/// Frames carry their length in a header: a 1, 2, 4 or 8-byte unsigned integer, big or little endian,
/// possibly after other header bytes, counting the header or not, possibly off by a fixed adjustment.
/// Enough to describe most binary protocols (DNS over TCP, PostgreSQL, MongoDB, Bitcoin, Kafka, TLS
/// records); Netty's <c>LengthFieldBasedFrameDecoder</c> and tokio's <c>LengthDelimitedCodec</c> take
/// the same parameters.
/// </summary>
/// <remarks>
/// <para>A frame on the wire:</para>
/// <code>
///   | lengthFieldOffset bytes | length field (lengthFieldSize) | rest of the frame ...          |
///   |&lt;--------------------- header ----------------------------&gt;|
///   total frame size = header + length + lengthAdjustment        (lengthIncludesHeader: false)
///                    =          length + lengthAdjustment        (lengthIncludesHeader: true)
///   frame handed out = the total frame minus its first bytesToStrip bytes
/// </code>
/// <para>The plain 4-byte big-endian prefix (<c>new LengthPrefixCodec(65536)</c>):</para>
/// <code>
///   before: | 00 00 00 05 | h e l l o |    after (bytesToStrip 4):  | h e l l o |
/// </code>
/// <para>DNS over TCP (RFC 1035 §4.2.2), a 2-byte big-endian length that does not count itself:
/// <c>new LengthPrefixCodec(65535, lengthFieldSize: 2)</c>.</para>
/// <code>
///   before: | 00 1D | 29 bytes of DNS message |     after: | 29 bytes of DNS message |
/// </code>
/// <para>PostgreSQL messages (protocol 3.0): a type byte, then a 4-byte big-endian length that counts
/// itself but not the type byte; the handler needs the type, so nothing is stripped:
/// <c>new LengthPrefixCodec(1 &lt;&lt; 20, lengthFieldOffset: 1, lengthFieldSize: 4, lengthAdjustment: -4, bytesToStrip: 0)</c>.</para>
/// <code>
///   before: | 'Q' | 00 00 00 0E | "SELECT 1;\0" (10 bytes) |
///   after:  | 'Q' | 00 00 00 0E | "SELECT 1;\0" |             (the whole 15-byte message)
/// </code>
/// <para>Bitcoin P2P messages: 4 magic bytes, a 12-byte command, a 4-byte little-endian payload length,
/// a 4-byte checksum the length does not count, then the payload:
/// <c>new LengthPrefixCodec(32 &lt;&lt; 20, lengthFieldOffset: 16, lengthFieldSize: 4, bigEndian: false, lengthAdjustment: 4, bytesToStrip: 0)</c>.</para>
/// <code>
///   before: | F9 BE B4 D9 | "ping\0..." (12) | 08 00 00 00 | checksum (4) | nonce (8) |
///   after:  the same 32 bytes, as one frame
/// </code>
/// <para><see cref="MaxFrameSize"/> bounds the frame as handed out. The declared size is checked the
/// moment the header has arrived: an oversize frame throws <see cref="FrameTooLargeException"/>
/// before its body is read or any memory is set aside for it, and a length that makes the frame
/// shorter than its own header throws <see cref="InvalidDataException"/>.</para>
/// <para>The encoder computes the length field. With <c>bytesToStrip</c> equal to the header and no
/// bytes before the length field, it prepends the header to the frame. With <c>bytesToStrip</c> 0, the
/// frame already holds its header (type bytes and a placeholder length) and the encoder fills in the
/// length field. Other shapes decode but do not encode (<see cref="NotSupportedException"/>).</para>
/// <para>Stateless: one instance can serve any number of connections at once.</para>
/// </remarks>
public sealed class LengthPrefixCodec : IFrameCodec
{
    /// <summary>Creates a length-prefix codec.</summary>
    /// <param name="maxFrameSize">The largest frame accepted, in bytes as handed out. Required: there is
    /// no safe default for how much a peer may make the server buffer.</param>
    /// <param name="lengthFieldSize">The length field's size: 1, 2, 4 (default) or 8 bytes.</param>
    /// <param name="lengthFieldOffset">How many header bytes come before the length field. Default 0.</param>
    /// <param name="bigEndian">Whether the length is big endian (network order, the default) or little endian.</param>
    /// <param name="lengthIncludesHeader">Whether the length counts the header (the bytes up to and
    /// including the length field). Default <see langword="false"/>: it counts what follows the field.</param>
    /// <param name="lengthAdjustment">Added to the length to get the frame's size: for fields after the
    /// length that it does not count (positive) or header bytes it does count (negative). Default 0.</param>
    /// <param name="bytesToStrip">How many bytes to cut from the start of each frame before handing it
    /// out. Defaults to the whole header (offset plus field): the frame is the payload.</param>
    /// <exception cref="ArgumentException">A parameter is out of range (the message names it).</exception>
    public LengthPrefixCodec(
        int maxFrameSize,
        int lengthFieldSize = 4,
        int lengthFieldOffset = 0,
        bool bigEndian = true,
        bool lengthIncludesHeader = false,
        int lengthAdjustment = 0,
        int? bytesToStrip = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameSize, 1);
        if (lengthFieldSize is not (1 or 2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(lengthFieldSize), lengthFieldSize, "the length field must be 1, 2, 4 or 8 bytes");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(lengthFieldOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lengthFieldOffset, 1024);
        var header = lengthFieldOffset + lengthFieldSize;
        var strip = bytesToStrip ?? header;
        ArgumentOutOfRangeException.ThrowIfNegative(strip, nameof(bytesToStrip));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(strip, header, nameof(bytesToStrip));

        MaxFrameSize = maxFrameSize;
        LengthFieldSize = lengthFieldSize;
        LengthFieldOffset = lengthFieldOffset;
        BigEndian = bigEndian;
        LengthIncludesHeader = lengthIncludesHeader;
        LengthAdjustment = lengthAdjustment;
        BytesToStrip = strip;
    }

    /// <inheritdoc />
    public int MaxFrameSize { get; }

    /// <summary>The length field's size in bytes: 1, 2, 4 or 8.</summary>
    public int LengthFieldSize { get; }

    /// <summary>How many header bytes come before the length field.</summary>
    public int LengthFieldOffset { get; }

    /// <summary>Whether the length field is big endian.</summary>
    public bool BigEndian { get; }

    /// <summary>Whether the length counts the header (the bytes up to and including the length field).</summary>
    public bool LengthIncludesHeader { get; }

    /// <summary>Added to the length field to get the frame's size.</summary>
    public int LengthAdjustment { get; }

    /// <summary>How many bytes are cut from the start of each frame before it is handed out.</summary>
    public int BytesToStrip { get; }

    /// <summary>The bytes up to and including the length field.</summary>
    public int HeaderSize => LengthFieldOffset + LengthFieldSize;

    /// <inheritdoc />
    public bool TryDecode(in ReadOnlySequence<byte> input, out ReadOnlySequence<byte> frame, out SequencePosition consumed)
    {
        frame = default;
        consumed = input.Start;
        var header = HeaderSize;
        if (input.Length < header)
        {
            return false;
        }

        var declared = ReadLength(input);

        // Int128: an 8-byte field plus an adjustment cannot overflow it, so every check below is exact.
        Int128 total = LengthIncludesHeader ? (Int128)declared + LengthAdjustment : (Int128)declared + header + LengthAdjustment;
        if (total < header)
        {
            throw new InvalidDataException($"length field {declared} gives a frame of {total} bytes, shorter than its {header}-byte header");
        }

        var size = total - BytesToStrip;
        if (size > MaxFrameSize)
        {
            throw new FrameTooLargeException(size > long.MaxValue ? long.MaxValue : (long)size, MaxFrameSize);
        }

        if (input.Length < total)
        {
            return false;
        }

        frame = input.Slice(BytesToStrip, (long)size);
        consumed = frame.End;
        return true;
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">This codec strips part of the header but not all of it,
    /// or strips a header that has bytes before the length field: the encoder would not know them.</exception>
    public void Encode(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var header = HeaderSize;
        if (frame.Length > MaxFrameSize)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes exceeds MaxFrameSize {MaxFrameSize}", nameof(frame));
        }

        var prepend = BytesToStrip == header && LengthFieldOffset == 0;
        if (!prepend && BytesToStrip != 0)
        {
            throw new NotSupportedException($"cannot encode when {BytesToStrip} of the {header} header bytes are stripped; use bytesToStrip 0 or strip the whole header with lengthFieldOffset 0");
        }

        if (!prepend && frame.Length < header)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes is shorter than its {header}-byte header (with bytesToStrip 0 the frame holds its own header)", nameof(frame));
        }

        var total = frame.Length + BytesToStrip;
        var declared = (Int128)total - LengthAdjustment - (LengthIncludesHeader ? 0 : header);
        var fieldMax = LengthFieldSize == 8 ? ulong.MaxValue : (1UL << (8 * LengthFieldSize)) - 1;
        if (declared < 0 || declared > fieldMax)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes needs length {declared}, which a {LengthFieldSize}-byte length field cannot hold", nameof(frame));
        }

        if (prepend)
        {
            WriteLength(output, (ulong)declared);
            FrameWriting.Write(frame, output);
        }
        else
        {
            FrameWriting.Write(frame.Slice(0, LengthFieldOffset), output);
            WriteLength(output, (ulong)declared);
            FrameWriting.Write(frame.Slice(header), output);
        }
    }

    private ulong ReadLength(in ReadOnlySequence<byte> input)
    {
        Span<byte> copy = stackalloc byte[8];
        var first = input.FirstSpan;
        scoped ReadOnlySpan<byte> field;
        if (first.Length >= HeaderSize)
        {
            field = first.Slice(LengthFieldOffset, LengthFieldSize);
        }
        else
        {
            input.Slice(LengthFieldOffset, LengthFieldSize).CopyTo(copy);
            field = copy[..LengthFieldSize];
        }

        return (LengthFieldSize, BigEndian) switch
        {
            (1, _) => field[0],
            (2, true) => BinaryPrimitives.ReadUInt16BigEndian(field),
            (2, false) => BinaryPrimitives.ReadUInt16LittleEndian(field),
            (4, true) => BinaryPrimitives.ReadUInt32BigEndian(field),
            (4, false) => BinaryPrimitives.ReadUInt32LittleEndian(field),
            (_, true) => BinaryPrimitives.ReadUInt64BigEndian(field),
            (_, false) => BinaryPrimitives.ReadUInt64LittleEndian(field),
        };
    }

    private void WriteLength(IBufferWriter<byte> output, ulong length)
    {
        var span = output.GetSpan(LengthFieldSize);
        switch (LengthFieldSize, BigEndian)
        {
            case (1, _): span[0] = (byte)length; break;
            case (2, true): BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)length); break;
            case (2, false): BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)length); break;
            case (4, true): BinaryPrimitives.WriteUInt32BigEndian(span, (uint)length); break;
            case (4, false): BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)length); break;
            case (_, true): BinaryPrimitives.WriteUInt64BigEndian(span, length); break;
            case (_, false): BinaryPrimitives.WriteUInt64LittleEndian(span, length); break;
        }

        output.Advance(LengthFieldSize);
    }
}
