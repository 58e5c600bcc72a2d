namespace Sockeye.Samples.Kv.Store;

/// <summary>A sorted-set value: member → score for ZSCORE, and the members ordered by (score, member
/// bytes) for ZRANGE and ZPOPMIN, as Redis orders them.</summary>
internal sealed class KvSortedSet
{
    private readonly Dictionary<byte[], double> _scores = new(ByteKeyComparer.Instance);
    private readonly SortedSet<(double Score, byte[] Member)> _order = new(OrderComparer.Instance);

    /// <summary>Members in the set.</summary>
    public int Count => _scores.Count;

    /// <summary>The members in order, lowest score first.</summary>
    public IEnumerable<(double Score, byte[] Member)> Ordered => _order;

    /// <summary>The member's score, if it is a member.</summary>
    public bool TryGetScore(ReadOnlySpan<byte> member, out double score) =>
        _scores.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(member, out score);

    /// <summary>Adds the member or moves it to <paramref name="score"/>; true when it was new.</summary>
    public bool Set(byte[] member, double score)
    {
        if (_scores.TryGetValue(member, out var old))
        {
            if (old != score)
            {
                _order.Remove((old, member));
                _order.Add((score, member));
                _scores[member] = score;
            }

            return false;
        }

        _scores.Add(member, score);
        _order.Add((score, member));
        return true;
    }

    /// <summary>Removes and returns the lowest-scored member; the set must not be empty.</summary>
    public (double Score, byte[] Member) PopMin()
    {
        var min = _order.Min;
        _order.Remove(min);
        _scores.Remove(min.Member);
        return min;
    }

    private sealed class OrderComparer : IComparer<(double Score, byte[] Member)>
    {
        public static OrderComparer Instance { get; } = new();

        public int Compare((double Score, byte[] Member) x, (double Score, byte[] Member) y)
        {
            var byScore = x.Score.CompareTo(y.Score);
            return byScore != 0 ? byScore : x.Member.AsSpan().SequenceCompareTo(y.Member);
        }
    }
}
