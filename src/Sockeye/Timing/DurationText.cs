using System.Globalization;

namespace Sockeye.Timing;

/// <summary>Formats durations the way the CLI reads them (<c>500ms</c>, <c>30s</c>, <c>2m</c>), for messages.</summary>
internal static class DurationText
{
    public static string Format(TimeSpan value) =>
        value.TotalMilliseconds < 1000 || value.TotalMilliseconds % 1000 != 0 ? Invariant($"{Math.Round(value.TotalMilliseconds, 3)}ms")
        : value.TotalSeconds % 60 != 0 ? Invariant($"{value.TotalSeconds}s")
        : Invariant($"{value.TotalMinutes}m");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
