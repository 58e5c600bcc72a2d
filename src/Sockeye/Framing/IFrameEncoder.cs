using System.Buffers;

namespace Sockeye.Framing;

/// <summary>
/// Writes a frame to a byte stream in the form its decoder reads back: adds the header, delimiter or
/// nothing, as the format requires.
/// </summary>
/// <remarks>
/// An encoder refuses (with an <see cref="ArgumentException"/>) a frame that its decoder would not
/// read back as the same frame: one larger than the maximum frame size, a line that contains a line
/// feed, a frame that contains its delimiter. So anything it writes decodes to exactly what was encoded.
/// </remarks>
public interface IFrameEncoder
{
    /// <summary>Writes <paramref name="frame"/>, framed, to <paramref name="output"/>. Nothing is sent
    /// until the writer is flushed.</summary>
    /// <param name="frame">The frame's bytes, as the decoder would hand them out.</param>
    /// <param name="output">Where the encoded bytes go, such as <see cref="Connection.Output"/>.</param>
    /// <exception cref="ArgumentException">The frame cannot be encoded in this format (the message says why).</exception>
    void Encode(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output);
}
