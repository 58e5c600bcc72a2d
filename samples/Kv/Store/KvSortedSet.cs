namespace Sockeye.Samples.Kv.Store;

/// <summary>A sorted-set value: member → score for ZSCORE, and the members ordered by (score, member
/// bytes) for ZRANGE and ZPOPMIN, as Redis orders them.</summary>
internal sealed class KvSortedSet
{
    private readonly Dictionary<byte[], double> _scores = new(ByteKeyComparer.Instance);
    private readonly SortedSet<(double Score, byte[] Member)> _order = new(OrderComparer.Instance);

    /// <summary>Members in the set.</summary>
    public int Count => _scores.Count;

    // Bound markers for GetViewBetween: below (Lowest) or above (Highest) every member of the same score.
    // Compared by reference, so they must be arrays no member can be (a member's array is its own copy).
    private static readonly byte[] Lowest = new byte[1];
    private static readonly byte[] Highest = new byte[1];

    /// <summary>The members in order, lowest score first.</summary>
    public IEnumerable<(double Score, byte[] Member)> Ordered => _order;

    /// <summary>The members in reverse order, highest score first (lazily, no copy).</summary>
    public IEnumerable<(double Score, byte[] Member)> Reversed => _order.Reverse();

    /// <summary>The lowest and the highest member; the set must not be empty.</summary>
    public ((double Score, byte[] Member) First, (double Score, byte[] Member) Last) Ends => (_order.Min, _order.Max);

    /// <summary>The members whose score is within the bounds (each inclusive or exclusive), in order or
    /// reversed.</summary>
    /// <remarks>A view of the tree between two marker bounds: finding it is O(log n), though
    /// <c>SortedSet</c> counts the view's members once (O(members in range)), so a LIMIT inside a wide range
    /// costs that range, not just the offset and count as in Redis's skip list.</remarks>
    public IEnumerable<(double Score, byte[] Member)> ByScore(double min, bool minExclusive, double max, bool maxExclusive, bool reverse)
    {
        if (_order.Count == 0 || min > max || (min == max && (minExclusive || maxExclusive)))
        {
            return [];
        }

        var view = _order.GetViewBetween((min, minExclusive ? Highest : Lowest), (max, maxExclusive ? Lowest : Highest));
        return reverse ? view.Reverse() : view;
    }

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
            if (byScore != 0 || ReferenceEquals(x.Member, y.Member))
            {
                return byScore;
            }

            if (ReferenceEquals(x.Member, Lowest) || ReferenceEquals(y.Member, Highest))
            {
                return -1;
            }

            if (ReferenceEquals(x.Member, Highest) || ReferenceEquals(y.Member, Lowest))
            {
                return 1;
            }

            return x.Member.AsSpan().SequenceCompareTo(y.Member);
        }
    }
}
