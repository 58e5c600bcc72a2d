namespace Sockeye.Diagnostics;

/// <summary>
/// A running total that many threads add to without contending: one cell per processor (rounded up to
/// a power of two), each on its own cache line, and an add goes to the cell of the processor the thread
/// runs on. Reading sums the cells. Made for counts touched on every receive and send (bytes), where a
/// single interlocked field would bounce one cache line between the cores.
/// </summary>
/// <remarks>Safe for concurrent use. A read racing adds sees some of them: the sum is exact once the
/// adds have returned.</remarks>
internal sealed class StripedCounter
{
    // 8 longs = 64 bytes: one cell per cache line, so two cores never write the same line.
    private const int Stride = 8;

    private readonly long[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        var stripes = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _mask = stripes - 1;

        // One spare line in front, so the first cell does not share a line with the array's header.
        _cells = new long[(stripes + 1) * Stride];
    }

    /// <summary>Adds <paramref name="value"/>: one interlocked add on this processor's cell.</summary>
    public void Add(long value)
    {
        var cell = ((Thread.GetCurrentProcessorId() & _mask) + 1) * Stride;
        Interlocked.Add(ref _cells[cell], value);
    }

    /// <summary>The total of every add so far.</summary>
    public long Sum
    {
        get
        {
            long sum = 0;
            for (var cell = Stride; cell < _cells.Length; cell += Stride)
            {
                sum += Interlocked.Read(ref _cells[cell]);
            }

            return sum;
        }
    }
}
