using System.Diagnostics.Metrics;
using Sockeye.Pools;

namespace Sockeye.Diagnostics;

/// <summary>
/// One worker pool's instruments on its own <see cref="Meter"/> (named
/// <see cref="SockeyeMetrics.MeterName"/>): observable instruments that read the pool's
/// <see cref="WorkerPoolCounters"/> when a listener collects, so nothing is recorded per job.
/// </summary>
internal sealed class WorkerPoolMetrics : IDisposable
{
    private readonly Meter _meter;

    /// <summary>Publishes <paramref name="counters"/> tagged with the pool's <paramref name="name"/>.</summary>
    public WorkerPoolMetrics(WorkerPoolCounters counters, string name)
    {
        var tags = new KeyValuePair<string, object?>[] { new(SockeyeMetrics.PoolNameTag, name) };
        var succeeded = MetricTags.With(tags, SockeyeMetrics.PoolOutcomeTag, "succeeded");
        var faulted = MetricTags.With(tags, SockeyeMetrics.PoolOutcomeTag, "faulted");
        var cancelled = MetricTags.With(tags, SockeyeMetrics.PoolOutcomeTag, "cancelled");
        var rejected = MetricTags.With(tags, SockeyeMetrics.PoolOutcomeTag, "rejected");
        _meter = new Meter(SockeyeMetrics.MeterName, typeof(WorkerPoolMetrics).Assembly.GetName().Version?.ToString(3));

        _meter.CreateObservableUpDownCounter(SockeyeMetrics.PoolJobsQueued, () => new Measurement<long>(counters.Queued, tags),
            "{job}", "Jobs waiting for a worker.");
        _meter.CreateObservableUpDownCounter(SockeyeMetrics.PoolJobsRunning, () => new Measurement<long>(counters.Running, tags),
            "{job}", "Jobs running now.");
        _meter.CreateObservableCounter(SockeyeMetrics.PoolJobs, () =>
            {
                // Faulted is read first: a job finishing between the two reads then shows as succeeded
                // a collection early, never as a negative count.
                var faults = counters.Faulted;
                return new[]
                {
                    new Measurement<long>(counters.Completed - faults, succeeded),
                    new Measurement<long>(faults, faulted),
                    new Measurement<long>(counters.Cancelled, cancelled),
                    new Measurement<long>(counters.Rejected, rejected),
                };
            },
            "{job}", "Jobs the pool is done with: succeeded, faulted (threw), cancelled before starting, rejected.");
        _meter.CreateObservableCounter(SockeyeMetrics.PoolQueueWait, () => new Measurement<double>(counters.TotalQueueWait.TotalSeconds, tags),
            "s", "Time started jobs waited for a worker, added up.");
    }

    /// <summary>The meter, for tests that collect from this pool's instruments only.</summary>
    internal Meter Meter => _meter;

    /// <summary>Withdraws the instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
