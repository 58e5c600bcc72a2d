using System.Buffers;

namespace Sockeye.Transport;

/// <summary>
/// One buffer in a connection's chain of received or unsent bytes, linked so that the chain reads as
/// one <see cref="ReadOnlySequence{T}"/> without copying.
/// </summary>
/// <remarks>
/// <see cref="ReadOnlySequenceSegment{T}.Memory"/> always covers exactly the written bytes
/// (<c>[0, End)</c>); the free space after them is <see cref="Writable"/>. Only the last segment of
/// a chain grows, so the running indexes of the ones after it never need fixing.
/// </remarks>
internal abstract class BufferSegment : ReadOnlySequenceSegment<byte>
{
    protected BufferSegment(byte[] array)
    {
        Array = array;
    }

    /// <summary>The memory this segment owns (or, for a queued message, shares).</summary>
    public byte[] Array { get; private set; }

    /// <summary>How many bytes have been written, from the start of <see cref="Array"/>.</summary>
    public int End { get; private set; }

    /// <summary>The free space after the written bytes.</summary>
    public Memory<byte> Writable => Array.AsMemory(End);

    /// <summary>The bytes that can still be written.</summary>
    public int FreeSpace => Array.Length - End;

    /// <summary>Whether <see cref="Array"/> is on the pinned object heap (a pool block), so its address
    /// can be handed to the kernel without pinning it per call.</summary>
    public virtual bool IsPinned => false;

    /// <summary>The next segment of the chain, typed.</summary>
    public BufferSegment? NextSegment => (BufferSegment?)Next;

    /// <summary>Records that <paramref name="count"/> more bytes were written.</summary>
    public void Commit(int count)
    {
        End += count;
        Memory = Array.AsMemory(0, End);
    }

    /// <summary>Links <paramref name="next"/> after this segment.</summary>
    public void Link(BufferSegment next)
    {
        next.RunningIndex = RunningIndex + End;
        Next = next;
    }

    /// <summary>Gives the memory back to where it came from; the segment must not be used again.</summary>
    public void Release()
    {
        End = 0;
        Memory = default;
        Next = null;
        RunningIndex = 0;
        Return();
    }

    /// <summary>Points a pooled segment at <paramref name="array"/>, its first <paramref name="length"/>
    /// bytes written (a queued message's segment, reused for the next message).</summary>
    protected void Reset(byte[] array, int length)
    {
        Array = array;
        End = 0;
        Commit(length);
    }

    protected abstract void Return();
}

/// <summary>A segment over an array rented from <see cref="ArrayPool{T}.Shared"/>, for a write larger
/// than one pool block.</summary>
internal sealed class RentedSegment(int size) : BufferSegment(ArrayPool<byte>.Shared.Rent(size))
{
    protected override void Return() => ArrayPool<byte>.Shared.Return(Array);
}
