using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Sockeye.Pools;

namespace Sockeye.Benchmarks;

/// <summary>
/// A burst of 100,000 small CPU jobs (SHA-256 of 256 bytes, about a microsecond each) submitted at
/// once: <c>Task.Run</c> for each, against a <see cref="WorkerPool"/> with one worker per core and a
/// queue of 1,024. Time and bytes allocated per burst; <see cref="WorkerPoolBurst"/> measures what
/// BenchmarkDotNet cannot (queue wait per job, thread-pool latency meanwhile, live heap).
/// </summary>
[MemoryDiagnoser]
public class WorkerPoolBenchmarks
{
    /// <summary>Jobs per burst.</summary>
    public const int Jobs = 100_000;

    private readonly Task<int>[] _tasks = new Task<int>[Jobs];
    private WorkerPool _pool = null!;

    [GlobalSetup]
    public void Setup() => _pool = new WorkerPool(new WorkerPoolOptions { MaxConcurrency = Environment.ProcessorCount, QueueCapacity = 1024 });

    [GlobalCleanup]
    public void Cleanup() => _pool.StopAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "Task.Run x 100,000")]
    public async Task<int> TaskRun()
    {
        for (var i = 0; i < Jobs; i++)
        {
            var n = i;
            _tasks[i] = Task.Run(() => Job(n));
        }

        return (await Task.WhenAll(_tasks))[^1];
    }

    [Benchmark(Description = "WorkerPool.SubmitAsync x 100,000")]
    public async Task<int> WorkerPoolSubmit()
    {
        for (var i = 0; i < Jobs; i++)
        {
            var n = i;
            _tasks[i] = await _pool.SubmitAsync(_ => Job(n));
        }

        return (await Task.WhenAll(_tasks))[^1];
    }

    /// <summary>The job: hash 256 bytes derived from <paramref name="n"/>.</summary>
    public static int Job(int n)
    {
        Span<byte> data = stackalloc byte[256];
        data.Fill((byte)n);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        return hash[0];
    }
}
