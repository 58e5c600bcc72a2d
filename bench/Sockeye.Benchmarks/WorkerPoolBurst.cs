using System.Diagnostics;
using Sockeye.Pools;

namespace Sockeye.Benchmarks;

/// <summary>
/// <c>--worker-pool-burst</c>: the burst of <see cref="WorkerPoolBenchmarks"/> measured for what a
/// server feels: how long each job waits before it starts, how long other thread-pool work (here a
/// probe that hops onto the pool in a loop, standing in for connections' I/O continuations) waits
/// meanwhile, and the managed heap still live once the whole burst is submitted.
/// </summary>
public static class WorkerPoolBurst
{
    /// <summary>Runs each variant once to warm up, then <paramref name="runs"/> times, and prints the medians.</summary>
    public static async Task RunAsync(int runs = 5)
    {
        Console.WriteLine($"burst of {WorkerPoolBenchmarks.Jobs:N0} jobs, {Environment.ProcessorCount} cores, {runs} runs, medians");
        Console.WriteLine("variant                     | burst ms | job wait p50 / p99 / max ms | probe hop p50 / p99 / max ms | live heap after submit MB | allocated MB");
        await using var pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = Environment.ProcessorCount, QueueCapacity = 1024 });
        foreach (var (name, submit) in new (string, Func<Func<int>, ValueTask<Task<int>>>)[]
        {
            ("Task.Run", job => ValueTask.FromResult(Task.Run(job))),
            ("WorkerPool (queue 1,024)", job => pool.SubmitAsync(_ => job())),
        })
        {
            await MeasureAsync(submit);
            var results = new List<Result>();
            for (var i = 0; i < runs; i++)
            {
                results.Add(await MeasureAsync(submit));
            }

            Result Median(Func<Result, double> key) => results.OrderBy(key).ElementAt(results.Count / 2);
            Console.WriteLine(
                $"{name,-27} | {Median(r => r.BurstMs).BurstMs,8:F0} | {Median(r => r.WaitP50).WaitP50,8:F1} / {Median(r => r.WaitP99).WaitP99,6:F1} / {Median(r => r.WaitMax).WaitMax,6:F1} | " +
                $"{Median(r => r.ProbeP50).ProbeP50,9:F2} / {Median(r => r.ProbeP99).ProbeP99,6:F2} / {Median(r => r.ProbeMax).ProbeMax,6:F2} | {Median(r => r.LiveMb).LiveMb,25:F1} | {Median(r => r.AllocatedMb).AllocatedMb,12:F1}");
        }
    }

    private sealed record Result(double BurstMs, double WaitP50, double WaitP99, double WaitMax, double ProbeP50, double ProbeP99, double ProbeMax, double LiveMb, double AllocatedMb);

    private static async Task<Result> MeasureAsync(Func<Func<int>, ValueTask<Task<int>>> submit)
    {
        const int jobs = WorkerPoolBenchmarks.Jobs;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var baseHeap = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var waits = new long[jobs];
        var probeHops = new List<long>();
        var done = 0;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();

        // The probe stands in for a socket completion: queued to the thread pool's global queue from a
        // thread outside it, as the socket engine's epoll thread does, then timed until it runs.
        var probe = new Thread(() =>
        {
            using var ran = new ManualResetEventSlim();
            while (!stop.IsCancellationRequested)
            {
                ran.Reset();
                var before = Stopwatch.GetTimestamp();
                ThreadPool.UnsafeQueueUserWorkItem(static e => e.Set(), ran, preferLocal: false);
                ran.Wait();
                probeHops.Add(Stopwatch.GetTimestamp() - before);
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        probe.Start();

        // The results are not kept (the jobs count themselves done), so what the heap holds is what the
        // scheduling holds: every queued job for Task.Run, at most the queue for the pool.
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < jobs; i++)
        {
            var n = i;
            var submitted = Stopwatch.GetTimestamp();
            _ = await submit(() =>
            {
                waits[n] = Stopwatch.GetTimestamp() - submitted;
                var result = WorkerPoolBenchmarks.Job(n);
                if (Interlocked.Increment(ref done) == jobs)
                {
                    allDone.SetResult();
                }

                return result;
            });
        }

        // Live objects once everything is submitted: the whole burst for Task.Run, the queue for the pool.
        var liveAfterSubmit = GC.GetTotalMemory(forceFullCollection: true) - baseHeap;
        await allDone.Task;
        var burst = Stopwatch.GetElapsedTime(started);
        await stop.CancelAsync();
        probe.Join();

        Array.Sort(waits);
        var hops = probeHops.Order().ToArray();
        return new Result(
            burst.TotalMilliseconds,
            Ms(waits[jobs / 2]), Ms(waits[(int)(jobs * 0.99)]), Ms(waits[^1]),
            Ms(hops[hops.Length / 2]), Ms(hops[(int)(hops.Length * 0.99)]), Ms(hops[^1]),
            liveAfterSubmit / 1e6,
            (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1e6);
    }

    private static double Ms(long timestampTicks) => timestampTicks * 1000.0 / Stopwatch.Frequency;
}
