using BenchmarkDotNet.Attributes;
using Sockeye.Timing;

namespace Sockeye.Benchmarks;

/// <summary>
/// The cost of the shared deadline scan with 100,000 registered connections: one pass (what each timer
/// tick costs), one register/unregister pair (what each accept and close costs), and the hot-path
/// write a receive makes. With the default 250 ms resolution the scan runs 4 times a second, so its
/// share of one core is <c>4 × Scan</c> per second.
/// </summary>
[MemoryDiagnoser]
public class DeadlineScanBenchmarks
{
    private sealed class IdleTarget : IDeadlineTarget
    {
        public void OnDeadlineDue(long now)
        {
        }
    }

    private DeadlineScanner _scanner = null!;
    private (TimerChunk Chunk, int Index)[] _slots = [];
    private long _now;

    /// <summary>Registered connections.</summary>
    [Params(100_000, 1_000_000)]
    public int Connections { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _scanner = new DeadlineScanner(TimeProvider.System, TimeSpan.FromMilliseconds(250));
        _now = _scanner.Now;
        var idle = _scanner.ToTicks(TimeSpan.FromMinutes(2));
        _slots = new (TimerChunk, int)[Connections];
        for (var i = 0; i < Connections; i++)
        {
            // Idle connections: an idle timeout two minutes out, no read or send pending.
            _slots[i] = _scanner.Register(new IdleTarget());
            _slots[i].Chunk.Slots[_slots[i].Index].Idle = _now + idle;
        }
    }

    /// <summary>One timer tick: a pass over every slot, none due.</summary>
    [Benchmark]
    public int Scan() => _scanner.Scan(_now);

    /// <summary>What an accept and a close add: take a slot and give it back.</summary>
    [Benchmark]
    public void RegisterAndUnregister()
    {
        var (chunk, index) = _scanner.Register(new IdleTarget());
        _scanner.Unregister(chunk, index);
    }

    /// <summary>What a receive adds: read the clock, write the idle expiry.</summary>
    [Benchmark]
    public void TouchIdle()
    {
        var (chunk, index) = _slots[12_345];
        chunk.Slots[index].Idle = _scanner.Now + 1_000_000;
    }
}
