using Microsoft.Extensions.Time.Testing;
using Sockeye.Timing;

namespace Sockeye.Tests.Scale;

/// <summary>
/// The per-connection tables a server keeps, filled to a million entries without a million sockets: what
/// one process with a large descriptor limit would hold (docs/TUNING.md, "Limits of one process").
/// </summary>
public sealed class MillionEntryTests
{
    private const int Million = 1_000_000;

    private sealed class CountingTarget : IDeadlineTarget
    {
        public int Calls;

        public void OnDeadlineDue(long now) => Interlocked.Increment(ref Calls);
    }

    [Fact]
    public void TheDeadlineScannerHoldsAMillionSlotsInAboutThirtyTwoBytesEachAndCallsOnlyTheDueOnes()
    {
        var scanner = new DeadlineScanner(new FakeTimeProvider(), TimeSpan.FromMilliseconds(250));
        var target = new CountingTarget(); // one owner for every slot: the owners are connections, not the table
        var slots = new (TimerChunk Chunk, int Index)[Million];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < Million; i++)
        {
            slots[i] = scanner.Register(target);
        }

        var perSlot = (double)(GC.GetTotalMemory(forceFullCollection: true) - before) / Million;

        // 24 B of expiry hints + an 8 B owner reference per slot; the chunk list adds a few bytes per 1,024.
        Assert.InRange(perSlot, 24, 40);
        Assert.Equal(Million, scanner.Registered);

        var now = scanner.Now;
        for (var i = 0; i < Million; i += 1000)
        {
            slots[i].Chunk.Slots[slots[i].Index].Idle = now; // 1,000 due, spread over the whole table
        }

        slots[Million - 1].Chunk.Slots[slots[Million - 1].Index].Write = now + 1; // not yet

        Assert.Equal(1000, scanner.Scan(now));
        Assert.Equal(1000, target.Calls);
    }

    [Fact]
    public void AMillionSlotsGivenBackAreReusedWithoutTheTableGrowing()
    {
        var scanner = new DeadlineScanner(new FakeTimeProvider(), TimeSpan.FromMilliseconds(250));
        var target = new CountingTarget();
        var slots = new (TimerChunk Chunk, int Index)[Million];
        for (var i = 0; i < Million; i++)
        {
            slots[i] = scanner.Register(target);
        }

        foreach (var (chunk, index) in slots)
        {
            scanner.Unregister(chunk, index);
        }

        Assert.Equal(0, scanner.Registered);

        // GC.GetTotalMemory counts the whole process, and the suite's other tests allocate meanwhile: a
        // reading over the bound is taken again (all slots given back and registered anew) up to three
        // times, and the least growth is judged.
        HashSet<TimerChunk> chunks = null!;
        var grown = long.MaxValue;
        var bound = ((Million + TimerChunk.Size - 1) / TimerChunk.Size * 64L) + (1 << 20);
        for (var attempt = 0; attempt < 3 && grown > bound; attempt++)
        {
            if (chunks is not null)
            {
                foreach (var chunk in chunks)
                {
                    for (var index = 0; index < TimerChunk.Size && chunk.FirstSlot + index < Million; index++)
                    {
                        scanner.Unregister(chunk, index);
                    }
                }

                Assert.Equal(0, scanner.Registered);
            }

            var before = GC.GetTotalMemory(forceFullCollection: true);
            chunks = new HashSet<TimerChunk>(ReferenceEqualityComparer.Instance);
            for (var i = 0; i < Million; i++)
            {
                chunks.Add(scanner.Register(target).Chunk);
            }

            grown = Math.Min(grown, GC.GetTotalMemory(forceFullCollection: true) - before);
        }

        // Every slot came back from the free list: the same 977 chunks, no new ones.
        Assert.Equal((Million + TimerChunk.Size - 1) / TimerChunk.Size, chunks.Count);
        Assert.All(slots.Select(s => s.Chunk).Distinct(), chunk => Assert.Contains(chunk, chunks));
        Assert.InRange(grown, long.MinValue, (chunks.Count * 64L) + (1 << 20)); // the HashSet only, not the table
        Assert.Equal(0, scanner.Scan(scanner.Now)); // reused slots are cleared: nothing due
    }
}
