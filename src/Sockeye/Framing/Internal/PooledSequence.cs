using System.Buffers;

namespace Sockeye.Framing.Internal;

/// <summary>
/// Bytes moved out of a pipe into pooled arrays, for a frame too large for the pipe to hold: grows
/// only as bytes are appended (never by a declared length), and gives arrays back as frames are
/// consumed.
/// </summary>
internal sealed class PooledSequence : IDisposable
{
    private const int SegmentSize = 64 * 1024;

    private Segment? _head;
    private Segment? _tail;

    // The first byte not yet handed out in a frame.
    private Segment? _startSegment;
    private int _startIndex;

    /// <summary>The bytes appended and not yet consumed.</summary>
    public ReadOnlySequence<byte> Unconsumed =>
        _startSegment is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_startSegment, _startIndex, _tail!, _tail!.Written);

    /// <summary>Copies <paramref name="data"/> to the end.</summary>
    public void Append(in ReadOnlySequence<byte> data)
    {
        foreach (var memory in data)
        {
            var span = memory.Span;
            while (!span.IsEmpty)
            {
                if (_tail is null || _tail.Written == _tail.Array.Length)
                {
                    AddSegment();
                }

                var n = Math.Min(span.Length, _tail!.Array.Length - _tail.Written);
                span[..n].CopyTo(_tail.Array.AsSpan(_tail.Written));
                _tail.Commit(n);
                span = span[n..];
            }
        }
    }

    /// <summary>Marks everything before <paramref name="position"/> (a position in
    /// <see cref="Unconsumed"/>) as handed out.</summary>
    public void Consume(SequencePosition position)
    {
        _startSegment = (Segment)position.GetObject()!;
        _startIndex = position.GetInteger();
    }

    /// <summary>Returns the arrays that hold only bytes handed out before; the caller has promised that
    /// frames from them are no longer in use.</summary>
    public void ReleaseConsumed()
    {
        while (_head is not null && _head != _startSegment)
        {
            var next = (Segment?)_head.Next;
            ArrayPool<byte>.Shared.Return(_head.Array);
            _head = next;
        }
    }

    public void Dispose()
    {
        for (var s = _head; s is not null; s = (Segment?)s.Next)
        {
            ArrayPool<byte>.Shared.Return(s.Array);
        }

        _head = _tail = _startSegment = null;
    }

    private void AddSegment()
    {
        var segment = new Segment(ArrayPool<byte>.Shared.Rent(SegmentSize), _tail is null ? 0 : _tail.RunningIndex + _tail.Written);
        if (_tail is null)
        {
            _head = _tail = _startSegment = segment;
            _startIndex = 0;
        }
        else
        {
            _tail.SetNext(segment);
            _tail = segment;
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] array, long runningIndex)
        {
            Array = array;
            RunningIndex = runningIndex;
        }

        public byte[] Array { get; }

        public int Written { get; private set; }

        public void Commit(int count)
        {
            Written += count;
            Memory = Array.AsMemory(0, Written);
        }

        public void SetNext(Segment next) => Next = next;
    }
}
