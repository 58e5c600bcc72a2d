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

    // Completed by the Release that frees a slot while someone waits in WaitForFreeAsync; null when
    // no one waits, so Release costs one read when nothing waits.
    private TaskCompletionSource? _freed;

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
    public bool Release()
    {
        var none = Interlocked.Decrement(ref _taken) == 0;
        if (Volatile.Read(ref _freed) is not null)
        {
            Interlocked.Exchange(ref _freed, null)?.TrySetResult();
        }

        return none;
    }

    /// <summary>Completes when a slot is free (at once if one is now), without taking it: the caller
    /// then accepts and <see cref="TryTake"/>s, which another caller may have beaten it to.</summary>
    /// <param name="cancellationToken">Ends the wait (the server stops).</param>
    public async ValueTask WaitForFreeAsync(CancellationToken cancellationToken)
    {
        while (Taken >= limit)
        {
            var freed = Volatile.Read(ref _freed);
            if (freed is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                freed = Interlocked.CompareExchange(ref _freed, created, null) ?? created;
            }

            // Re-check after publishing: a Release between the first check and the publication saw no
            // waiter and completed nothing.
            if (Taken < limit)
            {
                return;
            }

            await freed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
