using System.Text.Json.Serialization;

namespace Sockeye.Bench;

/// <summary>
/// What one benchmark run measured: counts over the measured window, the latency histogram, and
/// the server's CPU and memory when its process id was given. Also the message a child process
/// sends its parent, which merges them with <see cref="Merge"/>.
/// </summary>
internal sealed record BenchResult
{
    public string Mode { get; init; } = "";

    public string Target { get; init; } = "";

    public int Connections { get; init; }

    public int Size { get; init; }

    public int Depth { get; init; }

    public double Rate { get; init; }

    public int Processes { get; init; }

    /// <summary>Connections open when the measured window began (idle: the connections held).</summary>
    public long ConnectionsHeld { get; init; }

    /// <summary>Connections open at the end of the window (idle: proved alive at the end).</summary>
    public long ConnectionsOpen { get; init; }

    public long ConnectFailures { get; init; }

    /// <summary>Length of the measured window (idle: the hold).</summary>
    public double Seconds { get; init; }

    /// <summary>Round trips (echo), short connections (churn) or connections alive after the hold (idle).</summary>
    public long Operations { get; init; }

    /// <summary>Connections that failed over the whole run, warm-up included: refused, reset, closed early, timed out.</summary>
    public long Errors { get; init; }

    /// <summary>Echoes whose bytes differed from what was sent, over the whole run.</summary>
    public long Mismatches { get; init; }

    /// <summary>CPU time the load generator used in the window, over all its processes.</summary>
    public double ClientCpuSeconds { get; init; }

    public double? ServerCpuSeconds { get; init; }

    public long? ServerRssBefore { get; init; }

    public long? ServerRssHolding { get; init; }

    /// <summary>Datagrams sent over the whole run (udp only; null otherwise).</summary>
    public long? DatagramsSent { get; init; }

    /// <summary>Replies received over the whole run, the ones still in flight when the window closed
    /// included (udp only; null otherwise).</summary>
    public long? DatagramsReceived { get; init; }

    /// <summary>Fanout: subscribers asked for (null for other modes).</summary>
    public int? Subscribers { get; init; }

    /// <summary>Fanout: rooms.</summary>
    public int? Rooms { get; init; }

    /// <summary>Fanout: publishers asked for.</summary>
    public int? Publishers { get; init; }

    /// <summary>Fanout: messages the publishers sent in the measured window.</summary>
    public long? Messages { get; init; }

    /// <summary>Fanout: deliveries those messages owe: each to every other member of its room.</summary>
    public long? ExpectedDeliveries { get; init; }

    /// <summary>Fanout: expected deliveries that never arrived (within the drain after the window).</summary>
    public long? LostDeliveries { get; init; }

    /// <summary>Fanout: subscribers whose connection the server ended during the run (slow-consumer drops).</summary>
    public long? DisconnectedSubscribers { get; init; }

    /// <summary>Fanout: publishers whose connection the server ended during the run (also counted as errors).</summary>
    public long? DisconnectedPublishers { get; init; }

    /// <summary>Why the run failed, when a workload can say more than a count (udp: nothing answers at
    /// the target); null otherwise.</summary>
    public string? Failure { get; init; }

    /// <summary>Latencies in nanoseconds, HdrHistogram V2 compressed, base64.</summary>
    public string Histogram { get; init; } = "";

    [JsonIgnore]
    public double OperationsPerSecond => Seconds > 0 ? Operations / Seconds : 0;

    public double P50Microseconds => Percentile(50);

    public double P90Microseconds => Percentile(90);

    public double P99Microseconds => Percentile(99);

    public double P999Microseconds => Percentile(99.9);

    public double MaxMicroseconds => Percentile(100);

    /// <summary>Throughput: round trips or short connections per second.</summary>
    public double Throughput => OperationsPerSecond;

    public double ClientCpuMicrosecondsPerOperation => Operations > 0 ? ClientCpuSeconds * 1e6 / Operations : 0;

    public double? ServerCpuMicrosecondsPerOperation => ServerCpuSeconds is { } s && Operations > 0 ? s * 1e6 / Operations : null;

    /// <summary>Server CPU in use over the window, in cores (1.0: one core busy).</summary>
    public double? ServerCpuUtilization => ServerCpuSeconds is { } s && Seconds > 0 ? s / Seconds : null;

    /// <summary>Datagrams sent that never came back (udp).</summary>
    public long? DatagramsLost => DatagramsSent is { } sent && DatagramsReceived is { } received ? Math.Max(0, sent - received) : null;

    /// <summary>Whether the run saw no error, no corrupted or unparseable line, and (fanout) no delivery lost
    /// that the server did not account for by disconnecting a subscriber.</summary>
    [JsonIgnore]
    public bool Passed => Errors == 0 && Mismatches == 0 && !(LostDeliveries > 0 && DisconnectedSubscribers == 0);

    /// <summary>Lost as a fraction of sent (udp).</summary>
    public double? LossRatio => DatagramsLost is { } lost ? (DatagramsSent > 0 ? (double)lost / DatagramsSent.Value : 0) : null;

    /// <summary>Growth of the server's resident memory per connection held (idle).</summary>
    public double? ServerBytesPerConnection =>
        ServerRssBefore is { } before && ServerRssHolding is { } holding && ConnectionsHeld > 0
            ? (double)(holding - before) / ConnectionsHeld
            : null;

    private double Percentile(double percentile) =>
        Histogram.Length == 0 ? 0 : LatencyHistogram.Microseconds(LatencyHistogram.Decode(Histogram), percentile);

    /// <summary>One result for all processes: counts and CPU add up, histograms merge (so percentiles
    /// are over every sample), the window is the longest.</summary>
    public static BenchResult Merge(IReadOnlyList<BenchResult> parts)
    {
        ArgumentOutOfRangeException.ThrowIfZero(parts.Count);
        var first = parts[0];
        return first with
        {
            Connections = parts.Sum(p => p.Connections),
            Processes = parts.Sum(p => p.Processes),
            ConnectionsHeld = parts.Sum(p => p.ConnectionsHeld),
            ConnectionsOpen = parts.Sum(p => p.ConnectionsOpen),
            ConnectFailures = parts.Sum(p => p.ConnectFailures),
            Seconds = parts.Max(p => p.Seconds),
            Operations = parts.Sum(p => p.Operations),
            Errors = parts.Sum(p => p.Errors),
            Mismatches = parts.Sum(p => p.Mismatches),
            ClientCpuSeconds = parts.Sum(p => p.ClientCpuSeconds),
            DatagramsSent = SumOrNull(parts.Select(p => p.DatagramsSent)),
            DatagramsReceived = SumOrNull(parts.Select(p => p.DatagramsReceived)),
            Messages = SumOrNull(parts.Select(p => p.Messages)),
            ExpectedDeliveries = SumOrNull(parts.Select(p => p.ExpectedDeliveries)),
            LostDeliveries = SumOrNull(parts.Select(p => p.LostDeliveries)),
            DisconnectedSubscribers = SumOrNull(parts.Select(p => p.DisconnectedSubscribers)),
            DisconnectedPublishers = SumOrNull(parts.Select(p => p.DisconnectedPublishers)),
            Failure = parts.Select(p => p.Failure).FirstOrDefault(f => f is not null),
            Histogram = LatencyHistogram.Encode(LatencyHistogram.Merge(parts.Select(p => p.Histogram).Where(h => h.Length > 0))),
        };
    }

    private static long? SumOrNull(IEnumerable<long?> values) =>
        values.Aggregate((long?)null, (total, value) => value is { } v ? (total ?? 0) + v : total);
}
