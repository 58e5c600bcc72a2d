using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;

namespace Sockeye.Benchmarks;

/// <summary>
/// samples/Kv's keyspace choice, measured (issue 18: "one shard per core or one lock-free map — measure
/// and say which and why"): the three designs holding the same 100,000 keys of 16 bytes with 64-byte
/// values, under a GET/SET mix (half each, keys drawn at random), from one thread and from two at once.
/// <list type="bullet">
/// <item><c>OneLock</c>: one <see cref="Dictionary{TKey,TValue}"/> behind one lock, taken once per
/// <see cref="Batch"/> commands — what Kv does (a pipelined read's commands run under one acquisition).</item>
/// <item><c>ShardPerCore</c>: one dictionary and lock per core, the key's hash picks the shard, a lock per
/// command (commands of one batch land on different shards).</item>
/// <item><c>LockFreeMap</c>: one <see cref="ConcurrentDictionary{TKey,TValue}"/>, no lock of ours.</item>
/// </list>
/// The values are swapped, not allocated, so the figure is the map and its locking alone. What none of the
/// three give for free is Redis's atomicity of compound commands (INCR, MSET, SPOP, SET ... GET): the lock
/// gives it; the shards need every shard a command touches locked in order; the lock-free map needs a
/// lock per value or compare-and-swap loops.
/// </summary>
public class KeyspaceDesignBenchmarks
{
    private const int Keys = 100_000;
    private const int OperationsPerThread = 200_000;

    private readonly object _lock = new();
    private Dictionary<byte[], byte[]> _one = null!;
    private (Dictionary<byte[], byte[]> Map, object Lock)[] _shards = [];
    private ConcurrentDictionary<byte[], byte[]> _free = null!;
    private byte[][] _keys = [];
    private int[][] _plans = [];
    private byte[][] _values = [];

    /// <summary>The keyspace design.</summary>
    [Params("OneLock", "ShardPerCore", "LockFreeMap")]
    public string Design { get; set; } = "OneLock";

    /// <summary>Threads running commands at once (each a poll thread of Kv's inline engine).</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Commands per lock acquisition for <c>OneLock</c>: 1 unpipelined, 16 as redis-benchmark's -P 16.</summary>
    [Params(1, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(18);
        _keys = new byte[Keys][];
        for (var i = 0; i < Keys; i++)
        {
            _keys[i] = new byte[16];
            random.NextBytes(_keys[i]);
        }

        _values = [.. Enumerable.Range(0, 64).Select(_ => new byte[64])];
        _one = new Dictionary<byte[], byte[]>(Keys, ByteKeys.Instance);
        var shards = Math.Max(2, Environment.ProcessorCount);
        _shards = [.. Enumerable.Range(0, shards).Select(_ => (new Dictionary<byte[], byte[]>(Keys / shards * 2, ByteKeys.Instance), new object()))];
        _free = new ConcurrentDictionary<byte[], byte[]>(Environment.ProcessorCount, Keys, ByteKeys.Instance);
        foreach (var key in _keys)
        {
            _one[key] = _values[0];
            Shard(key).Map[key] = _values[0];
            _free[key] = _values[0];
        }

        // One plan of key indexes per thread; an odd index is a SET, an even one a GET.
        _plans = [.. Enumerable.Range(0, 2).Select(t =>
        {
            var r = new Random(100 + t);
            return Enumerable.Range(0, OperationsPerThread).Select(_ => r.Next(Keys)).ToArray();
        })];
    }

    [Benchmark(OperationsPerInvoke = OperationsPerThread)]
    public int Commands()
    {
        if (Threads == 1)
        {
            return Run(_plans[0]);
        }

        var other = Task.Factory.StartNew(() => Run(_plans[1]), TaskCreationOptions.LongRunning);
        return Run(_plans[0]) + other.GetAwaiter().GetResult();
    }

    private int Run(int[] plan)
    {
        var hits = 0;
        switch (Design)
        {
            case "OneLock":
                for (var start = 0; start < plan.Length; start += Batch)
                {
                    lock (_lock)
                    {
                        var end = Math.Min(plan.Length, start + Batch);
                        for (var i = start; i < end; i++)
                        {
                            hits += Apply(_one, plan[i]);
                        }
                    }
                }

                break;
            case "ShardPerCore":
                foreach (var index in plan)
                {
                    var shard = Shard(_keys[index]);
                    lock (shard.Lock)
                    {
                        hits += Apply(shard.Map, index);
                    }
                }

                break;
            default:
                foreach (var index in plan)
                {
                    var key = _keys[index];
                    if ((index & 1) == 0)
                    {
                        hits += _free.TryGetValue(key, out var value) ? value.Length : 0;
                    }
                    else
                    {
                        _free[key] = _values[index & 63];
                    }
                }

                break;
        }

        return hits;
    }

    private int Apply(Dictionary<byte[], byte[]> map, int index)
    {
        var key = _keys[index];
        if ((index & 1) == 0)
        {
            return map.TryGetValue(key, out var value) ? value.Length : 0;
        }

        map[key] = _values[index & 63];
        return 0;
    }

    private (Dictionary<byte[], byte[]> Map, object Lock) Shard(byte[] key) =>
        _shards[(int)((uint)ByteKeys.Instance.GetHashCode(key) % (uint)_shards.Length)];

    private sealed class ByteKeys : IEqualityComparer<byte[]>
    {
        public static readonly ByteKeys Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = default(HashCode);
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
