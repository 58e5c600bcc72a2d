namespace Sockeye.Timing;

/// <summary>Something with deadlines in a <see cref="DeadlineScanner"/>: a connection.</summary>
internal interface IDeadlineTarget
{
    /// <summary>Called by the scan, on the timer's thread, when one of the target's slot hints is at or
    /// before <paramref name="now"/>. The target decides from its own state whether a timeout really
    /// expired (and aborts itself), or moves its hints on.</summary>
    /// <param name="now">The scan's timestamp, in <see cref="TimeProvider"/> units.</param>
    void OnDeadlineDue(long now);
}
