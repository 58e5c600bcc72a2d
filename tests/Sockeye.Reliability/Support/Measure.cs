using System.Diagnostics;

namespace Sockeye.Reliability.Support;

/// <summary>Small statistics and bounded helpers the scenarios share.</summary>
internal static class Measure
{
    /// <summary>The <paramref name="percentile"/> (0–100) of <paramref name="samples"/>, nearest rank.</summary>
    public static TimeSpan Percentile(IReadOnlyCollection<TimeSpan> samples, double percentile)
    {
        if (samples.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Milliseconds with one decimal, for figures.</summary>
    public static string Ms(TimeSpan value) => FormattableString.Invariant($"{value.TotalMilliseconds:F1} ms");

    /// <summary>Mebibytes with one decimal, for figures.</summary>
    public static string MiB(long bytes) => FormattableString.Invariant($"{bytes / 1048576.0:F1} MiB");

    /// <summary>Raises <paramref name="target"/> to <paramref name="value"/> if it is larger.</summary>
    public static void InterlockedMax(ref int target, int value)
    {
        for (var current = Volatile.Read(ref target); value > current; current = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, current) == current)
            {
                return;
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> for each item with at most <paramref name="parallel"/> at once.</summary>
    public static async Task<TResult[]> InBatchesAsync<TItem, TResult>(IReadOnlyList<TItem> items, int parallel, Func<TItem, Task<TResult>> work)
    {
        var results = new TResult[items.Count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < items.Count)
            {
                results[i] = await work(items[i]);
            }
        }));
        return results;
    }

    /// <summary>Elapsed time since <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public static TimeSpan Since(long timestamp) => Stopwatch.GetElapsedTime(timestamp);
}
