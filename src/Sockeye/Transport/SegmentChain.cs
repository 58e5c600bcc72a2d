using System.Buffers;

namespace Sockeye.Transport;

/// <summary>
/// Received bytes not yet consumed, as a chain of pool blocks read in place: from an offset in the
/// first block to the end of the last. The one piece of bookkeeping behind both input readers
/// (<see cref="SocketReader"/> for the socket, and TLS's reader for decrypted bytes).
/// </summary>
/// <remarks>
/// A mutable struct held as a field, so a connection pays for its four fields and no object. Not
/// thread-safe: the owning reader serialises access.
/// </remarks>
internal struct SegmentChain
{
    private BufferSegment? _head;
    private int _headStart;
    private BufferSegment? _tail;

    /// <summary>How many bytes the chain holds.</summary>
    public long Length { get; private set; }

    /// <summary>The held bytes, without copying.</summary>
    public readonly ReadOnlySequence<byte> Buffer =>
        _head is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_head, _headStart, _tail!, _tail!.End);

    /// <summary>Whether the last block is full (the last receive filled it: more bytes are likely waiting).</summary>
    public readonly bool TailIsFull => _tail is not null && _tail.FreeSpace == 0;

    /// <summary>The free space after the last block's bytes when it has at least
    /// <paramref name="minimum"/>; empty otherwise (rent a block and <see cref="Append"/> it).</summary>
    public readonly Memory<byte> TailSpace(int minimum) =>
        _tail is not null && _tail.FreeSpace >= minimum ? _tail.Writable : Memory<byte>.Empty;

    /// <summary>Records <paramref name="count"/> bytes written into <paramref name="block"/>: a newly
    /// rented block, linked at the end, or <see langword="null"/> for the last block's free space.</summary>
    public void Append(BufferSegment? block, int count)
    {
        if (block is not null)
        {
            if (_tail is null)
            {
                _head = block;
                _headStart = 0;
            }
            else
            {
                _tail.Link(block);
            }

            _tail = block;
        }

        _tail!.Commit(count);
        Length += count;
    }

    /// <summary>
    /// Applies a reader's <c>AdvanceTo</c>: releases the blocks before <paramref name="consumed"/>, and
    /// the last one too when everything is consumed unless <paramref name="keepEmptyTail"/> (a receive
    /// is still writing into it).
    /// </summary>
    /// <returns>Whether any byte was consumed, and whether everything held was examined.</returns>
    /// <exception cref="InvalidOperationException">A position is outside the held bytes, or examined is before consumed.</exception>
    public (bool ConsumedAny, bool ExaminedAll) Advance(SequencePosition consumed, SequencePosition examined, bool keepEmptyTail)
    {
        var start = _head is null ? 0 : _head.RunningIndex + _headStart;
        var end = _tail is null ? 0 : _tail.RunningIndex + _tail.End;
        var consumedAt = consumed.GetObject() is BufferSegment c ? c.RunningIndex + consumed.GetInteger() : start;
        var examinedAt = examined.GetObject() is BufferSegment e ? e.RunningIndex + examined.GetInteger() : consumedAt;
        if (consumedAt < start || consumedAt > end || examinedAt < consumedAt || examinedAt > end)
        {
            throw new InvalidOperationException("AdvanceTo was given a position outside the buffer of the last read, or examined before consumed.");
        }

        if (consumedAt > start)
        {
            Length -= consumedAt - start;
            var segment = (BufferSegment)consumed.GetObject()!;
            while (_head != segment)
            {
                var next = _head!.NextSegment;
                _head.Release();
                _head = next;
            }

            _headStart = consumed.GetInteger();
            if (Length == 0 && !keepEmptyTail)
            {
                // Everything consumed: give the last block back too, so an idle connection holds none.
                _head!.Release();
                _head = _tail = null;
                _headStart = 0;
            }
        }

        return (consumedAt > start, examinedAt == end);
    }

    /// <summary>Gives every block back, except the last when <paramref name="keepTail"/> (a receive is
    /// still writing into it: it is left to the garbage collector instead of the pool).</summary>
    public void ReleaseAll(bool keepTail)
    {
        for (var segment = _head; segment is not null;)
        {
            var next = segment.NextSegment;
            if (!(keepTail && segment == _tail))
            {
                segment.Release();
            }

            segment = next;
        }

        _head = _tail = null;
        _headStart = 0;
        Length = 0;
    }
}
