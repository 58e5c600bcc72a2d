using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Sockeye.Pools;

/// <summary>
/// A bounded pool for CPU-heavy or blocking work that should not run on a connection's I/O path: at
/// most <see cref="WorkerPoolOptions.MaxConcurrency"/> jobs run at once and at most
/// <see cref="WorkerPoolOptions.QueueCapacity"/> wait. When the queue is full,
/// <see cref="SubmitAsync{T}(Func{CancellationToken, T}, CancellationToken)"/> waits (back-pressure to
/// the connection, and through TCP to its peer) and
/// <see cref="TrySubmit{T}(Func{CancellationToken, T}, out Task{T})"/> fails at once.
/// </summary>
/// <example>
/// <code>
/// var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 2, QueueCapacity = 256 });
/// byte[] digest = await pool.RunAsync(_ => SHA256.HashData(payload));
/// </code>
/// </example>
/// <remarks>
/// <para>The thread pool already recycles threads, so this is not a thread pool: it is a cap on
/// concurrent work plus a bounded queue in front of it (what Go users get from <c>ants</c>). Jobs run
/// on thread-pool threads, one worker loop per slot; an idle worker holds no thread.</para>
/// <para>Results and exceptions flow back through the task the caller awaits; the caller's code after
/// <c>await</c> never runs on a worker. Every member is safe to use from any thread.</para>
/// </remarks>
public sealed class WorkerPool : IAsyncDisposable
{
    private readonly Channel<IWorkItem> _queue;
    private readonly Task[] _workers;
    private readonly CancellationTokenSource _stopDeadline = new();
    private readonly object _lifecycleLock = new();
    private Task<WorkerPoolStopSummary>? _stopping;
    private bool _deadlinePassed;
    private readonly Diagnostics.WorkerPoolMetrics? _metrics;

    /// <summary>Creates the pool with <paramref name="options"/> (defaults when <see langword="null"/>);
    /// its workers start waiting for jobs at once.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public WorkerPool(WorkerPoolOptions? options = null)
    {
        options ??= new WorkerPoolOptions();
        options.Validate();
        MaxConcurrency = options.MaxConcurrency;
        QueueCapacity = options.QueueCapacity;
        TimeProvider = options.TimeProvider;
        Counters = new WorkerPoolCounters(TimeProvider);
        Name = options.Name;
        _metrics = options.EnableMetrics ? new Diagnostics.WorkerPoolMetrics(Counters, options.Name) : null;
        _queue = Channel.CreateBounded<IWorkItem>(new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = false,
        });

