namespace Sockeye.Security.Internal;

/// <summary>
/// Connections turned away by the edge checks, by <see cref="RefusalReason"/>, since the server
/// started: one counter per reason, updated with an interlocked add. Kept in one small class so that
/// metrics can publish each counter as an instrument without touching the checks.
/// </summary>
internal sealed class RefusalCounters
{
    private readonly long[] _counts = new long[Enum.GetValues<RefusalReason>().Length];

    /// <summary>Counts one refusal for <paramref name="reason"/>.</summary>
    public void Increment(RefusalReason reason) => Interlocked.Increment(ref _counts[(int)reason]);

    /// <summary>How many connections were refused for <paramref name="reason"/>.</summary>
    public long Get(RefusalReason reason) => Interlocked.Read(ref _counts[(int)reason]);

    /// <summary>How many connections were refused for any reason.</summary>
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
