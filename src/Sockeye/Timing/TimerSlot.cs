namespace Sockeye.Timing;

/// <summary>
/// The three expiry times the scan compares for one connection, in <see cref="TimeProvider"/>
/// timestamp units; <see cref="long.MaxValue"/> means "nothing to check".
/// </summary>
/// <remarks>
/// These are hints, written by the connection's own loops without locks: the scan reads them in one
/// sequential pass and calls the connection only when one is due, and the connection then decides
/// from its own state whether anything really expired. Keeping them in a dense array rather than in
/// the connection objects is what makes a pass over 100,000 connections cost microseconds: the scan
/// streams 24 bytes per connection instead of chasing 100,000 pointers.
/// </remarks>
internal struct TimerSlot
{
    /// <summary>When the idle timeout expires: the last receive plus the idle timeout.</summary>
    public long Idle;

    /// <summary>While the handler is in a read: the earliest of the read timeout, the read deadline
    /// and the next minimum-rate check.</summary>
    public long Read;

    /// <summary>While a send is pending: the earlier of the write timeout and the write deadline.</summary>
    public long Write;

    /// <summary>A slot with nothing to check.</summary>
    public static readonly TimerSlot Empty = new() { Idle = long.MaxValue, Read = long.MaxValue, Write = long.MaxValue };

    /// <summary>The earliest of the three.</summary>
    public readonly long Earliest => Math.Min(Idle, Math.Min(Read, Write));
}
