using HdrHistogram;
using HdrHistogram.Encoding;
using HdrHistogram.Utilities;

namespace Sockeye.Bench;

/// <summary>
/// Latencies in nanoseconds, in an HdrHistogram (3 significant digits, 1 ns to 1 hour), with the
/// encoding that carries a child process's histogram to its parent so percentiles are computed over
/// every sample, never averaged across processes.
/// </summary>
internal static class LatencyHistogram
{
    /// <summary>The longest latency recorded exactly; longer ones are clamped to it.</summary>
    public const long HighestNanoseconds = 3_600_000_000_000;

    private const int SignificantDigits = 3;

    /// <summary>A new, empty histogram for results and merging.</summary>
    public static LongHistogram Create() => new(1, HighestNanoseconds, SignificantDigits);

    /// <summary>A recorder many connection tasks write to at once, read as interval histograms.</summary>
    public static Recorder CreateRecorder() =>
        new(1, HighestNanoseconds, SignificantDigits, static (id, low, high, digits) => new LongHistogram(id, low, high, digits));

    /// <summary>Records <paramref name="nanoseconds"/> <paramref name="count"/> times, clamped into range.</summary>
    public static void Record(Recorder recorder, long nanoseconds, int count) =>
        recorder.RecordValueWithCount(Math.Clamp(nanoseconds, 1, HighestNanoseconds), count);

    /// <summary>The histogram as base64 text (HdrHistogram's V2 encoding, uncompressed).</summary>
    /// <remarks>Not the compressed form: HdrHistogram.NET 2.5.0 decodes it with a single
    /// <c>DeflateStream.Read</c>, which on .NET 6+ may return fewer bytes than asked, so a large
    /// histogram (a long churn run) failed to decode with "The buffer does not contain the indicated
    /// payload amount". The uncompressed form is a few KB at most and is read whole.</remarks>
    public static string Encode(HistogramBase histogram)
    {
        var buffer = ByteBuffer.Allocate(histogram.GetNeededByteBufferCapacity());
        var length = histogram.Encode(buffer, HistogramEncoderV2.Instance);
        var bytes = new byte[length];
        buffer.Position = 0;
        for (var i = 0; i < length; i++)
        {
            bytes[i] = buffer.Get();
        }

        return Convert.ToBase64String(bytes);
    }

    /// <summary>Reads what <see cref="Encode"/> wrote.</summary>
    public static HistogramBase Decode(string base64) =>
        HistogramEncoding.DecodeFromByteBuffer(ByteBuffer.Allocate(Convert.FromBase64String(base64)), HighestNanoseconds);

    /// <summary>Adds every encoded histogram into one, for a report over all processes.</summary>
    public static LongHistogram Merge(IEnumerable<string> encoded)
    {
        var total = Create();
        foreach (var text in encoded)
        {
            total.Add(Decode(text));
        }

        return total;
    }

    /// <summary>The latency at <paramref name="percentile"/> (0–100) in microseconds; 0 when empty.</summary>
    public static double Microseconds(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile) / 1000.0;
}
