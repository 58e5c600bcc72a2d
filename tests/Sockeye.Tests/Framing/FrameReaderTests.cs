using System.Buffers;
using System.IO.Pipelines;
using CsCheck;
using Sockeye.Framing;
using Sockeye.Framing.Internal;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Framing;

/// <summary>The connection helpers' reader over a real pipe: zero-copy and copy modes, end of stream.</summary>
public class FrameReaderTests
{
    [Fact]
    public async Task FramesWrittenInAnySplitAreReadBackInOrderInBothModes()
    {
        var gen = Gen.Select(Gen.Byte.Array[0, 600].List[0, 10], Gen.Int[1, 200].Array[1, 6], Gen.OneOf(16, 64, FrameReader.DefaultCopyThreshold));
        await gen.SampleAsync(async (frames, splits, copyThreshold) =>
        {
            var codec = new LengthPrefixCodec(1024, lengthFieldSize: 2);
            var bytes = FrameStream.EncodeAll(codec, frames);
            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
            var writing = WriteInChunksAsync(pipe.Writer, bytes, splits);
            var reader = new FrameReader(pipe.Reader, copyThreshold: copyThreshold);
            var read = new List<byte[]>();
            while (await reader.ReadAsync(codec, CancellationToken.None).AsTask().WaitAsync(Loopback.Patience) == FrameReadStatus.Frame)
            {
                read.Add(reader.Frame.ToArray());
            }

            await writing.WaitAsync(Loopback.Patience);
            reader.Dispose();
            Assert.Equal(frames, read);
        }, iter: 200);
    }

    [Fact]
    public async Task AFrameLargerThanThePipeCanHoldArrivesWholeInPooledMemory()
    {
        // The pipe stops its writer at 64 KiB unconsumed: a 200 KiB frame only arrives if the reader
        // moves bytes out of the pipe before the frame is complete.
        var codec = new LengthPrefixCodec(1 << 20);
        var frame = new byte[200 * 1024];
        new Random(4).NextBytes(frame);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false));
        var writing = WriteInChunksAsync(pipe.Writer, FrameStream.EncodeAll(codec, [frame, [1, 2, 3]]), [4096]);
        using var reader = new FrameReader(pipe.Reader, copyThreshold: 32 * 1024);

        Assert.Equal(FrameReadStatus.Frame, await reader.ReadAsync(codec, CancellationToken.None).AsTask().WaitAsync(Loopback.Patience));
        Assert.True(reader.IsCopying);
        Assert.Equal(frame, reader.Frame.ToArray());
        Assert.Equal(FrameReadStatus.Frame, await reader.ReadAsync(codec, CancellationToken.None).AsTask().WaitAsync(Loopback.Patience));
        Assert.Equal(new byte[] { 1, 2, 3 }, reader.Frame.ToArray());
        Assert.Equal(FrameReadStatus.End, await reader.ReadAsync(codec, CancellationToken.None).AsTask().WaitAsync(Loopback.Patience));
        Assert.False(reader.IsCopying);
        await writing.WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task APeerThatClosesInTheMiddleOfAFrameIsAProtocolError()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("complete\nhalf a li"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        var reader = new FrameReader(pipe.Reader);
        var codec = new LineCodec(100);

        Assert.Equal(FrameReadStatus.Frame, await reader.ReadAsync(codec, CancellationToken.None));
        Assert.Equal("complete"u8.ToArray(), reader.Frame.ToArray());
        var ex = await Assert.ThrowsAsync<InvalidDataException>(async () => await reader.ReadAsync(codec, CancellationToken.None));
        Assert.Contains("9 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACancelledPendingReadIsReportedAfterTheFramesAlreadyBuffered()
    {
        var pipe = new Pipe();
        var reader = new FrameReader(pipe.Reader);
        var codec = new LineCodec(100);
        await pipe.Writer.WriteAsync("a\nb\n"u8.ToArray());
        pipe.Reader.CancelPendingRead();

        Assert.Equal(FrameReadStatus.Frame, await reader.ReadAsync(codec, CancellationToken.None));
        Assert.Equal(FrameReadStatus.Frame, await reader.ReadAsync(codec, CancellationToken.None));
        Assert.Equal("b"u8.ToArray(), reader.Frame.ToArray());
        Assert.Equal(FrameReadStatus.Canceled, await reader.ReadAsync(codec, CancellationToken.None).AsTask().WaitAsync(Loopback.Patience));
    }

    private static async Task WriteInChunksAsync(PipeWriter writer, byte[] bytes, int[] splits)
    {
        await Task.Yield();
        var offset = 0;
        var i = 0;
        while (offset < bytes.Length)
        {
            var size = Math.Min(splits[i++ % splits.Length], bytes.Length - offset);
            await writer.WriteAsync(bytes.AsMemory(offset, size));
            offset += size;
        }

        await writer.CompleteAsync();
    }
}
