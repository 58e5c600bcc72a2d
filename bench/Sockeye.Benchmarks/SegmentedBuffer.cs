using System.Buffers;

namespace Sockeye.Benchmarks;

/// <summary>Builds a multi-segment sequence with 4 KiB segments, the shape of a connection's input pipe.</summary>
internal static class SegmentedBuffer
{
    public const int BlockSize = 4096;

    public static ReadOnlySequence<byte> Create(byte[] bytes)
    {
        Segment? first = null;
        Segment? last = null;
        for (var offset = 0; offset < bytes.Length; offset += BlockSize)
        {
            var segment = new Segment(bytes.AsMemory(offset, Math.Min(BlockSize, bytes.Length - offset)), offset);
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

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
