using System.Globalization;

namespace Sockeye.Timing;

/// <summary>
/// Durations as people write them in command lines and configuration files: a number with a unit
/// (<c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c>, <c>1d</c>, <c>1.5s</c>), <c>TimeSpan</c>'s own
/// <c>00:02:00</c>, or <c>0</c> / <c>off</c> for "disabled" (zero). One reader and one writer for the
/// CLI, the configuration binder and the library's messages.
/// </summary>
internal static class DurationText
{
    /// <summary>The longest duration accepted anywhere (flags, configuration, options): 30 days.</summary>
    /// <remarks>Every timeout ends up in a timer, a deadline or a <c>WaitAsync</c>, and .NET's timers stop
    /// at about 49.7 days (<c>uint.MaxValue - 1</c> ms); a value past that either throws deep inside a
    /// stop or a handshake, or overflows a deadline (<c>now + TimeSpan.MaxValue</c>). Thirty days is far
    /// beyond any sensible network timeout and well inside every mechanism's range.</remarks>
    public static readonly TimeSpan Maximum = TimeSpan.FromDays(30);

    private static readonly System.Buffers.SearchValues<char> NumberCharacters = System.Buffers.SearchValues.Create("0123456789.");

    private static readonly (string Unit, double Milliseconds)[] Units =
    [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ];

    /// <summary>Parses <paramref name="text"/>, or returns <see langword="false"/> with an
    /// <paramref name="error"/> that says what was wrong. A bare number other than 0 is refused:
    /// <c>TimeSpan</c> would read "30" as thirty days. Every form obeys one rule (see
    /// <see cref="Check"/>): not negative, at most <see cref="Maximum"/>.</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        if (!TryParseAnyLength(text, out var parsed))
        {
            error = $"'{text}' is not a duration (use a number with ms, s, m, h or d, such as 500ms, 30s, 2m; 00:02:00; or 0/off)";
            return false;
        }

        return Check(parsed, text!, out value, out error);
    }

    /// <summary>Reads either form without the rule; a unit form too large for <see cref="TimeSpan"/>
    /// reads as <see cref="TimeSpan.MaxValue"/> so the rule can name it. For binders that hand the value
    /// to an options object whose <c>Validate</c> applies the rule (<see cref="Violation"/>) and names
    /// the option.</summary>
    public static bool TryParseAnyLength(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var s = (text ?? "").Trim().ToLowerInvariant();
        if (s is "0" or "off")
        {
            return true;
        }

        if (s.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value);
        }

        // Longest unit first, so "ms" is not read as "m" or "s". Only digits and one decimal point
        // may stand before the unit: no sign, no exponent, no NaN or Infinity.
        foreach (var (unit, ms) in Units.OrderByDescending(u => u.Unit.Length))
        {
            if (s.EndsWith(unit, StringComparison.Ordinal)
                && s.Length > unit.Length
                && s.AsSpan(0, s.Length - unit.Length).IndexOfAnyExcept(NumberCharacters) < 0
                && double.TryParse(s.AsSpan(0, s.Length - unit.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
                && double.IsFinite(number))
            {
                var total = number * ms;
                value = total > 2 * Maximum.TotalMilliseconds ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(total);
                return true;
            }
        }

        return false;
    }

    /// <summary>The one rule for every duration Sockeye accepts: not negative and at most
    /// <see cref="Maximum"/>. Returns the value, or <see langword="false"/> with an error naming it.</summary>
    public static bool Check(TimeSpan candidate, string shown, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        error = "";
        if (candidate < TimeSpan.Zero)
        {
            error = $"'{shown}' is negative (0 or off turns it off)";
            return false;
        }

        if (candidate > Maximum)
        {
            error = $"'{shown}' is longer than the longest duration allowed, {Format(Maximum)}";
            return false;
        }

        value = candidate;
        return true;
    }

    /// <summary>Why <paramref name="value"/> breaks the rule of <see cref="Check"/>, or
    /// <see langword="null"/> when it obeys it; for the options' <c>Validate</c> methods.</summary>
    public static string? Violation(TimeSpan value) =>
        value < TimeSpan.Zero ? "must not be negative"
        : value > Maximum ? $"must be at most {Format(Maximum)}"
        : null;

    /// <summary>Formats a duration the way <see cref="TryParse"/> reads it; zero is <c>off</c>.</summary>
    public static string Format(TimeSpan value) =>
        value == TimeSpan.Zero ? "off"
        : value < TimeSpan.Zero || value.Ticks % TimeSpan.TicksPerMillisecond != 0 ? value.ToString("c", CultureInfo.InvariantCulture)
        : value.TotalMilliseconds < 1000 || value.TotalMilliseconds % 1000 != 0 ? Invariant($"{value.TotalMilliseconds}ms")
        : value.TotalSeconds % 60 != 0 ? Invariant($"{value.TotalSeconds}s")
        : value.TotalMinutes % 60 != 0 ? Invariant($"{value.TotalMinutes}m")
        : value.TotalHours % 24 != 0 ? Invariant($"{value.TotalHours}h")
        : Invariant($"{value.TotalDays}d");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
