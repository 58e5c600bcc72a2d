using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Sockeye.Diagnostics;
using Sockeye.Pools;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Pools;

/// <summary>A worker pool's counters reach a metrics listener, tagged with the pool's name. Each
/// collector is bound to the pool's own meter: other tests' pools publish the same instruments.</summary>
public sealed class WorkerPoolMetricsTests
{
    [Fact]
    public async Task QueuedRunningAndFinishedJobsArePublishedByOutcome()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { Name = "hashing", MaxConcurrency = 1, QueueCapacity = 1 });
        var meter = pool.Meter!;
        using var queued = new MetricCollector<long>(meter, SockeyeMetrics.PoolJobsQueued);
        using var running = new MetricCollector<long>(meter, SockeyeMetrics.PoolJobsRunning);
        using var jobs = new MetricCollector<long>(meter, SockeyeMetrics.PoolJobs);
        using var wait = new MetricCollector<double>(meter, SockeyeMetrics.PoolQueueWait);

        using var release = new ManualResetEventSlim();
        var blocker = await pool.SubmitAsync(token => release.Wait(Loopback.Patience, token));
        await Loopback.EventuallyAsync(() => pool.Counters.Running == 1, "the first job runs");
        var waiting = await pool.SubmitAsync<int>(_ => throw new InvalidOperationException("a job that fails"));
        Assert.False(pool.TrySubmit(_ => 0, out _)); // the queue holds one: this one is rejected

        Assert.Equal(1, Latest(queued));
        Assert.Equal(1, Latest(running));
        Assert.Equal("hashing", queued.LastMeasurement!.Tags[SockeyeMetrics.PoolNameTag]);

        release.Set();
        await blocker;
        await Assert.ThrowsAsync<InvalidOperationException>(() => waiting);
        await Loopback.EventuallyAsync(() => pool.Counters.Completed == 2, "both jobs finished");

        Assert.Equal(0, Latest(queued));
        Assert.Equal(0, Latest(running));
        jobs.Clear();
        jobs.RecordObservableInstruments();
        var byOutcome = jobs.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags[SockeyeMetrics.PoolOutcomeTag]!, m => m.Value);
        Assert.Equal(1, byOutcome["succeeded"]);
        Assert.Equal(1, byOutcome["faulted"]);
        Assert.Equal(0, byOutcome["cancelled"]);
        Assert.Equal(1, byOutcome["rejected"]);

        // The second job waited for the first one: the summed wait is above zero.
        wait.RecordObservableInstruments();
        Assert.True(wait.LastMeasurement!.Value > 0);
    }

    [Fact]
    public async Task AStoppedPoolWithdrawsItsInstruments()
    {
        var pool = new WorkerPool(new WorkerPoolOptions { Name = "short-lived" });
        using var running = new MetricCollector<long>(pool.Meter!, SockeyeMetrics.PoolJobsRunning);
        running.RecordObservableInstruments();
        Assert.Single(running.GetMeasurementSnapshot());

        await pool.StopAsync(Loopback.Patience);
        running.Clear();
        running.RecordObservableInstruments();
        Assert.Empty(running.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task APoolWithMetricsOffHasNoMeter()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { EnableMetrics = false });
        Assert.Null(pool.Meter);
        Assert.Equal(1, await await pool.SubmitAsync(_ => 1));
    }

    [Fact]
    public void AnEmptyNameIsRefusedWithTheOptionNamed()
    {
        var error = Assert.Throws<ArgumentException>(() => new WorkerPoolOptions { Name = " " }.Validate());
        Assert.Contains("Name", error.Message, StringComparison.Ordinal);
    }

    private static long Latest(MetricCollector<long> collector)
    {
        collector.RecordObservableInstruments();
        return collector.LastMeasurement!.Value;
    }
}
