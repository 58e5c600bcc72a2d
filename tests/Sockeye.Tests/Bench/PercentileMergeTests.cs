using HdrHistogram;
using Sockeye.Bench;

namespace Sockeye.Tests.Bench;

public class PercentileMergeTests
{
    private static BenchResult Part(long operations, params (long Nanoseconds, int Count)[] samples)
    {
        var histogram = LatencyHistogram.Create();
        foreach (var (nanoseconds, count) in samples)
        {
            histogram.RecordValueWithCount(nanoseconds, count);
        }

        return new BenchResult { Mode = "echo", Connections = 500, Processes = 1, Seconds = 10, Operations = operations, ClientCpuSeconds = 1, Histogram = LatencyHistogram.Encode(histogram) };
    }

    [Fact]
    public void MergedPercentilesAreOverEverySampleNotAnAverageOfPercentiles()
    {
        // One fast process, one slow: 98% of all samples are fast, so the merged p50 is fast and the
        // merged p99 is slow; averaging each process's p99 would give neither.
        var fast = Part(9_800, (100_000, 9_800));
        var slow = Part(200, (10_000_000, 200));
        var merged = BenchResult.Merge([fast, slow]);

        Assert.Equal(10_000, merged.Operations);
        Assert.Equal(1000, merged.Connections);
        Assert.Equal(2, merged.Processes);
        Assert.Equal(2, merged.ClientCpuSeconds);
        Assert.Equal(100, merged.P50Microseconds, tolerance: 0.1);
        Assert.Equal(100, merged.P90Microseconds, tolerance: 0.1);
        Assert.Equal(10_000, merged.P99Microseconds, tolerance: 10.0);
        Assert.Equal(10_000, merged.MaxMicroseconds, tolerance: 10.0);
        Assert.Equal(10_000, LatencyHistogram.Decode(merged.Histogram).TotalCount);
    }

    [Fact]
    public void HistogramSurvivesEncodingExactly()
    {
        var histogram = LatencyHistogram.Create();
        var random = new Random(42);
        for (var i = 0; i < 10_000; i++)
        {
            histogram.RecordValue(random.NextInt64(1_000, 50_000_000));
        }

        HistogramBase decoded = LatencyHistogram.Decode(LatencyHistogram.Encode(histogram));
        Assert.Equal(histogram.TotalCount, decoded.TotalCount);
        foreach (var percentile in new[] { 1.0, 50, 90, 99, 99.9, 100 })
        {
            Assert.Equal(histogram.GetValueAtPercentile(percentile), decoded.GetValueAtPercentile(percentile));
        }
    }

    [Fact]
    public void AWideHistogramWithLargeCountsSurvivesEncoding()
    {
        // A long churn run: about a million samples from microseconds to seconds, so nearly every
        // bucket holds a count and the compressed form barely shrinks.
        var histogram = LatencyHistogram.Create();
        var random = new Random(7);
        for (var i = 0; i < 1_000_000; i++)
        {
            histogram.RecordValue((long)Math.Exp(random.NextDouble() * Math.Log(3_000_000_000)) + 1);
        }

        HistogramBase decoded = LatencyHistogram.Decode(LatencyHistogram.Encode(histogram));
        Assert.Equal(histogram.TotalCount, decoded.TotalCount);
        Assert.Equal(histogram.GetValueAtPercentile(99.9), decoded.GetValueAtPercentile(99.9));
    }

    [Fact]
    public void MergeOfResultsWithoutSamplesHasZeroPercentiles()
    {
        var merged = BenchResult.Merge([Part(0), Part(0)]);
        Assert.Equal(0, merged.P99Microseconds);
    }
}
