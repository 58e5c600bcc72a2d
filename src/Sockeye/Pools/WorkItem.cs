namespace Sockeye.Pools;

/// <summary>A job as the workers see it: run it, or cancel it unstarted. Exactly one of the two
/// happens, decided by one compare-and-swap, so a job cancelled while a worker picks it up never runs.</summary>
internal interface IWorkItem
{
    /// <summary>When the job entered the queue, in <see cref="TimeProvider"/> timestamp units.</summary>
    long EnqueuedAt { get; set; }

    /// <summary>Runs the job on the calling thread unless it was cancelled first.</summary>
    void Execute(WorkerPool pool);

    /// <summary>Cancels the job if it has not started; <see langword="false"/> if it had.</summary>
    bool TryCancel();
}

/// <summary>
/// One submitted job and the task its caller awaits. It is its own <see cref="TaskCompletionSource{T}"/>
/// so that a job costs two objects (this and the task), as <c>Task.Run</c> does.
/// </summary>
internal sealed class WorkItem<T> : TaskCompletionSource<T>, IWorkItem
{
    private const int Waiting = 0;
    private const int Started = 1;
    private const int Cancelled = 2;

    private readonly Func<CancellationToken, T> _work;
    private readonly WorkerPoolCounters _counters;
    private int _state;
    private CancellationTokenRegistration _callerCancellation;

    // Continuations run asynchronously: the caller's code after `await` must not run on, and hold, a worker.
    public WorkItem(Func<CancellationToken, T> work, WorkerPoolCounters counters)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        _work = work;
        _counters = counters;
    }

    /// <summary>When the job entered the queue, in <see cref="TimeProvider"/> timestamp units.</summary>
    public long EnqueuedAt { get; set; }

    /// <summary>Cancels the job while it waits, when <paramref name="token"/> fires.</summary>
    public void CancelWhen(CancellationToken token)
    {
        if (token.CanBeCanceled)
        {
            _callerCancellation = token.UnsafeRegister(static s => ((IWorkItem)s!).TryCancel(), this);
        }
    }

    public void Execute(WorkerPool pool)
    {
        if (Interlocked.CompareExchange(ref _state, Started, Waiting) != Waiting)
        {
            return;
        }

        _callerCancellation.Dispose();
        _counters.OnStarted(pool.TimeProvider.GetTimestamp() - EnqueuedAt);
        var faulted = false;
        try
        {
            TrySetResult(_work(pool.StopDeadlinePassed));
        }
        catch (OperationCanceledException ex) when (ex.CancellationToken == pool.StopDeadlinePassed)
        {
            TrySetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            faulted = true;
            TrySetException(ex);
        }
        finally
        {
            _counters.OnFinished(faulted);
        }
    }

    public bool TryCancel()
    {
        if (Interlocked.CompareExchange(ref _state, Cancelled, Waiting) != Waiting)
        {
            return false;
        }

        _counters.OnCancelled();
        TrySetCanceled();
        return true;
    }
}
