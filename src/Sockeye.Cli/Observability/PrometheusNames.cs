namespace Sockeye.Cli.Observability;

/// <summary>
/// The Prometheus names the OpenTelemetry exporter gives Sockeye's instruments and tags, derived from
/// the <see cref="Diagnostics.SockeyeMetrics"/> constants so that a renamed instrument cannot leave
/// <c>sockeye top</c> reading a series that no longer exists: dots become underscores, a counter ends
/// in <c>_total</c>, and a unit becomes a suffix before it (<c>By</c> → <c>_bytes</c>).
/// </summary>
internal static class PrometheusNames
{
    /// <summary>A gauge or up-down counter: <c>sockeye.connections.active</c> → <c>sockeye_connections_active</c>.</summary>
    public static string Gauge(string instrument) => instrument.Replace('.', '_');

    /// <summary>A counter: <c>sockeye.timeouts</c> → <c>sockeye_timeouts_total</c>.</summary>
    public static string Counter(string instrument) => Gauge(instrument) + "_total";

    /// <summary>A counter in bytes: <c>sockeye.bytes.sent</c> → <c>sockeye_bytes_sent_bytes_total</c>.</summary>
    public static string ByteCounter(string instrument) => Gauge(instrument) + "_bytes_total";

    /// <summary>A tag: <c>sockeye.close.reason</c> → <c>sockeye_close_reason</c>.</summary>
    public static string Label(string tag) => tag.Replace('.', '_');
}
