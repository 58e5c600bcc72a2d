using System.Globalization;

namespace Sockeye.Framing;

/// <summary>
/// Thrown by a decoder when a frame is larger than the decoder's maximum frame size, as soon as that is
/// known: when a length prefix declares it, or when that many bytes have arrived without a delimiter.
/// </summary>
/// <remarks>
/// <para>A <see cref="TcpServer"/> whose handler ends with it counts a protocol error
/// (<see cref="TcpServer.ProtocolErrors"/>), logs it at Debug and closes only that connection, as it
/// does for an <see cref="InvalidDataException"/> (what decoders throw for a malformed frame). No
/// memory for the frame has been allocated when it is thrown.</para>
/// <para>It is an <see cref="IOException"/>, not an <see cref="InvalidDataException"/>: that class is
/// sealed. To catch every framing error, catch both.</para>
/// </remarks>
public class FrameTooLargeException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public FrameTooLargeException()
        : base("frame exceeds the maximum frame size")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public FrameTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public FrameTooLargeException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a frame of <paramref name="frameSize"/> bytes when at most
    /// <paramref name="maxFrameSize"/> are allowed; the message names both
    /// (<c>frame of 70000 bytes exceeds MaxFrameSize 65536</c>).</summary>
    /// <param name="frameSize">The frame's size, declared or counted; saturated at <see cref="long.MaxValue"/>.</param>
    /// <param name="maxFrameSize">The decoder's limit.</param>
    /// <param name="isLowerBound">Whether <paramref name="frameSize"/> is only what is known so far (a
    /// delimiter has not arrived yet), so the frame is at least that large.</param>
    public FrameTooLargeException(long frameSize, long maxFrameSize, bool isLowerBound = false)
        : base(string.Create(CultureInfo.InvariantCulture, $"frame of {(isLowerBound ? "at least " : "")}{frameSize} bytes exceeds MaxFrameSize {maxFrameSize}"))
    {
        FrameSize = frameSize;
        MaxFrameSize = maxFrameSize;
        IsLowerBound = isLowerBound;
    }

    /// <summary>The offending frame's size in bytes (as declared by a length prefix, or counted).</summary>
    public long FrameSize { get; }

    /// <summary>The limit that was exceeded.</summary>
    public long MaxFrameSize { get; }

    /// <summary>Whether the frame is at least <see cref="FrameSize"/> bytes (its end had not arrived yet).</summary>
    public bool IsLowerBound { get; }
}
