using System.Buffers;
using CsCheck;
using Sockeye.Framing;

namespace Sockeye.Tests.Framing;

/// <summary>
/// Any list of frames, encoded and fed to the decoder in random splits (one byte at a time included),
/// decodes to the same list: for every codec and option combination.
/// </summary>
public class CodecRoundTripTests
{
    private const long Iterations = 400;

    // Chunk sizes for splitting the stream: mostly small, so frames and headers straddle chunks.
    private static readonly Gen<int[]> Splits = Gen.OneOf(
        Gen.Const(new[] { 1 }),
        Gen.Int[1, 7].Array[1, 20],
        Gen.Int[1, 300].Array[1, 5]);

    // Bytes from a small alphabet that includes the bytes codecs care about, so that delimiters,
    // carriage returns and line feeds turn up often.
    private static readonly Gen<byte> Noisy = Gen.OneOf(Gen.OneOf((byte)'a', (byte)'b', (byte)'\r', (byte)'\n', (byte)0), Gen.Byte);

    [Fact]
    public void LinesRoundTripInAnySplit()
    {
        Gen.Select(Gen.Int[1, 40], Gen.Bool, Gen.Bool, Noisy.Array[0, 45].List[0, 12], Splits).Sample((max, strip, crlf, raw, splits) =>
        {
            crlf &= strip;
            // Lines cannot hold \n; with stripping, a trailing \r would be read as part of the terminator.
            var frames = raw.Select(f => f.Select(b => b == '\n' ? (byte)'x' : b).Take(max).ToArray())
                .Select(f => strip ? f.AsSpan().TrimEnd((byte)'\r').ToArray() : f).ToList();
            var bytes = FrameStream.EncodeAll(new LineCodec(max, strip, crlf), frames);
            var decoded = FrameStream.DecodeAll(new LineCodec(max, strip, crlf), bytes, splits, out var leftover);
            Assert.Equal(frames, decoded);
            Assert.Equal(0, leftover);
        }, iter: Iterations);
    }

    [Fact]
    public void LinesEndingInCrLfAndLfReadTheSameWhenStripping()
    {
        var decoded = FrameStream.DecodeAll(new LineCodec(10), "one\r\ntwo\n\r\nthree\r\r\n"u8.ToArray(), [1], out var leftover);
        Assert.Equal(["one", "two", "", "three\r"], decoded.Select(f => System.Text.Encoding.ASCII.GetString(f)));
        Assert.Equal(0, leftover);
    }

    [Fact]
    public void DelimitedFramesRoundTripInAnySplit()
    {
        var alphabet = Gen.OneOf((byte)'a', (byte)'b', (byte)'c');
        Gen.Select(Gen.Int[1, 40], Gen.OneOf((byte)'a', (byte)'b').Array[1, 4], alphabet.Array[0, 40].List[0, 12], Splits).Sample((max, delimiter, raw, splits) =>
        {
            var frames = new List<byte[]>();
            foreach (var frame in raw.Where(f => f.Length <= max))
            {
                try
                {
                    FrameStream.Encode(new DelimiterCodec(delimiter, max), frame);
                    frames.Add(frame);
                }
                catch (ArgumentException)
                {
                    // The encoder refuses only frames that would not read back as themselves.
                    var naive = frame.Concat(delimiter).ToArray();
                    var back = FrameStream.DecodeAll(new DelimiterCodec(delimiter, max), naive, [], out var rest);
                    Assert.False(back.Count == 1 && back[0].AsSpan().SequenceEqual(frame) && rest == 0, "the encoder refused a frame that round-trips");
                }
            }

            var bytes = FrameStream.EncodeAll(new DelimiterCodec(delimiter, max), frames);
            var decoded = FrameStream.DecodeAll(new DelimiterCodec(delimiter, max), bytes, splits, out var leftover);
            Assert.Equal(frames, decoded);
            Assert.Equal(0, leftover);
        }, iter: Iterations);
    }

    [Fact]
    public void LengthPrefixedFramesRoundTripInAnySplitForEveryLayout()
    {
        var layout = Gen.Select(Gen.OneOf(1, 2, 4, 8), Gen.Int[0, 3], Gen.Bool, Gen.Bool, Gen.Int[-12, 4], Gen.Bool)
            .Select((size, offset, bigEndian, includesHeader, adjustment, stripHeader) =>
            {
                var header = offset + size;

                // Stripping the whole header encodes only with nothing before the length field.
                var strip = stripHeader && offset == 0 ? header : 0;
                return new LengthPrefixCodec(300, size, offset, bigEndian, includesHeader, adjustment, strip);
            });
        Gen.Select(layout, Gen.Byte.Array[0, 320].List[0, 8], Splits).Sample((codec, raw, splits) =>
        {
            var frames = new List<byte[]>();
            foreach (var frame in raw)
            {
                try
                {
                    // What the decoder hands back: the frame with its length field filled in (bytesToStrip 0)
                    // or the frame itself (header stripped).
                    frames.Add(FrameStream.Encode(codec, frame)[codec.BytesToStrip..]);
                }
                catch (ArgumentException)
                {
                    // Too large, shorter than its own header, or a length the field cannot hold.
                }
            }

            var bytes = FrameStream.EncodeAll(codec, frames);
            var decoded = FrameStream.DecodeAll(codec, bytes, splits, out var leftover);
            Assert.Equal(frames, decoded);
            Assert.Equal(0, leftover);
        }, iter: Iterations);
    }

    [Fact]
    public void FixedSizeFramesRoundTripInAnySplit()
    {
        Gen.Select(Gen.Int[1, 17], Gen.Byte.Array[17].List[0, 12], Splits).Sample((size, raw, splits) =>
        {
            var frames = raw.Select(f => f[..size]).ToList();
            var bytes = FrameStream.EncodeAll(new FixedSizeCodec(size), frames);
            var decoded = FrameStream.DecodeAll(new FixedSizeCodec(size), bytes, splits, out var leftover);
            Assert.Equal(frames, decoded);
            Assert.Equal(0, leftover);
        }, iter: Iterations);
    }

    [Fact]
    public void LengthPrefixEncoderFillsInTheLengthFieldOfAFrameThatCarriesItsHeader()
    {
        // PostgreSQL's Query message: 'Q', a length counting itself but not the type byte, the query.
        var codec = new LengthPrefixCodec(1 << 20, lengthFieldOffset: 1, lengthFieldSize: 4, lengthAdjustment: -4, bytesToStrip: 0);
        var frame = "Q\0\0\0\0SELECT 1;\0"u8.ToArray();
        var encoded = FrameStream.Encode(codec, frame);
        Assert.Equal("Q\0\0\0\x0eSELECT 1;\0"u8.ToArray(), encoded);
        var decoded = FrameStream.DecodeAll(codec, encoded, [1], out _);
        Assert.Equal([encoded], decoded);
    }
}
