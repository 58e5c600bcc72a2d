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
    public void TimerTicksAtTheResolutionOnTheServersClock()
    {
        var clock = new FakeTimeProvider();
        using var scanner = new DeadlineScanner(clock, TimeSpan.FromMilliseconds(250));
        scanner.Start();

        clock.Advance(TimeSpan.FromMilliseconds(249));
        Assert.Equal(0, scanner.Scans);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, scanner.Scans);
        for (var i = 0; i < 4; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(250));
        }

        Assert.Equal(5, scanner.Scans);
    }
}
