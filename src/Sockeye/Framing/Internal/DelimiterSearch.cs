using System.Buffers;

namespace Sockeye.Framing.Internal;

/// <summary>
/// The search shared by <see cref="LineCodec"/> and <see cref="DelimiterCodec"/>: finds a delimiter
/// within a bounded window of the input, resuming where the previous call on the same stream stopped.
/// </summary>
/// <remarks>
/// Resuming matters when a long line trickles in a few bytes per read: searching again from the start
/// each time costs the square of the line's length (Netty's <c>LineBasedFrameDecoder</c> keeps the same
/// offset). The window (at most the maximum frame plus its delimiter) bounds the work per call and
/// tells when the frame is too large.
/// </remarks>
internal struct DelimiterSearch
{
    // Bytes at the start of the input already searched without finding the delimiter.
    private long _searched;

    /// <summary>Returns the index of the first <paramref name="delimiter"/> within the first
    /// <paramref name="window"/> bytes of <paramref name="input"/>, or -1.</summary>
    /// <param name="input">The stream's unconsumed bytes; the same start as on the previous call, or
    /// the start of the next frame after a match.</param>
    /// <param name="delimiter">The bytes to find.</param>
    /// <param name="window">How many bytes from the start may hold the delimiter's first byte and the rest of it.</param>
    /// <param name="windowFull">Set when the window was searched whole without a match, so the frame is
    /// larger than the window allows.</param>
    public long IndexOf(in ReadOnlySequence<byte> input, ReadOnlySpan<byte> delimiter, long window, out bool windowFull)
    {
        var length = Math.Min(input.Length, window);

        // A stale offset (the caller moved on without a match) must not skip bytes.
        var from = _searched > length ? 0 : Math.Max(0, _searched - (delimiter.Length - 1));

        // Most frames end in the first segment: look there before slicing a multi-segment sequence
        // (slicing walks segments). A match wholly inside it precedes any match that straddles.
        var first = input.FirstSpan;
        if (from < first.Length)
        {
            var found = first[(int)from..(int)Math.Min(first.Length, length)].IndexOf(delimiter);
            if (found >= 0)
            {
                _searched = 0;
                windowFull = false;
                return from + found;
            }
        }

        var searchable = input.Length > window ? input.Slice(0, window) : input;
        long index;
        if (searchable.IsSingleSegment)
        {
            var found = searchable.FirstSpan[(int)from..].IndexOf(delimiter);
            index = found < 0 ? -1 : from + found;
        }
        else
        {
            var reader = new SequenceReader<byte>(searchable);
            reader.Advance(from);
            var found = delimiter.Length == 1
                ? reader.TryAdvanceTo(delimiter[0], advancePastDelimiter: false)
                : reader.TryReadTo(out ReadOnlySequence<byte> _, delimiter, advancePastDelimiter: false);
            index = found ? reader.Consumed : -1;
        }

        if (index < 0)
        {
            _searched = searchable.Length;
            windowFull = searchable.Length >= window;
            return -1;
        }

        _searched = 0;
        windowFull = false;
        return index;
    }
}
