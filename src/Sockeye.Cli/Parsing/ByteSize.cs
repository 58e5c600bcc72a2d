using System.Globalization;

namespace Sockeye.Cli.Parsing;

/// <summary>
/// Parses the sizes the CLI takes: a whole number of bytes (<c>4096</c>) or a number with a unit,
/// binary (<c>KiB</c>, <c>MiB</c>, <c>GiB</c>) or decimal (<c>KB</c>, <c>MB</c>, <c>GB</c>).
/// </summary>
internal static class ByteSize
{
    private static readonly (string Unit, long Bytes)[] Units =
    [
        ("kib", 1L << 10), ("mib", 1L << 20), ("gib", 1L << 30),
        ("kb", 1_000), ("mb", 1_000_000), ("gb", 1_000_000_000),
        ("k", 1L << 10), ("m", 1L << 20), ("g", 1L << 30), ("b", 1),
    ];

    /// <summary>Parses <paramref name="text"/>, or returns <see langword="false"/> with an
    /// <paramref name="error"/> that says what was wrong.</summary>
    public static bool TryParse(string text, out long value, out string error)
    {
        value = 0;
        error = "";
        var s = text.Trim().ToLowerInvariant();
        if (long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        foreach (var (unit, bytes) in Units)
        {
            if (s.EndsWith(unit, StringComparison.Ordinal)
                && double.TryParse(s.AsSpan(0, s.Length - unit.Length).Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                var total = number * bytes;
                if (total > long.MaxValue / 2)
                {
                    error = $"'{text}' is too large";
                    return false;
                }

                value = (long)total;
                return true;
            }
        }

        error = $"'{text}' is not a size (use bytes or a number with KiB, MiB, GiB, KB, MB, GB, such as 64KiB)";
        return false;
    }
}
