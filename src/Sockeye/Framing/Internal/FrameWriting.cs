using System.Buffers;

namespace Sockeye.Framing.Internal;

/// <summary>Copies a frame's segments to a writer (what every encoder does after its header).</summary>
internal static class FrameWriting
{
    public static void Write(in ReadOnlySequence<byte> frame, IBufferWriter<byte> output)
    {
        if (frame.IsSingleSegment)
        {
            output.Write(frame.FirstSpan);
            return;
        }

        foreach (var segment in frame)
        {
            output.Write(segment.Span);
        }
    }
}
