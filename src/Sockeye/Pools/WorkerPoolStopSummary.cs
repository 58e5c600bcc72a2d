namespace Sockeye.Pools;

/// <summary>
/// What <see cref="WorkerPool.StopAsync(TimeSpan, CancellationToken)"/> did: how many jobs were waiting
/// when it began, how many of them had to be cancelled at the deadline, and how many jobs were still
/// running when it returned.
/// </summary>
/// <param name="Queued">Jobs waiting for a worker when stopping began.</param>
/// <param name="Cancelled">Waiting jobs cancelled, unstarted, because the deadline passed.</param>
/// <param name="StillRunning">Jobs still running when the stop returned: their code ignored the
/// cancellation token it was given, and they finish on their own.</param>
/// <param name="Elapsed">How long stopping took.</param>
public readonly record struct WorkerPoolStopSummary(long Queued, long Cancelled, long StillRunning, TimeSpan Elapsed)
{
    /// <summary>Whether every job finished: none was cancelled and none is still running.</summary>
    public bool IsClean => Cancelled == 0 && StillRunning == 0;
}
