namespace Sockeye.Cli.Observability;

/// <summary>
/// The figures <c>sockeye top</c> shows, read from one Prometheus scrape of a Sockeye server and
/// summed over its TCP servers (or only the one on <c>serverPort</c>).
/// </summary>
internal sealed record MetricsSnapshot
{
    public DateTimeOffset At { get; init; }

    public long Active { get; init; }

    public long Accepted { get; init; }

    public long Rejected { get; init; }

    public long BytesReceived { get; init; }

    public long BytesSent { get; init; }

    public long Timeouts { get; init; }

    /// <summary>Handler, protocol and accept errors together.</summary>
    public long Errors { get; init; }

    /// <summary>Closed connections by <c>sockeye_close_reason</c>.</summary>
    public IReadOnlyDictionary<string, long> ClosedByReason { get; init; } = new Dictionary<string, long>();

    /// <summary>The state whose gauge is 1 (<c>listening</c>, <c>draining</c>, <c>stopped</c>), or
    /// <c>none</c> when the scrape holds no Sockeye server.</summary>
    public string State { get; init; } = "none";

    /// <summary>How many Sockeye TCP servers the scrape held (after the port filter).</summary>
    public int Servers { get; init; }

    /// <summary>Reads the figures from a scrape's <paramref name="text"/>.</summary>
    public static MetricsSnapshot From(string text, DateTimeOffset at, int? serverPort = null)
    {
        var portText = serverPort?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var samples = PrometheusSample.Parse(text)
            .Where(s => s.Name.StartsWith("sockeye_", StringComparison.Ordinal) && !s.Name.StartsWith("sockeye_udp_", StringComparison.Ordinal))
            .Where(s => portText is null || (s.Labels.TryGetValue("server_port", out var p) && p == portText))
            .ToList();

        long Sum(string name) => (long)samples.Where(s => s.Name == name).Sum(s => s.Value);

        var closed = samples.Where(s => s.Name == "sockeye_connections_closed_total" && s.Labels.ContainsKey("sockeye_close_reason"))
            .GroupBy(s => s.Labels["sockeye_close_reason"])
            .ToDictionary(g => g.Key, g => (long)g.Sum(s => s.Value), StringComparer.Ordinal);
        var states = samples.Where(s => s.Name == "sockeye_server_state" && s.Value >= 1 && s.Labels.ContainsKey("sockeye_server_state"))
            .Select(s => s.Labels["sockeye_server_state"]).Distinct().ToList();
        var servers = samples.Where(s => s.Name == "sockeye_connections_accepted_total")
            .Select(s => (s.Labels.GetValueOrDefault("server_address"), s.Labels.GetValueOrDefault("server_port"))).Distinct().Count();

        return new MetricsSnapshot
        {
            At = at,
            Active = Sum("sockeye_connections_active"),
            Accepted = Sum("sockeye_connections_accepted_total"),
            Rejected = Sum("sockeye_connections_rejected_total"),
            BytesReceived = Sum("sockeye_bytes_received_bytes_total"),
            BytesSent = Sum("sockeye_bytes_sent_bytes_total"),
            Timeouts = Sum("sockeye_timeouts_total"),
            Errors = Sum("sockeye_handler_errors_total") + Sum("sockeye_protocol_errors_total") + Sum("sockeye_accept_errors_total"),
            ClosedByReason = closed,
            State = states.Count == 0 ? "none" : string.Join("+", states),
            Servers = servers,
        };
    }
}
