using System.Buffers.Binary;
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
    /// <remarks>Decoded here, not by <c>HistogramEncoding.DecodeFromByteBuffer</c>: HdrHistogram.NET 2.5.0
    /// creates the histogram through a constructor it looks up by reflection on a type chosen at run
    /// time, which trimming cannot see (its IL2104 warning in a Native AOT publish: the binary could
    /// throw where the JIT build works). The format is HdrHistogram's V2: a 40-byte big-endian header
    /// (cookie, payload length, normalizing offset, significant digits, lowest and highest trackable
    /// values, a double ratio), then the counts by bucket index as ZigZag LEB128 numbers, where a
    /// negative number −n skips n empty buckets.</remarks>
    /// <exception cref="FormatException">The text is not a V2 histogram of this layout (1 ns, 3 digits).</exception>
    public static LongHistogram Decode(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        if (bytes.Length < HeaderLength)
        {
            throw new FormatException($"histogram of {bytes.Length} bytes is shorter than the {HeaderLength}-byte V2 header");
        }

        var header = bytes.AsSpan();
        var cookie = BinaryPrimitives.ReadInt32BigEndian(header);
        var payloadLength = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        var normalizingOffset = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        var digits = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        var lowest = BinaryPrimitives.ReadInt64BigEndian(header[16..]);
        if ((cookie & ~0xf0) != V2CookieBase)
        {
            throw new FormatException($"histogram cookie 0x{cookie:x8} is not HdrHistogram's V2 (0x{V2CookieBase:x8})");
        }

        if (lowest != 1 || digits != SignificantDigits || normalizingOffset != 0)
        {
            throw new FormatException($"histogram of lowest value {lowest}, {digits} significant digits, offset {normalizingOffset} is not this tool's (1, {SignificantDigits}, 0)");
        }

        if (payloadLength < 0 || payloadLength > bytes.Length - HeaderLength)
        {
            throw new FormatException($"histogram payload of {payloadLength} bytes exceeds the {bytes.Length - HeaderLength} bytes after the header");
        }

        var histogram = Create();
        ReadOnlySpan<byte> payload = bytes.AsSpan(HeaderLength, payloadLength);
        var index = 0;
        while (!payload.IsEmpty)
        {
            var count = ReadZigZag(ref payload);
            if (count < 0)
            {
                index += checked((int)-count);
            }
            else
            {
                if (count > 0)
                {
                    histogram.RecordValueWithCount(Math.Min(ValueAtIndex(index), HighestNanoseconds), count);
                }

                index++;
            }
        }

        return histogram;
    }

    private const int HeaderLength = 40;
    private const int V2CookieBase = 0x1c849303;

    // Bucket layout of a histogram from 1 with 3 significant digits: 2,048 sub-buckets (the power of two
    // at or above 2 × 10^3), the first bucket's two halves linear, then each bucket twice as wide.
    private const int SubBucketHalfCountMagnitude = 10;
    private const int SubBucketHalfCount = 1 << SubBucketHalfCountMagnitude;

    /// <summary>The lowest value that falls into bucket index <paramref name="index"/> (what recording it
    /// counts in the same bucket).</summary>
    internal static long ValueAtIndex(int index)
    {
        var bucket = (index >> SubBucketHalfCountMagnitude) - 1;
        var subBucket = (index & (SubBucketHalfCount - 1)) + SubBucketHalfCount;
        if (bucket < 0)
        {
            subBucket -= SubBucketHalfCount;
            bucket = 0;
        }

        return (long)subBucket << bucket;
    }

    // LEB128 of up to 9 bytes (8 of 7 bits, a last one of 8), then ZigZag: 0, −1, 1, −2 … as 0, 1, 2, 3 …
    private static long ReadZigZag(ref ReadOnlySpan<byte> payload)
    {
        ulong value = 0;
        for (var i = 0; ; i++)
        {
            if (payload.IsEmpty)
            {
                throw new FormatException("histogram payload ends inside a number");
            }

            var b = payload[0];
            payload = payload[1..];
            if (i == 8)
            {
                value |= (ulong)b << 56;
                break;
            }

            value |= (ulong)(b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        return (long)(value >> 1) ^ -(long)(value & 1);
    }

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
