using System.Buffers;
using Sockeye.Framing;

namespace Sockeye.Tests.Framing;

/// <summary>
/// Feeds a decoder a byte stream chunk by chunk, the way a connection receives it: each call sees the
/// unconsumed bytes as a multi-segment sequence (one segment per chunk), so frames and headers that
/// straddle chunk boundaries are exercised.
/// </summary>
internal static class FrameStream
{
    /// <summary>Splits <paramref name="bytes"/> at the given chunk sizes (cycled), decodes every frame,
    /// and returns copies of them; throws what the decoder throws. Also checks that no decode call
    /// allocates, and that no frame exceeds the decoder's limit.</summary>
    public static List<byte[]> DecodeAll(IFrameDecoder decoder, byte[] bytes, int[] chunkSizes, out int leftover)
    {
        var frames = new List<byte[]>();
        var chunks = new List<byte[]>();
        var offset = 0;
        var chunk = 0;
        while (offset < bytes.Length)
        {
            var size = chunkSizes.Length == 0 ? bytes.Length : Math.Max(1, chunkSizes[chunk++ % chunkSizes.Length]);
            size = Math.Min(size, bytes.Length - offset);
            chunks.Add(bytes.AsSpan(offset, size).ToArray());
            offset += size;
            while (true)
            {
                var input = Build(chunks);
                var before = GC.GetAllocatedBytesForCurrentThread();
                var decoded = decoder.TryDecode(input, out var frame, out var consumed);
                if (GC.GetAllocatedBytesForCurrentThread() != before)
                {
                    // The runtime may allocate once on a thread (tiered JIT, type loading); a decoder that
                    // allocates does so again on the same call, which gives the same result.
                    before = GC.GetAllocatedBytesForCurrentThread();
                    decoded = decoder.TryDecode(input, out frame, out consumed);
                    var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    if (allocated != 0)
                    {
                        throw new InvalidOperationException($"a decode call allocated {allocated} bytes");
                    }
                }

                if (!decoded)
                {
                    Assert.Equal(input.Start, consumed);
                    break;
                }

                Assert.True(frame.Length <= decoder.MaxFrameSize, $"frame of {frame.Length} bytes handed out with MaxFrameSize {decoder.MaxFrameSize}");
                frames.Add(frame.ToArray());
                Drop(chunks, input.Slice(0, consumed).Length);
            }
        }

        leftover = chunks.Sum(c => c.Length);
        return frames;
    }

    public static byte[] EncodeAll(IFrameEncoder encoder, IEnumerable<byte[]> frames)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (var frame in frames)
        {
            encoder.Encode(new ReadOnlySequence<byte>(frame), output);
        }

        return output.WrittenSpan.ToArray();
    }

    public static byte[] Encode(IFrameEncoder encoder, byte[] frame) => EncodeAll(encoder, [frame]);

    /// <summary>A sequence with one segment per array (empty arrays skipped).</summary>
    public static ReadOnlySequence<byte> Build(IReadOnlyList<byte[]> chunks)
    {
        Segment? first = null;
        Segment? last = null;
        foreach (var chunk in chunks)
        {
            if (chunk.Length == 0)
            {
                continue;
            }

            var segment = new Segment(chunk, last is null ? 0 : last.RunningIndex + last.Memory.Length);
            if (last is null)
            {
                first = segment;
            }
            else
            {
                last.SetNext(segment);
            }

            last = segment;
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private static void Drop(List<byte[]> chunks, long count)
    {
        while (count > 0)
        {
            if (chunks[0].Length <= count)
            {
                count -= chunks[0].Length;
                chunks.RemoveAt(0);
            }
            else
            {
                chunks[0] = chunks[0][(int)count..];
                count = 0;
            }
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
