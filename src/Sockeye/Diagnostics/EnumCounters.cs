namespace Sockeye.Diagnostics;

/// <summary>
/// One counter per value of <typeparamref name="TEnum"/> (timeouts by kind, refusals by reason),
/// updated with an interlocked add and read by the properties and metrics that publish them. Safe for
/// concurrent use; the values of <typeparamref name="TEnum"/> must run from 0 without gaps.
/// </summary>
internal sealed class EnumCounters<TEnum>
    where TEnum : struct, Enum
{
    private readonly long[] _counts = new long[Enum.GetValues<TEnum>().Length];

    /// <summary>Counts one event of <paramref name="value"/>.</summary>
    public void Increment(TEnum value) => Interlocked.Increment(ref _counts[Index(value)]);

    /// <summary>How many events of <paramref name="value"/> were counted.</summary>
    public long Get(TEnum value) => Interlocked.Read(ref _counts[Index(value)]);

    /// <summary>How many events were counted, of every value.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }

    // Every enum counted here is int-based; the reinterpretation avoids boxing per event.
    private static int Index(TEnum value) => System.Runtime.CompilerServices.Unsafe.As<TEnum, int>(ref value);
}
