using Microsoft.Extensions.Time.Testing;
using Sockeye.Timing;

namespace Sockeye.Tests.Deadlines;

public sealed class DeadlineScannerTests
{
    private sealed class Target : IDeadlineTarget
    {
        public List<long> Calls { get; } = [];

        public void OnDeadlineDue(long now) => Calls.Add(now);
    }

    [Fact]
    public void ScanCallsOnlyOwnersWhoseSlotIsDue()
    {
        var clock = new FakeTimeProvider();
        var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(100));
        var targets = Enumerable.Range(0, 3000).Select(_ => new Target()).ToArray();
        var slots = targets.Select(scanner.Register).ToArray();
        var now = scanner.Now;
        slots[5].Chunk.Slots[slots[5].Index].Idle = now;            // due
        slots[1500].Chunk.Slots[slots[1500].Index].Write = now - 1; // due, in the second chunk
        slots[2999].Chunk.Slots[slots[2999].Index].Read = now + 1;  // not yet

        Assert.Equal(2, scanner.Scan(now));
        Assert.Equal([now], targets[5].Calls);
        Assert.Equal([now], targets[1500].Calls);
        Assert.Empty(targets[2999].Calls);
        Assert.Equal(3000 - 2, targets.Count(t => t.Calls.Count == 0));
    }

    [Fact]
    public void AFreedSlotIsReusedClearedAndNoLongerCallsItsOldOwner()
    {
        var clock = new FakeTimeProvider();
        var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(100));
        var first = new Target();
        var (chunk, index) = scanner.Register(first);
        chunk.Slots[index].Idle = scanner.Now;
        scanner.Unregister(chunk, index);

        Assert.Equal(0, scanner.Scan(scanner.Now));
        var second = new Target();
        var reused = scanner.Register(second);

        Assert.Same(chunk, reused.Chunk);
        Assert.Equal(index, reused.Index);
        Assert.Equal(long.MaxValue, reused.Chunk.Slots[reused.Index].Earliest);
        Assert.Equal(1, scanner.Registered);
        Assert.Empty(first.Calls);
    }

    [Fact]
    public void WithNothingToTimeTheTimerSleeps()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();
        scanner.Register(new Target()); // a slot with no hint

        clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(0, scanner.Scans);
        Assert.Null(scanner.NextTick);
    }

    [Fact]
    public void AnArmedHintBringsTheTickToItsTimeAndTheTimerSleepsAgainAfterIt()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();
        var target = new Target();
        var (chunk, index) = scanner.Register(target);
        var due = scanner.Now + scanner.ToTicks(TimeSpan.FromSeconds(3));
        chunk.Slots[index].Idle = due;
        scanner.Armed(due);

        clock.Advance(TimeSpan.FromMilliseconds(2999));
        Assert.Equal(0, scanner.Scans); // not every 250 ms: nothing can be due before 3 s
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, scanner.Scans);
        Assert.Single(target.Calls);
        Assert.True(target.Calls[0] >= due, "never early");

        chunk.Slots[index] = TimerSlot.Empty; // the owner cleared it (after the scan: one more tick looks)
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(scanner.NextTick);
        var scans = scanner.Scans;
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(scans, scanner.Scans);
    }

    [Fact]
    public void AHintPushedLaterIsFoundByTheTickSetForTheOldTime()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();
        var target = new Target();
        var (chunk, index) = scanner.Register(target);
        chunk.Slots[index].Idle = scanner.Now + scanner.ToTicks(TimeSpan.FromSeconds(1));
        scanner.Armed(chunk.Slots[index].Idle);
        clock.Advance(TimeSpan.FromMilliseconds(500));
        var pushed = scanner.Now + scanner.ToTicks(TimeSpan.FromSeconds(1));
        chunk.Slots[index].Idle = pushed; // a receive restarted the idle clock: no Armed

        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, scanner.Scans); // the tick for the old time came, found nothing due,
        Assert.Empty(target.Calls);
        Assert.Equal(pushed, scanner.NextTick); // and set the next for the new one
        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(2, scanner.Scans);
        Assert.Single(target.Calls);
    }

    [Fact]
    public void TicksNeverComeFasterThanTheResolution()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();
        var (chunk, index) = scanner.Register(new Target());
        for (var step = 0; step < 100; step++)
        {
            // A hint due 10 ms ahead, over and over (a fast rate check, say).
            var due = scanner.Now + scanner.ToTicks(TimeSpan.FromMilliseconds(10));
            chunk.Slots[index].Read = due;
            scanner.Armed(due);
            clock.Advance(TimeSpan.FromMilliseconds(10));
        }

        // 1 s of time: the first tick at 10 ms, then one per 250 ms at most.
        Assert.InRange(scanner.Scans, 4, 5);
    }

    [Fact]
    public void AHintArmedByAnOwnerDuringAScanSetsTheNextTick()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();
        var later = new Target();
        var second = scanner.Register(later);
        var arming = new ArmingTarget(scanner, second.Chunk, second.Index, TimeSpan.FromSeconds(2));
        var first = scanner.Register(arming);
        arming.Own = first;
        var due = scanner.Now + scanner.ToTicks(TimeSpan.FromSeconds(1));
        first.Chunk.Slots[first.Index].Idle = due;
        scanner.Armed(due);

        clock.Advance(TimeSpan.FromSeconds(1)); // the scan calls the first owner, which arms the second slot
        Assert.Equal(1, scanner.Scans);
        Assert.Empty(later.Calls);
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, scanner.Scans);
        Assert.Single(later.Calls);
    }

    [Fact]
    public async Task ArmsFromManyThreadsWhileTheTimerScansAreNeverLost()
    {
        // Real clock, real timer: threads arm hints a little ahead while scans run; every armed hint must
        // be called within a bound, including those armed while a scan was in progress.
        using var scanner = new DeadlineScanner(TimeProvider.System, TimeSpan.FromMilliseconds(10));
        scanner.Start();
        const int Threads = 4;
        const int PerThread = 200;
        var targets = Enumerable.Range(0, Threads * PerThread).Select(_ => new CountingTarget()).ToArray();
        var slots = targets.Select(t => scanner.Register(t)).ToArray();
        var arming = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var k = 0; k < PerThread; k++)
            {
                var (chunk, index) = slots[(t * PerThread) + k];
                var due = scanner.Now + scanner.ToTicks(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 30)));
                Volatile.Write(ref chunk.Slots[index].Idle, due);
                scanner.Armed(due);
                if (k % 20 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        })).ToArray();
        await Task.WhenAll(arming);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (targets.Any(t => t.Calls == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, targets.Count(t => t.Calls == 0));
    }

    private sealed class CountingTarget : IDeadlineTarget
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public void OnDeadlineDue(long now) => Interlocked.Increment(ref _calls);
    }

    private sealed class ArmingTarget(DeadlineScanner scanner, TimerChunk chunk, int index, TimeSpan after) : IDeadlineTarget
    {
        public (TimerChunk Chunk, int Index) Own { get; set; }

        public void OnDeadlineDue(long now)
        {
            Own.Chunk.Slots[Own.Index] = TimerSlot.Empty; // done with its own hint, as a connection is
            var due = now + scanner.ToTicks(after);
            chunk.Slots[index].Idle = due;
            scanner.Armed(due);
        }
    }
}
