namespace Sockeye;

/// <summary>
/// A minimum receive rate: while a handler waits for a read (up to consuming bytes), the peer must
/// send at least <see cref="BytesPerSecond"/> on average once <see cref="GracePeriod"/> has passed.
/// It defeats slowloris-style peers that trickle a byte every few seconds to keep a large read, and
/// a connection slot, alive; like Kestrel's <c>MinDataRate</c>.
/// </summary>
/// <param name="BytesPerSecond">The least average rate, measured from the start of the read.</param>
/// <param name="GracePeriod">How long a read may run before the rate is enforced, so that TCP slow
/// start and a first small packet do not count against the peer.</param>
public sealed record MinDataRate(double BytesPerSecond, TimeSpan GracePeriod)
{
    /// <summary>The bytes a read that started <paramref name="elapsed"/> ago must have received.</summary>
    /// <param name="elapsed">Time since the read started.</param>
    internal double RequiredBytes(TimeSpan elapsed) => BytesPerSecond * elapsed.TotalSeconds;
}
