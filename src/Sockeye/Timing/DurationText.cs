using System.Globalization;

namespace Sockeye.Timing;

/// <summary>
/// Durations as people write them in command lines and configuration files: a number with a unit
/// (<c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c>, <c>1.5s</c>), <c>TimeSpan</c>'s own
/// <c>00:02:00</c>, or <c>0</c> / <c>off</c> for "disabled" (zero). One reader and one writer for the
/// CLI, the configuration binder and the library's messages.
/// </summary>
internal static class DurationText
{
    private static readonly (string Unit, double Milliseconds)[] Units =
    [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ];

    /// <summary>Parses <paramref name="text"/>, or returns <see langword="false"/> with an
    /// <paramref name="error"/> that says what was wrong. A bare number other than 0 is refused:
    /// <c>TimeSpan</c> would read "30" as thirty days.</summary>
    public static bool TryParse(string text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        error = "";
        var s = text.Trim().ToLowerInvariant();
        if (s is "0" or "off")
        {
            return true;
        }

        if (s.Contains(':', StringComparison.Ordinal))
        {
            if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value))
            {
                return true;
            }
        }
        else
        {
            // Longest unit first, so "ms" is not read as "m" or "s".
            foreach (var (unit, ms) in Units.OrderByDescending(u => u.Unit.Length))
            {
                if (s.EndsWith(unit, StringComparison.Ordinal)
                    && double.TryParse(s.AsSpan(0, s.Length - unit.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
                {
                    var total = number * ms;
                    if (total > TimeSpan.FromDays(365).TotalMilliseconds)
                    {
                        error = $"'{text}' is longer than a year";
                        return false;
                    }

                    value = TimeSpan.FromMilliseconds(total);
                    return true;
                }
            }
        }

        error = $"'{text}' is not a duration (use a number with ms, s, m or h, such as 500ms, 30s, 2m; 00:02:00; or 0/off)";
        return false;
    }

    /// <summary>Formats a duration the way <see cref="TryParse"/> reads it; zero is <c>off</c>.</summary>
    public static string Format(TimeSpan value) =>
        value == TimeSpan.Zero ? "off"
        : value.TotalMilliseconds < 1000 || value.TotalMilliseconds % 1000 != 0 ? Invariant($"{Math.Round(value.TotalMilliseconds, 3)}ms")
        : value.TotalSeconds % 60 != 0 ? Invariant($"{value.TotalSeconds}s")
        : Invariant($"{value.TotalMinutes}m");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
