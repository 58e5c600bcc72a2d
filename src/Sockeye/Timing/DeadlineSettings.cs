namespace Sockeye.Timing;

/// <summary>
/// A server's timeout defaults in timestamp units, with the scanner and the counters they report to;
/// one instance shared by every connection of the server, so a connection carries one reference to
/// it instead of a copy of each option.
/// </summary>
internal sealed class DeadlineSettings
{
    public DeadlineSettings(DeadlineScanner scanner, Diagnostics.EnumCounters<ConnectionTimeoutKind> counters, TimeSpan idle, TimeSpan read, TimeSpan write, MinDataRate? minReceiveRate)
    {
        Scanner = scanner;
        Counters = counters;
        IdleTicks = scanner.ToTicks(idle);
        ReadTicks = scanner.ToTicks(read);
        WriteTicks = scanner.ToTicks(write);
        MinReceiveRate = minReceiveRate;
        GraceTicks = minReceiveRate is null ? 0 : Math.Max(1, scanner.ToTicks(minReceiveRate.GracePeriod));
    }

    public DeadlineScanner Scanner { get; }

    /// <summary>The server's byte counters, which every receive and flush adds to; null when metrics are off.</summary>
    public Diagnostics.TrafficCounters? Traffic { get; set; }

    public Diagnostics.EnumCounters<ConnectionTimeoutKind> Counters { get; }

    public long IdleTicks { get; }

    public long ReadTicks { get; }

    public long WriteTicks { get; }

    public MinDataRate? MinReceiveRate { get; }

    /// <summary>The minimum rate's grace period in timestamp units (0 when there is no minimum rate).</summary>
    public long GraceTicks { get; }
}
