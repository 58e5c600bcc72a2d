namespace Sockeye.Server;

/// <summary>
/// A counting limit taken before work is done and given back when it ends: TCP's connection slots
/// (<see cref="TcpServerOptions.MaxConnections"/>) and UDP's handler slots
/// (<see cref="Udp.UdpServerOptions.MaxConcurrentHandlers"/>), like mini-redis's semaphore permit or
/// Go's <c>netutil.LimitListener</c>. Safe for concurrent use; no lock, no allocation.
/// </summary>
internal sealed class SlotLimiter(int limit)
{
    private int _taken;

    /// <summary>The most slots that can be taken at once.</summary>
    public int Limit => limit;

    /// <summary>Slots taken now; never above <see cref="Limit"/>.</summary>
    public int Taken => Volatile.Read(ref _taken);

    /// <summary>Takes a slot if one is free.</summary>
    /// <returns><see langword="false"/> when all <see cref="Limit"/> are taken.</returns>
    public bool TryTake()
    {
        // Compare-and-swap rather than increment-then-undo: the count is a public gauge, and the
        // reliability suite's flood caught it reading the limit + 1 between the two steps.
        var taken = Volatile.Read(ref _taken);
        while (taken < limit)
        {
            var seen = Interlocked.CompareExchange(ref _taken, taken + 1, taken);
            if (seen == taken)
            {
                return true;
            }

            taken = seen;
        }

        return false;
    }

    /// <summary>Gives a slot back; call exactly once per successful <see cref="TryTake"/>.</summary>
    /// <returns><see langword="true"/> when this was the last slot taken (none is taken now).</returns>
    public bool Release() => Interlocked.Decrement(ref _taken) == 0;
}
