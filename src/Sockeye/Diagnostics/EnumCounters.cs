namespace Sockeye.Diagnostics;

/// <summary>
/// One counter per value of <typeparamref name="TEnum"/> (timeouts by kind, refusals by reason),
/// updated with an interlocked add and read by the properties and metrics that publish them. Safe for
/// concurrent use; <typeparamref name="TEnum"/> must be <see langword="int"/>-based with values running
/// from 0 without gaps (checked once per enum type, when the first counter of it is made).
/// </summary>
internal sealed class EnumCounters<TEnum>
    where TEnum : struct, Enum
{
    private static readonly int Count = CheckedCount();

    private readonly long[] _counts = new long[Count];

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

    // The reinterpretation avoids boxing per event; CheckedCount made sure it is sound.
    private static int Index(TEnum value) => System.Runtime.CompilerServices.Unsafe.As<TEnum, int>(ref value);

    private static int CheckedCount()
    {
        if (Enum.GetUnderlyingType(typeof(TEnum)) != typeof(int))
        {
            throw new InvalidOperationException($"EnumCounters needs an int-based enum; {typeof(TEnum).Name} is based on {Enum.GetUnderlyingType(typeof(TEnum)).Name}");
        }

        var values = Enum.GetValues<TEnum>();
        for (var i = 0; i < values.Length; i++)
        {
            if (Index(values[i]) != i)
            {
                throw new InvalidOperationException($"EnumCounters needs enum values 0 to {values.Length - 1} without gaps; {typeof(TEnum).Name}.{values[i]} is {Index(values[i])}");
            }
        }

        return values.Length;
    }
}
