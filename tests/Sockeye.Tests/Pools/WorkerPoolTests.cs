using Microsoft.Extensions.Time.Testing;
using Sockeye.Pools;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Pools;

public class WorkerPoolTests
{
    [Fact]
    public async Task ConcurrencyNeverExceedsTheCapAndReachesIt()
    {
        const int cap = 3;
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = cap, QueueCapacity = 16 });
        var running = 0;
        var maxSeen = 0;
        using var allRunning = new CountdownEvent(cap);

        int Job(int i)
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxSeen, now);

            // The first jobs hold their workers until every worker is busy, so the cap is reached for certain.
            if (i < cap)
            {
                allRunning.Signal();
                allRunning.Wait(Loopback.Patience);
            }
            else
            {
                Thread.SpinWait(2_000);
            }

            Interlocked.Decrement(ref running);
            return i;
        }

        var jobs = new List<Task<int>>();
        for (var i = 0; i < 300; i++)
        {
            var n = i;
            jobs.Add(await pool.SubmitAsync(_ => Job(n)).AsTask().WaitAsync(Loopback.Patience));
        }

        var results = await Task.WhenAll(jobs).WaitAsync(Loopback.Patience);

        Assert.Equal(Enumerable.Range(0, 300), results);
        Assert.Equal(cap, maxSeen);
        Assert.Equal(300, pool.Counters.Completed);
        Assert.Equal(0, pool.Counters.Running);
        Assert.Equal(0, pool.Counters.Queued);
    }

    [Fact]
    public async Task AFullQueueMakesSubmitAsyncWaitAndTrySubmitFail()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, QueueCapacity = 2 });
        using var gate = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = await pool.SubmitAsync(_ =>
        {
            started.SetResult();
            Hold(gate);
            return 0;
        });
        await started.Task.WaitAsync(Loopback.Patience);
        var queued1 = await pool.SubmitAsync(_ => 1);
        var queued2 = await pool.SubmitAsync(_ => 2);

        Assert.False(pool.TrySubmit(_ => 3, out var refused));
        Assert.Null(refused);
        Assert.Equal(1, pool.Counters.Rejected);
        Assert.Equal(2, pool.Counters.Queued);

        var waiting = pool.SubmitAsync(_ => 4).AsTask();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "SubmitAsync returned although the queue was full");

        gate.Set();
        var admitted = await waiting.WaitAsync(Loopback.Patience);
        Assert.Equal(new[] { 0, 1, 2, 4 }, await Task.WhenAll(blocker, queued1, queued2, admitted).WaitAsync(Loopback.Patience));
        Assert.Equal(1, pool.Counters.Rejected);
    }

    [Fact]
    public async Task ACallerThatGivesUpWaitingForRoomIsNotQueued()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, QueueCapacity = 1 });
        using var gate = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = await pool.SubmitAsync(_ => { started.SetResult(); Hold(gate); return 0; });
        await started.Task.WaitAsync(Loopback.Patience);
        var queued = await pool.SubmitAsync(_ => 1);
        var ran = false;
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.SubmitAsync(_ => ran = true, giveUp.Token).AsTask().WaitAsync(Loopback.Patience));

        gate.Set();
        await Task.WhenAll(blocker, queued).WaitAsync(Loopback.Patience);
        Assert.False(ran);
        Assert.Equal(2, pool.Counters.Completed);
    }

    [Fact]
    public async Task AQueuedJobCancelledByItsCallerNeverRuns()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, QueueCapacity = 4 });
        using var gate = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = await pool.SubmitAsync(_ => { started.SetResult(); Hold(gate); return 0; });
        await started.Task.WaitAsync(Loopback.Patience);
        using var cancel = new CancellationTokenSource();
        var ran = false;
        var queued = await pool.SubmitAsync(_ => ran = true, cancel.Token);

        await cancel.CancelAsync();
        gate.Set();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(Loopback.Patience));
        await blocker.WaitAsync(Loopback.Patience);
        Assert.False(ran);
        Assert.Equal(1, pool.Counters.Cancelled);
    }

    [Fact]
    public async Task ExceptionsReachTheCallerAndTheWorkerGoesOn()
    {
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1 });

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(
            () => pool.RunAsync<int>(_ => throw new InvalidOperationException("bad input 42")).WaitAsync(Loopback.Patience));

        Assert.Equal("bad input 42", thrown.Message);
        Assert.Equal(7, await pool.RunAsync(_ => 7).WaitAsync(Loopback.Patience));
        Assert.Equal(1, pool.Counters.Faulted);
        Assert.Equal(2, pool.Counters.Completed);
    }

    [Fact]
    public async Task StopFinishesQueuedWorkAndRefusesNewWork()
    {
        var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, QueueCapacity = 10 });
        using var gate = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = await pool.SubmitAsync(_ => { started.SetResult(); Hold(gate); return -1; });
        await started.Task.WaitAsync(Loopback.Patience);
        var queued = new List<Task<int>>();
        for (var i = 0; i < 5; i++)
        {
            var n = i;
            queued.Add(await pool.SubmitAsync(_ => n * n));
        }

        var stopping = pool.StopAsync(TimeSpan.FromSeconds(20));
        Assert.False(pool.TrySubmit(_ => 99, out _));
        await Assert.ThrowsAsync<InvalidOperationException>(() => pool.SubmitAsync(_ => 99).AsTask());
        gate.Set();
        var summary = await stopping.WaitAsync(Loopback.Patience);

        Assert.Equal(new[] { 0, 1, 4, 9, 16 }, await Task.WhenAll(queued));
        Assert.Equal(-1, await blocker);
        Assert.Equal(new WorkerPoolStopSummary(5, 0, 0, summary.Elapsed), summary);
        Assert.True(summary.IsClean);
        Assert.Equal(2, pool.Counters.Rejected);
    }

    [Fact]
    public async Task StopCancelsWhatIsStillQueuedAtTheDeadlineAndSignalsRunningJobs()
    {
        var clock = new FakeTimeProvider();
        var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, QueueCapacity = 10, TimeProvider = clock });
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawDeadline = false;
        var blocker = await pool.SubmitAsync(token =>
        {
            started.SetResult();
            sawDeadline = token.WaitHandle.WaitOne(Loopback.Patience);
            return 0;
        });
        await started.Task.WaitAsync(Loopback.Patience);
        var queued = new List<Task<int>>();
        for (var i = 0; i < 3; i++)
        {
            queued.Add(await pool.SubmitAsync(_ => 1));
        }

        var stopping = pool.StopAsync(TimeSpan.FromSeconds(5));
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(stopping.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var summary = await stopping.WaitAsync(Loopback.Patience);

        Assert.Equal(3, summary.Queued);
        Assert.Equal(3, summary.Cancelled);
        foreach (var job in queued)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job);
        }

        await blocker.WaitAsync(Loopback.Patience);
        Assert.True(sawDeadline);
        Assert.Equal(3, pool.Counters.Cancelled);
    }

    [Fact]
    public async Task QueueWaitIsMeasuredOnThePoolsClock()
    {
        var clock = new FakeTimeProvider();
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = 1, TimeProvider = clock });
        using var gate = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = await pool.SubmitAsync(_ => { started.SetResult(); Hold(gate); return 0; });
        await started.Task.WaitAsync(Loopback.Patience);
        var queued = await pool.SubmitAsync(_ => 1);

        clock.Advance(TimeSpan.FromSeconds(3));
        gate.Set();
        await Task.WhenAll(blocker, queued).WaitAsync(Loopback.Patience);

        Assert.Equal(TimeSpan.FromSeconds(3), pool.Counters.MaxQueueWait);
        Assert.Equal(TimeSpan.FromSeconds(3), pool.Counters.TotalQueueWait);
        Assert.Equal(2, pool.Counters.Started);
    }

    [Theory]
    [InlineData(0, 10, "MaxConcurrency must be at least 1, got 0")]
    [InlineData(2, -1, "QueueCapacity must be at least 1, got -1")]
    public void BadOptionsAreRefusedByName(int concurrency, int capacity, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => new WorkerPool(new WorkerPoolOptions { MaxConcurrency = concurrency, QueueCapacity = capacity }));
        Assert.StartsWith(message, ex.Message, StringComparison.Ordinal);
    }

    // Blocks a worker the way a CPU-heavy or blocking job would, until the test lets it go.
    private static void Hold(ManualResetEventSlim gate) => Assert.True(gate.Wait(Loopback.Patience), "the gate was never opened");

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
