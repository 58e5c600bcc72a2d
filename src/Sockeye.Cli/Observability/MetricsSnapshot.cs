using Sockeye.Diagnostics;
using static Sockeye.Cli.Observability.PrometheusNames;

namespace Sockeye.Cli.Observability;

/// <summary>
/// The figures <c>sockeye top</c> shows, read from one Prometheus scrape of a Sockeye server and
/// summed over its TCP servers (or only the one on <c>serverPort</c>); or, for a supervised server,
/// from one scrape of each worker process, summed series by series (<see cref="Sum"/>).
/// </summary>
internal sealed record MetricsSnapshot
{
    // The series read here, named from SockeyeMetrics' constants (see PrometheusNames).
    private static readonly string TcpPrefix = Gauge(SockeyeMetrics.MeterName.ToLowerInvariant() + ".");
    private static readonly string UdpPrefix = TcpPrefix + "udp_"; // every UDP instrument is sockeye.udp.*
    private static readonly string ActiveSeries = Gauge(SockeyeMetrics.ConnectionsActive);
    private static readonly string AcceptedSeries = Counter(SockeyeMetrics.ConnectionsAccepted);
    private static readonly string RejectedSeries = Counter(SockeyeMetrics.ConnectionsRejected);
    private static readonly string ClosedSeries = Counter(SockeyeMetrics.ConnectionsClosed);
    private static readonly string BytesReceivedSeries = ByteCounter(SockeyeMetrics.BytesReceived);
    private static readonly string BytesSentSeries = ByteCounter(SockeyeMetrics.BytesSent);
    private static readonly string TimeoutsSeries = Counter(SockeyeMetrics.Timeouts);
    private static readonly string MessagesSentSeries = Counter(SockeyeMetrics.MessagesSent);
    private static readonly string MessagesDroppedSeries = Counter(SockeyeMetrics.MessagesDropped);
    private static readonly string QueuedBytesSeries = Gauge(SockeyeMetrics.SendQueueBytes);
    private static readonly string[] ErrorSeries =
        [Counter(SockeyeMetrics.HandlerErrors), Counter(SockeyeMetrics.ProtocolErrors), Counter(SockeyeMetrics.AcceptErrors)];
    private static readonly string StateSeries = Gauge(SockeyeMetrics.ServerStateMetric);
    private static readonly string CloseReasonLabel = Label(SockeyeMetrics.CloseReasonTag);
    private static readonly string StateLabel = Label(SockeyeMetrics.ServerStateTag);
    private static readonly string AddressLabel = Label("server.address");
    private static readonly string PortLabel = Label("server.port");

    public DateTimeOffset At { get; init; }

    public long Active { get; init; }

    public long Accepted { get; init; }

    public long Rejected { get; init; }

    public long BytesReceived { get; init; }

    public long BytesSent { get; init; }

    public long Timeouts { get; init; }

    /// <summary>Messages queued by other tasks (fan-out) that the kernel took.</summary>
    public long MessagesSent { get; init; }

    /// <summary>Fan-out messages not delivered (full send queues, disconnected members).</summary>
    public long MessagesDropped { get; init; }

    /// <summary>Bytes queued on every connection and not yet sent.</summary>
    public long QueuedBytes { get; init; }

    /// <summary>Handler, protocol and accept errors together.</summary>
    public long Errors { get; init; }

    /// <summary>Closed connections by <c>sockeye_close_reason</c>.</summary>
    public IReadOnlyDictionary<string, long> ClosedByReason { get; init; } = new Dictionary<string, long>();

    /// <summary>The state whose gauge is 1 (<c>listening</c>, <c>draining</c>, <c>stopped</c>), or
    /// <c>none</c> when the scrape holds no Sockeye server.</summary>
    public string State { get; init; } = "none";

    /// <summary>How many Sockeye TCP servers the scrape held (after the port filter).</summary>
    public int Servers { get; init; }

