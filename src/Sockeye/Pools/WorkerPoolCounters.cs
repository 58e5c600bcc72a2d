namespace Sockeye.Pools;

/// <summary>
/// What a <see cref="WorkerPool"/> is doing and has done: jobs waiting and running now, totals since it
/// was created, and the time jobs spent waiting for a worker. Published as metrics on the
/// <c>Sockeye</c> meter (<c>sockeye.pool.*</c>) unless <see cref="WorkerPoolOptions.EnableMetrics"/> is off.
/// </summary>
/// <remarks>Every value is safe to read from any thread; values read one after another are not a
/// consistent snapshot.</remarks>
public sealed class WorkerPoolCounters
{
    private readonly TimeProvider _time;
    private long _queued;
    private long _running;
    private long _started;
    private long _completed;
    private long _faulted;
    private long _cancelled;
    private long _rejected;
    private long _queueWaitTimestampTicks;
    private long _maxQueueWaitTimestampTicks;

    internal WorkerPoolCounters(TimeProvider time) => _time = time;

    /// <summary>Jobs waiting for a worker now.</summary>
    public long Queued => Volatile.Read(ref _queued);

    /// <summary>Jobs running now; never more than <see cref="WorkerPoolOptions.MaxConcurrency"/>.</summary>
    public long Running => Volatile.Read(ref _running);

    /// <summary>Jobs that began running.</summary>
    public long Started => Interlocked.Read(ref _started);

    /// <summary>Jobs that finished, with a result or an exception (<see cref="Faulted"/> counts the latter).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Jobs that finished by throwing; the exception went to the caller.</summary>
    public long Faulted => Interlocked.Read(ref _faulted);

    /// <summary>Jobs cancelled before they started: by the caller's token, or by a stop whose deadline passed.</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Submissions refused because the queue was full or the pool was stopping.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>The time every started job spent in the queue, added up; divide by <see cref="Started"/>
    /// for the mean.</summary>
    public TimeSpan TotalQueueWait => ToTimeSpan(Interlocked.Read(ref _queueWaitTimestampTicks));

    /// <summary>The longest any started job waited in the queue.</summary>
    public TimeSpan MaxQueueWait => ToTimeSpan(Interlocked.Read(ref _maxQueueWaitTimestampTicks));

    internal void OnQueued() => Interlocked.Increment(ref _queued);

    internal void OnDequeued() => Interlocked.Decrement(ref _queued);

    internal void OnRejected() => Interlocked.Increment(ref _rejected);

    internal void OnCancelled() => Interlocked.Increment(ref _cancelled);

    internal void OnStarted(long waitedTimestampTicks)
    {
        Interlocked.Increment(ref _running);
        Interlocked.Increment(ref _started);
        Interlocked.Add(ref _queueWaitTimestampTicks, waitedTimestampTicks);
        var max = Interlocked.Read(ref _maxQueueWaitTimestampTicks);
        while (waitedTimestampTicks > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxQueueWaitTimestampTicks, waitedTimestampTicks, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    internal void OnFinished(bool faulted)
    {
        if (faulted)
        {
            Interlocked.Increment(ref _faulted);
        }

        Interlocked.Increment(ref _completed);
        Interlocked.Decrement(ref _running);
    }

    private TimeSpan ToTimeSpan(long timestampTicks) =>
        TimeSpan.FromSeconds((double)timestampTicks / _time.TimestampFrequency);
}
