using System.Buffers;

namespace Sockeye.Framing;

/// <summary>
/// Cuts frames out of a byte stream, <c>TryParse</c>-style: given the bytes received so far, either
/// returns the first complete frame and where it ends, or says that more bytes are needed.
/// </summary>
/// <remarks>
/// <para>"Not enough bytes yet" is the normal outcome of a partial read, not an error: the decoder
/// returns <see langword="false"/> and the caller calls again with the same bytes plus whatever arrived
/// since. A frame that can never be valid throws: a <see cref="FrameTooLargeException"/> when it is
/// (or is declared to be) larger than <see cref="MaxFrameSize"/>, an <see cref="InvalidDataException"/>
/// when it is malformed. A <see cref="TcpServer"/> counts a handler that ends with either as a protocol
/// error and closes only that connection. Nothing else is thrown for any input.</para>
/// <para>A decoder never allocates memory for a frame: the frame it returns is a slice of its input.
/// Decoders may remember how far they have already searched (so that a line trickling in one byte at
/// a time is not scanned again and again): use one decoder instance per stream, and feed it that
/// stream's bytes in order. Not thread-safe.</para>
/// </remarks>
public interface IFrameDecoder
{
    /// <summary>The largest frame, in bytes as the decoder hands it out, that this decoder accepts;
    /// anything larger throws <see cref="FrameTooLargeException"/> as soon as that is known.</summary>
    int MaxFrameSize { get; }

    /// <summary>Looks for one complete frame at the start of <paramref name="input"/>.</summary>
    /// <param name="input">The bytes received and not yet consumed, oldest first.</param>
    /// <param name="frame">The frame, a slice of <paramref name="input"/> (valid as long as
    /// <paramref name="input"/> is); empty when the method returns <see langword="false"/>.</param>
    /// <param name="consumed">Where the frame (with its header, delimiter or padding) ends in
    /// <paramref name="input"/>: the next frame starts there. <c>input.Start</c> when the method returns
    /// <see langword="false"/>.</param>
    /// <returns><see langword="true"/> when a frame was decoded; <see langword="false"/> when more bytes
    /// are needed.</returns>
    /// <exception cref="FrameTooLargeException">The frame exceeds <see cref="MaxFrameSize"/>.</exception>
    /// <exception cref="InvalidDataException">The bytes cannot start a valid frame.</exception>
    bool TryDecode(in ReadOnlySequence<byte> input, out ReadOnlySequence<byte> frame, out SequencePosition consumed);
}
