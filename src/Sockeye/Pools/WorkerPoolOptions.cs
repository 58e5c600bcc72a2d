namespace Sockeye.Pools;

/// <summary>
/// Settings for a <see cref="WorkerPool"/>: how many jobs run at once and how many may wait. Read once
/// when the pool is created; later changes have no effect.
/// </summary>
public sealed class WorkerPoolOptions
{
    /// <summary>The most jobs that run at the same time.</summary>
    /// <remarks>Default: <see cref="Environment.ProcessorCount"/>, which suits CPU-heavy work: more
    /// would only time-slice the same cores and stretch every job. For blocking work (a synchronous
    /// file or database call) raise it to the number of calls the resource behind it can serve at once.
    /// Jobs run on thread-pool threads, so a cap near the core count also leaves threads for the
    /// connections' I/O.</remarks>
    public int MaxConcurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>The most jobs that may wait for a worker; a submit past it waits
    /// (<see cref="WorkerPool.SubmitAsync{T}(Func{CancellationToken, T}, CancellationToken)"/>) or fails
    /// (<see cref="WorkerPool.TrySubmit{T}(Func{CancellationToken, T}, out Task{T})"/>).</summary>
    /// <remarks>Default: 1,024. It bounds memory and the time a job can wait: a job admitted to a full
    /// queue starts after at most this many others. Larger absorbs bigger bursts without pushing back on
    /// the callers; smaller pushes back sooner (the connections slow down, TCP flow control slows their
    /// peers) and keeps queue wait short.</remarks>
    public int QueueCapacity { get; set; } = 1024;

    /// <summary>The clock for queue wait times and the stop deadline; tests pass a fake one.</summary>
    /// <remarks>Default: <see cref="TimeProvider.System"/>.</remarks>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The pool's name in its metrics (the <c>sockeye.pool.name</c> tag), to tell pools apart.</summary>
    /// <remarks>Default: <c>workers</c>.</remarks>
    public string Name { get; set; } = "workers";

    /// <summary>Whether the pool publishes its counters as metrics on the <c>Sockeye</c> meter
    /// (<c>sockeye.pool.jobs.queued</c>, <c>.running</c>, <c>sockeye.pool.jobs</c> by outcome,
    /// <c>sockeye.pool.queue_wait</c>; docs/OBSERVABILITY.md).</summary>
    /// <remarks>Default: on. Nothing is recorded per job: the instruments read
    /// <see cref="WorkerPool.Counters"/> when a listener collects.</remarks>
    public bool EnableMetrics { get; set; } = true;

    /// <summary>Checks every option and throws an <see cref="ArgumentException"/> naming the first one
    /// that is out of range.</summary>
    /// <exception cref="ArgumentException">An option has a value the pool cannot use.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException($"{nameof(Name)} must not be empty, got '{Name}'", nameof(Name));
        }

        if (MaxConcurrency < 1)
        {
            throw new ArgumentException($"{nameof(MaxConcurrency)} must be at least 1, got {MaxConcurrency}", nameof(MaxConcurrency));
        }

        if (QueueCapacity < 1)
        {
            throw new ArgumentException($"{nameof(QueueCapacity)} must be at least 1, got {QueueCapacity}", nameof(QueueCapacity));
        }
    }
}
