using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using Sockeye.Framing;

namespace Sockeye.Tests.Framing;

/// <summary>
/// Random and hostile bytes produce frames within the limit or the documented exceptions, nothing
/// else, and decoding never allocates (so nothing is set aside for a length a peer merely declares).
/// </summary>
public class AdversarialInputTests
{
    private static readonly Gen<IFrameDecoder> AnyDecoder = Gen.OneOf<IFrameDecoder>(
        Gen.Select(Gen.Int[1, 64], Gen.Bool).Select((max, strip) => (IFrameDecoder)new LineCodec(max, strip)),
        Gen.Select(Gen.Byte.Array[1, 3], Gen.Int[1, 64]).Select((delimiter, max) => (IFrameDecoder)new DelimiterCodec(delimiter, max)),
        Gen.Select(Gen.OneOf(1, 2, 4, 8), Gen.Int[0, 3], Gen.Bool, Gen.Bool, Gen.Int[-20, 20], Gen.Int[1, 64])
            .Select((size, offset, bigEndian, includesHeader, adjustment, max) => (IFrameDecoder)new LengthPrefixCodec(max, size, offset, bigEndian, includesHeader, adjustment, bytesToStrip: 0)),
        Gen.Int[1, 16].Select(n => (IFrameDecoder)new FixedSizeCodec(n)));

    [Fact]
    public void RandomBytesYieldFramesOrDocumentedExceptionsOnly()
    {
        Gen.Select(AnyDecoder, Gen.Byte.Array[0, 400], Gen.Int[1, 9].Array[1, 8]).Sample((decoder, bytes, splits) =>
        {
            try
            {
                // DecodeAll checks every frame against the limit and that no decode call allocates.
                FrameStream.DecodeAll(decoder, bytes, splits, out _);
            }
            catch (FrameTooLargeException ex)
            {
                Assert.Equal(decoder.MaxFrameSize, ex.MaxFrameSize);
                Assert.True(ex.FrameSize > ex.MaxFrameSize);
                Assert.Contains($"exceeds MaxFrameSize {decoder.MaxFrameSize}", ex.Message, StringComparison.Ordinal);
            }
            catch (InvalidDataException ex)
            {
                Assert.Contains("header", ex.Message, StringComparison.Ordinal);
            }
        }, iter: 2000);
    }

    [Theory]
    [InlineData(70_000, 65_536)]
    [InlineData(uint.MaxValue, 65_536)]
    public void LengthPrefixRefusesAnOversizeFrameAsSoonAsItsHeaderArrives(uint declared, int max)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, declared);
        var codec = new LengthPrefixCodec(max);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<FrameTooLargeException>(() => codec.TryDecode(new ReadOnlySequence<byte>(header), out _, out _));

        // The exception and its message, nothing near the declared size.
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16 * 1024);
        Assert.Equal($"frame of {declared} bytes exceeds MaxFrameSize {max}", ex.Message);
        Assert.Equal(declared, ex.FrameSize);
        Assert.False(ex.IsLowerBound);
    }

    [Fact]
    public void AnEightByteLengthBeyondInt64IsRefusedWithItsSizeSaturated()
    {
        var codec = new LengthPrefixCodec(1024, lengthFieldSize: 8);
        var ex = Assert.Throws<FrameTooLargeException>(() => codec.TryDecode(new ReadOnlySequence<byte>(Enumerable.Repeat((byte)0xFF, 8).ToArray()), out _, out _));
        Assert.Equal(long.MaxValue, ex.FrameSize);
    }

    [Fact]
    public void ALengthShorterThanTheHeaderIsMalformed()
    {
        // MongoDB-style: the length counts its own 4 bytes, so 3 is impossible.
        var codec = new LengthPrefixCodec(1024, bigEndian: false, lengthIncludesHeader: true, bytesToStrip: 0);
        var ex = Assert.Throws<InvalidDataException>(() => codec.TryDecode(new ReadOnlySequence<byte>([3, 0, 0, 0, 9]), out _, out _));
        Assert.Contains("shorter than its 4-byte header", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALineWithoutEndIsRefusedOnceItCanNoLongerFit()
    {
        var codec = new LineCodec(8);

        // 9 bytes could still be 8 and a \r before the \n: wait.
        Assert.False(codec.TryDecode(new ReadOnlySequence<byte>("aaaaaaaaa"u8.ToArray()), out _, out _));
        var ex = Assert.Throws<FrameTooLargeException>(() => codec.TryDecode(new ReadOnlySequence<byte>("aaaaaaaaaa"u8.ToArray()), out _, out _));
        Assert.Equal("frame of at least 9 bytes exceeds MaxFrameSize 8", ex.Message);
        Assert.True(ex.IsLowerBound);
    }

    [Fact]
    public void ALineLongerThanTheLimitIsRefusedEvenWhenItsEndHasArrived()
    {
        var ex = Assert.Throws<FrameTooLargeException>(() => new LineCodec(3).TryDecode(new ReadOnlySequence<byte>("abcd\n"u8.ToArray()), out _, out _));
        Assert.Equal("frame of 4 bytes exceeds MaxFrameSize 3", ex.Message);
    }

    [Fact]
    public void ADelimitedFrameWithoutDelimiterIsRefusedOnceItCanNoLongerFit()
    {
        var codec = new DelimiterCodec("\r\n\r\n"u8, 10);
        Assert.False(codec.TryDecode(new ReadOnlySequence<byte>(new byte[13]), out _, out _));
        Assert.Throws<FrameTooLargeException>(() => codec.TryDecode(new ReadOnlySequence<byte>(new byte[14]), out _, out _));
    }
}
