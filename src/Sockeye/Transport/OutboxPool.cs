using System.Collections.Concurrent;

namespace Sockeye.Transport;

/// <summary>
/// A server's spare send queues (<see cref="Outbox"/>): a connection takes one for a burst of messages
/// and gives it back when a drain has sent them all, so a member waiting for its next message holds no
/// queue (88 bytes each; BENCHMARKS.md, "Idle subscriber: send queue given back").
/// </summary>
/// <remarks>
/// <para>Not bounded: it holds at most as many queues as were in use at once, which is no more than the
/// connections that had a message in flight at the same moment, and a broadcast to a room of any size
/// then takes and gives back that many without allocating. A queue that closes with its connection
/// (aborted, or closed while a message was queued) stays with it and leaves the pool for good
/// (<see cref="Retired"/>).</para>
/// <para>A queue, not a stack: a <see cref="ConcurrentStack{T}"/> allocates a node on every push; a
/// <see cref="ConcurrentQueue{T}"/> reuses its slots. Safe for concurrent use.</para>
/// </remarks>
internal sealed class OutboxPool
{
    private readonly ConcurrentQueue<Outbox> _free = new();
    private long _created;
    private long _retired;

    /// <summary>Queues made since the pool was (every other take reused one).</summary>
    public long Created => Interlocked.Read(ref _created);

    /// <summary>Queues waiting in the pool now.</summary>
    public int Free => _free.Count;

    /// <summary>Queues that closed with their connection and never came back.</summary>
    public long Retired => Interlocked.Read(ref _retired);

    /// <summary>Queues attached to a connection now: <see cref="Created"/> − <see cref="Free"/> −
    /// <see cref="Retired"/> (exact when nothing is taking or giving back meanwhile).</summary>
    public long InUse => Created - Free - Retired;

    /// <summary>A detached queue: a spare one, or a new one when none is spare.</summary>
    public Outbox Rent()
    {
        if (_free.TryDequeue(out var outbox))
        {
            return outbox;
        }

        Interlocked.Increment(ref _created);
        return Outbox.CreatePooled();
    }

    /// <summary>Takes back a detached queue.</summary>
    public void Return(Outbox outbox) => _free.Enqueue(outbox);

    /// <summary>A queue from this pool closed with its connection.</summary>
    public void OnRetired() => Interlocked.Increment(ref _retired);
}
