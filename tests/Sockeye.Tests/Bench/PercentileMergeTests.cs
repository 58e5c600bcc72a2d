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

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OurDecoderReadsEveryBucketAsHdrHistogramsOwnDoes(int seed)
    {
        // LatencyHistogram.Decode replaces the library's reflection-based decoder (not trim-safe): on
        // histograms from 1 ns to an hour, with runs of empty buckets and counts past 2^32, both must
        // give the same count in every bucket.
        var histogram = LatencyHistogram.Create();
        var random = new Random(seed);
        for (var i = 0; i < 20_000; i++)
        {
            var value = (long)Math.Exp(random.NextDouble() * Math.Log(LatencyHistogram.HighestNanoseconds - 1)) + 1;
            histogram.RecordValueWithCount(value, i % 1000 == 0 ? 5_000_000_000L : random.Next(1, 1000));
        }

        histogram.RecordValue(1);
        histogram.RecordValue(LatencyHistogram.HighestNanoseconds);
        var encoded = LatencyHistogram.Encode(histogram);

        var ours = LatencyHistogram.Decode(encoded);
        var theirs = HdrHistogram.HistogramEncoding.DecodeFromByteBuffer(
            HdrHistogram.Utilities.ByteBuffer.Allocate(Convert.FromBase64String(encoded)), LatencyHistogram.HighestNanoseconds);

        var expected = theirs.RecordedValues().Select(v => (v.ValueIteratedTo, v.CountAtValueIteratedTo)).ToList();
        var actual = ours.RecordedValues().Select(v => (v.ValueIteratedTo, v.CountAtValueIteratedTo)).ToList();
        Assert.True(expected.Count > 1000, $"only {expected.Count} buckets were filled");
        Assert.Equal(expected, actual);
        Assert.Equal(theirs.TotalCount, ours.TotalCount);
    }

    [Fact]
    public void AHistogramOfAnotherLayoutIsRefusedNamingItsDigits()
    {
        var other = new LongHistogram(1, LatencyHistogram.HighestNanoseconds, 2);
        other.RecordValue(1000);
        var buffer = HdrHistogram.Utilities.ByteBuffer.Allocate(other.GetNeededByteBufferCapacity());
        var length = other.Encode(buffer, HdrHistogram.Encoding.HistogramEncoderV2.Instance);
        var bytes = new byte[length];
        buffer.Position = 0;
        for (var i = 0; i < length; i++)
        {
            bytes[i] = buffer.Get();
        }

        var error = Assert.Throws<FormatException>(() => LatencyHistogram.Decode(Convert.ToBase64String(bytes)));
        Assert.Contains("2 significant digits", error.Message, StringComparison.Ordinal);
    }
}