    /// <summary>Each worker's own figures, in the order of the URLs, <see langword="null"/> for one that
    /// did not answer this scrape; empty when the snapshot was not made by <see cref="Sum"/>. Rates are
    /// taken worker by worker, so that one worker's restart (its counters back at zero) or absence
    /// does not make the whole server's counters seem to go down.</summary>
    public IReadOnlyList<MetricsSnapshot?> Workers { get; init; } = [];

    /// <summary>Why each worker that did not answer did not (a URL and a reason each).</summary>
    public IReadOnlyList<string> Missing { get; init; } = [];

    /// <summary>How many workers answered this scrape.</summary>
    public int WorkersAnswered => Workers.Count(w => w is not null);

    /// <summary>Reads the figures from a scrape's <paramref name="text"/>.</summary>
    public static MetricsSnapshot From(string text, DateTimeOffset at, int? serverPort = null) =>
        From(PrometheusSample.Parse(text), at, serverPort);

    /// <summary>
    /// The whole server's figures from one scrape per worker: the answering workers' samples summed
    /// series by series (<see cref="PrometheusSample.Sum"/>), with each worker's own figures in
    /// <see cref="Workers"/> and the problems of those that did not answer in <see cref="Missing"/>.
    /// </summary>
    /// <param name="scrapes">Per worker, in URL order: its samples, or why it did not answer.</param>
    /// <param name="at">When the scrapes were taken.</param>
    /// <param name="serverPort">Only the TCP server on this port, or all of them.</param>
    public static MetricsSnapshot Sum(IReadOnlyList<WorkerScrape> scrapes, DateTimeOffset at, int? serverPort = null)
    {
        var answered = scrapes.Where(s => s.Samples is not null).Select(s => s.Samples!).ToList();
        return From(PrometheusSample.Sum(answered), at, serverPort) with
        {
            Workers = [.. scrapes.Select(s => s.Samples is null ? null : From(s.Samples, at, serverPort))],
            Missing = [.. scrapes.Where(s => s.Samples is null).Select(s => s.Problem ?? $"{s.Url}: no answer")],
        };
    }

    private static MetricsSnapshot From(IEnumerable<PrometheusSample> all, DateTimeOffset at, int? serverPort)
    {
        var portText = serverPort?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var samples = all
            .Where(s => s.Name.StartsWith(TcpPrefix, StringComparison.Ordinal) && !s.Name.StartsWith(UdpPrefix, StringComparison.Ordinal))
            .Where(s => portText is null || (s.Labels.TryGetValue(PortLabel, out var p) && p == portText))
            .ToList();

        long Sum(string name) => (long)samples.Where(s => s.Name == name).Sum(s => s.Value);

        var closed = samples.Where(s => s.Name == ClosedSeries && s.Labels.ContainsKey(CloseReasonLabel))
            .GroupBy(s => s.Labels[CloseReasonLabel])
            .ToDictionary(g => g.Key, g => (long)g.Sum(s => s.Value), StringComparer.Ordinal);
        var states = samples.Where(s => s.Name == StateSeries && s.Value >= 1 && s.Labels.ContainsKey(StateLabel))
            .Select(s => s.Labels[StateLabel]).Distinct().ToList();
        var servers = samples.Where(s => s.Name == AcceptedSeries)
            .Select(s => (s.Labels.GetValueOrDefault(AddressLabel), s.Labels.GetValueOrDefault(PortLabel))).Distinct().Count();

        return new MetricsSnapshot
        {
            At = at,
            Active = Sum(ActiveSeries),
            Accepted = Sum(AcceptedSeries),
            Rejected = Sum(RejectedSeries),
            BytesReceived = Sum(BytesReceivedSeries),
            BytesSent = Sum(BytesSentSeries),
            Timeouts = Sum(TimeoutsSeries),
            MessagesSent = Sum(MessagesSentSeries),
            MessagesDropped = Sum(MessagesDroppedSeries),
            QueuedBytes = Sum(QueuedBytesSeries),
            Errors = ErrorSeries.Sum(name => Sum(name)),
            ClosedByReason = closed,
            State = states.Count == 0 ? "none" : string.Join("+", states),
            Servers = servers,
        };
    }
}
