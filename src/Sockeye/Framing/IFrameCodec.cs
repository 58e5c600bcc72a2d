namespace Sockeye.Framing;

/// <summary>A decoder and its matching encoder: one frame format, both directions.</summary>
/// <remarks>Built-in codecs: <see cref="LineCodec"/>, <see cref="DelimiterCodec"/>,
/// <see cref="LengthPrefixCodec"/> and <see cref="FixedSizeCodec"/>.</remarks>
public interface IFrameCodec : IFrameDecoder, IFrameEncoder
{
}