        _workers = new Task[options.MaxConcurrency];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = Task.Run(WorkAsync);
        }
    }

    /// <summary>The most jobs that run at once.</summary>
    public int MaxConcurrency { get; }

    /// <summary>The most jobs that may wait for a worker.</summary>
    public int QueueCapacity { get; }

    /// <summary>The pool's own meter, null with metrics off (a test probe).</summary>
    internal System.Diagnostics.Metrics.Meter? Meter => _metrics?.Meter;

    /// <summary>The pool's name in its metrics (<see cref="WorkerPoolOptions.Name"/>).</summary>
    public string Name { get; }

    /// <summary>Jobs queued and running now, and totals since the pool was created (also published as
    /// metrics unless <see cref="WorkerPoolOptions.EnableMetrics"/> is off).</summary>
    public WorkerPoolCounters Counters { get; }

    /// <summary>Whether a stop has begun: new jobs are refused.</summary>
    public bool IsStopping => Volatile.Read(ref _stopping) is not null;

    internal TimeProvider TimeProvider { get; }

    /// <summary>The token every job receives: it fires when a stop's deadline passes.</summary>
    internal CancellationToken StopDeadlinePassed => _stopDeadline.Token;

    /// <summary>
    /// Queues <paramref name="work"/>, waiting while the queue is full, and returns once it is queued;
    /// the returned task is the job's: it completes with its result or its exception.
    /// </summary>
    /// <typeparam name="T">What the job returns.</typeparam>
    /// <param name="work">The job. Its token fires when a stop's deadline passes: long jobs should
    /// check it.</param>
    /// <param name="cancellationToken">Gives up waiting for room, or cancels the job while it is
    /// still queued; it does not interrupt a job that started.</param>
    /// <returns>Once queued, the job's task.</returns>
    /// <exception cref="InvalidOperationException">The pool is stopping.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while waiting for room.</exception>
    public async ValueTask<Task<T>> SubmitAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var item = new WorkItem<T>(work, Counters);
        if (!TryEnqueue(item))
        {
            if (IsStopping)
            {
                Counters.OnRejected();
                throw Stopped();
            }

            try
            {
                do
                {
                    if (!await _queue.Writer.WaitToWriteAsync(cancellationToken).ConfigureAwait(false))
                    {
                        Counters.OnRejected();
                        throw Stopped();
                    }
                }
                while (!TryEnqueue(item));
            }
            catch (ChannelClosedException)
            {
                Counters.OnRejected();
                throw Stopped();
            }
        }

        item.CancelWhen(cancellationToken);
        return item.Task;
    }

    /// <summary>Queues <paramref name="work"/> and waits for its result: the same as awaiting the task
    /// that <see cref="SubmitAsync{T}(Func{CancellationToken, T}, CancellationToken)"/> returns.</summary>
    /// <typeparam name="T">What the job returns.</typeparam>
    /// <param name="work">The job; see <see cref="SubmitAsync{T}(Func{CancellationToken, T}, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Gives up waiting for room or cancels the job while queued.</param>
    /// <returns>The job's result; its exception is thrown here.</returns>
    public async Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        var job = await SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        return await job.ConfigureAwait(false);
    }

    /// <summary>Queues <paramref name="work"/> if there is room now; fails at once otherwise (the
    /// queue is full or the pool is stopping), counting a rejection.</summary>
    /// <typeparam name="T">What the job returns.</typeparam>
    /// <param name="work">The job; see <see cref="SubmitAsync{T}(Func{CancellationToken, T}, CancellationToken)"/>.</param>
    /// <param name="job">When queued, the job's task; it completes with its result or its exception.</param>
    /// <returns>Whether the job was queued.</returns>
    public bool TrySubmit<T>(Func<CancellationToken, T> work, [NotNullWhen(true)] out Task<T>? job)
    {
        ArgumentNullException.ThrowIfNull(work);
        var item = new WorkItem<T>(work, Counters);
        if (!TryEnqueue(item))
        {
            Counters.OnRejected();
            job = null;
            return false;
        }

        job = item.Task;
        return true;
    }

    /// <summary>
    /// Stops the pool gracefully, in this order:
    /// <list type="number">
    /// <item>refuse new jobs (submitters waiting for room get an <see cref="InvalidOperationException"/>);</item>
    /// <item>let the workers finish every queued job, until <paramref name="deadline"/> has passed;</item>
    /// <item>then cancel the jobs still queued (their tasks end cancelled) and fire the token running
    /// jobs were given, without waiting for them further.</item>
    /// </list>
    /// Calling it again, or concurrently, returns the same result as the first call.
    /// </summary>
    /// <param name="deadline">How long queued work gets to finish; <see cref="TimeSpan.Zero"/> cancels
    /// the queue at once.</param>
    /// <param name="cancellationToken">Cuts the wait short, as if the deadline had passed.</param>
    /// <returns>How many jobs were queued, cancelled and still running.</returns>
    public Task<WorkerPoolStopSummary> StopAsync(TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(deadline, TimeSpan.Zero);
        lock (_lifecycleLock)
        {
            return _stopping ??= StopCoreAsync(deadline, cancellationToken);
        }
    }

    /// <summary>Stops at once: <see cref="StopAsync(TimeSpan, CancellationToken)"/> with a zero deadline,
    /// unless a stop is already under way, in which case it waits for that.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }

    private async Task<WorkerPoolStopSummary> StopCoreAsync(TimeSpan deadline, CancellationToken cancellationToken)
    {
        var started = TimeProvider.GetTimestamp();

        // 1. Refuse new jobs; the workers leave once the queue is empty.
        var queued = Counters.Queued;
        _queue.Writer.TryComplete();

        // 2. Let them finish the queue.
        var allDone = Task.WhenAll(_workers);
        long cancelled = 0;
        try
        {
            await allDone.WaitAsync(deadline, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // 3. Cancel what still waits (workers that take a job from now on cancel it too), then tell
            //    running jobs their time is up: in this order, so a worker freed by the token cannot
            //    start a job the deadline should have cancelled.
            var cancelledBefore = Counters.Cancelled;
            Volatile.Write(ref _deadlinePassed, true);
            while (_queue.Reader.TryRead(out var item))
            {
                Counters.OnDequeued();
                item.TryCancel();
            }

            cancelled = Counters.Cancelled - cancelledBefore;

            await _stopDeadline.CancelAsync().ConfigureAwait(false);
        }

        _metrics?.Dispose();
        return new WorkerPoolStopSummary(queued, cancelled, Counters.Running, TimeProvider.GetElapsedTime(started));
    }

    private bool TryEnqueue(IWorkItem item)
    {
        item.EnqueuedAt = TimeProvider.GetTimestamp();

        // Counted before the write so a worker that takes the item at once never sees a negative queue.
        Counters.OnQueued();
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        Counters.OnDequeued();
        return false;
    }

    /// <summary>One worker: takes the next job, runs it, and leaves when the queue is closed and empty.</summary>
    private async Task WorkAsync()
    {
        var reader = _queue.Reader;
        while (true)
        {
            if (!reader.TryRead(out var item))
            {
                try
                {
                    item = await reader.ReadAsync().ConfigureAwait(false);
                }
                catch (ChannelClosedException)
                {
                    return;
                }
            }

            Counters.OnDequeued();
            if (Volatile.Read(ref _deadlinePassed))
            {
                item.TryCancel();
                continue;
            }

            item.Execute(this);
        }
    }

    private static InvalidOperationException Stopped() => new("the worker pool is stopping and accepts no new work");
}
