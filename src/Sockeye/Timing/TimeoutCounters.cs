namespace Sockeye.Timing;

/// <summary>
/// Expired timeouts by <see cref="ConnectionTimeoutKind"/>, since the server started: one counter per
/// kind, updated with an interlocked add. Kept in one small class so that metrics can later publish
/// each counter as an instrument without touching the connections.
/// </summary>
internal sealed class TimeoutCounters
{
    private readonly long[] _counts = new long[Enum.GetValues<ConnectionTimeoutKind>().Length];

    /// <summary>Counts one expiry of <paramref name="kind"/>.</summary>
    public void Increment(ConnectionTimeoutKind kind) => Interlocked.Increment(ref _counts[(int)kind]);

    /// <summary>How many timeouts of <paramref name="kind"/> expired.</summary>
    public long Get(ConnectionTimeoutKind kind) => Interlocked.Read(ref _counts[(int)kind]);

    /// <summary>How many timeouts of every kind expired.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }
}
