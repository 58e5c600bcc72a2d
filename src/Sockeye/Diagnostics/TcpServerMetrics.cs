using System.Diagnostics.Metrics;

namespace Sockeye.Diagnostics;

/// <summary>
/// One TCP server's instruments on its own <see cref="Meter"/> (named
/// <see cref="SockeyeMetrics.MeterName"/>). Everything but the duration histogram is observable: the
/// callbacks read the server's <see cref="TcpServerCounters"/> when a listener collects, so nothing is
/// recorded per event. Created when the server starts listening (the tags name the bound port) and
/// disposed when it has stopped, which also releases the callbacks' reference to the counters. It
/// knows the counters and two gauges, never the server, so Diagnostics does not depend on it.
/// </summary>
internal sealed class TcpServerMetrics : IDisposable
{
    // Seconds: from sub-millisecond probes to day-long sessions (OpenTelemetry's default buckets are
    // meant for milliseconds of HTTP requests).
    private static readonly double[] DurationBuckets = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

    private readonly Meter _meter;

    /// <summary>The server's own meter, for tests that collect from this server's instruments only.</summary>
    internal Meter Meter => _meter;
    private readonly Histogram<double> _duration;

    // Per close reason, the server's tags plus the reason: built once, so a record allocates nothing.
    private readonly KeyValuePair<string, object?>[][] _closedTags;

    /// <summary>Publishes <paramref name="counters"/> with the server's tags.</summary>
    /// <param name="counters">The counts the observable instruments read.</param>
    /// <param name="active">Reads the connections open now.</param>
    /// <param name="state">Reads the server's state.</param>
    /// <param name="endPoint">The bound address, for the tags.</param>
    public TcpServerMetrics(TcpServerCounters counters, Func<int> active, Func<ServerState> state, System.Net.EndPoint endPoint)
    {
        var transport = endPoint is System.Net.IPEndPoint ? "tcp" : "unix";
        var tags = MetricTags.ForServer(endPoint, transport);
        _meter = new Meter(SockeyeMetrics.MeterName, typeof(TcpServerMetrics).Assembly.GetName().Version?.ToString(3));

        var closeReasons = Enum.GetValues<ConnectionCloseReason>();
        _closedTags = closeReasons.Select(r => MetricTags.With(tags, SockeyeMetrics.CloseReasonTag, MetricTags.CloseReasons[(int)r])).ToArray();
        var timeoutKinds = Enum.GetValues<ConnectionTimeoutKind>();
        var timeoutTags = timeoutKinds.Select(k => MetricTags.With(tags, SockeyeMetrics.TimeoutKindTag, MetricTags.TimeoutKinds[(int)k])).ToArray();
        var limitTags = MetricTags.With(tags, SockeyeMetrics.RejectReasonTag, "limit");
        var descriptorTags = MetricTags.With(tags, SockeyeMetrics.RejectReasonTag, "descriptors");
        var refusalReasons = Enum.GetValues<Security.RefusalReason>();
        var refusalTags = refusalReasons.Select(r => MetricTags.With(tags, SockeyeMetrics.RejectReasonTag, MetricTags.SnakeCase(r.ToString()))).ToArray();
        var states = new[] { ServerState.Listening, ServerState.Draining, ServerState.Stopped };
        var stateTags = states.Select(s => MetricTags.With(tags, SockeyeMetrics.ServerStateTag, MetricTags.SnakeCase(s.ToString()))).ToArray();

        _meter.CreateObservableUpDownCounter(SockeyeMetrics.ConnectionsActive, () => new Measurement<long>(active(), tags),
            "{connection}", "Connections open now.");
        _meter.CreateObservableCounter(SockeyeMetrics.ConnectionsAccepted, () => new Measurement<long>(counters.Accepted, tags),
            "{connection}", "Connections accepted and handed to a handler.");
        _meter.CreateObservableCounter(SockeyeMetrics.ConnectionsRejected, () => new[]
            {
                new Measurement<long>(counters.RejectedForLimit, limitTags),
                new Measurement<long>(counters.RejectedForDescriptors, descriptorTags),
            }.Concat(refusalReasons.Select(r => new Measurement<long>(counters.Refusals.Get(r), refusalTags[(int)r]))),
            "{connection}", "Connections refused, by reason: the connection limit, the descriptor reserve, or an edge check (source lists, per-address cap, accept rates, PROXY header, TLS handshake).");
        _meter.CreateObservableCounter(SockeyeMetrics.ConnectionsClosed,
            () => closeReasons.Select(r => new Measurement<long>(counters.Closed.Get(r), _closedTags[(int)r])),
            "{connection}", "Connections that ended, by how they ended.");
        _duration = _meter.CreateHistogram(SockeyeMetrics.ConnectionDuration, "s", "How long connections lasted, by how they ended.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        var fanout = counters.Fanout;
        _meter.CreateObservableCounter(SockeyeMetrics.MessagesQueued, () => new Measurement<long>(fanout.Queued.Sum, tags),
            "{message}", "Messages queued on connections from other tasks (TrySend, group broadcasts).");
        _meter.CreateObservableCounter(SockeyeMetrics.MessagesSent, () => new Measurement<long>(fanout.Sent.Sum, tags),
            "{message}", "Queued messages the kernel took.");
        _meter.CreateObservableCounter(SockeyeMetrics.MessagesDropped, () => new Measurement<long>(fanout.Dropped.Sum, tags),
            "{message}", "Messages not delivered: a full send queue, or queued on a connection that was disconnected or aborted.");
        _meter.CreateObservableUpDownCounter(SockeyeMetrics.SendQueueBytes, () => new Measurement<long>(fanout.PendingBytes.Sum, tags),
            "By", "Bytes queued on every connection and not yet taken by the kernel.");
        _meter.CreateObservableCounter(SockeyeMetrics.FramesDecoded, () => new Measurement<long>(counters.Traffic?.Frames.Sum ?? 0, tags),
            "{frame}", "Frames decoded by the framing helpers.");
        _meter.CreateObservableCounter(SockeyeMetrics.BytesReceived, () => new Measurement<long>(counters.Traffic?.Received.Sum ?? 0, tags),
            "By", "Bytes received from peers.");
        _meter.CreateObservableCounter(SockeyeMetrics.BytesSent, () => new Measurement<long>(counters.Traffic?.Sent.Sum ?? 0, tags),
            "By", "Bytes handed to the kernel for peers.");
        _meter.CreateObservableCounter(SockeyeMetrics.AcceptErrors, () => new Measurement<long>(counters.AcceptErrors, tags),
            "{error}", "Accepts that failed and were retried after a back-off.");
        _meter.CreateObservableCounter(SockeyeMetrics.AcceptBackoffs, () => new Measurement<long>(counters.AcceptBackoffs, tags),
            "{backoff}", "Back-off waits of the accept loop.");
        _meter.CreateObservableCounter(SockeyeMetrics.HandlerErrors, () => new Measurement<long>(counters.HandlerErrors, tags),
            "{error}", "Handlers that threw.");
        _meter.CreateObservableCounter(SockeyeMetrics.ProtocolErrors, () => new Measurement<long>(counters.ProtocolErrors, tags),
            "{error}", "Connections closed for a malformed or oversize frame.");
        _meter.CreateObservableCounter(SockeyeMetrics.Timeouts,
            () => timeoutKinds.Select(k => new Measurement<long>(counters.Timeouts.Get(k), timeoutTags[(int)k])),
            "{timeout}", "Timeouts and deadlines that expired, by kind.");
        _meter.CreateObservableGauge(SockeyeMetrics.ServerStateMetric,
            () => states.Select((s, i) => new Measurement<int>(state() == s ? 1 : 0, stateTags[i])),
            null, "1 for the state the server is in (listening, draining, stopped), 0 for the others.");
    }

    /// <summary>Records one connection's end: its duration, tagged with how it ended.</summary>
    public void RecordClosed(ConnectionCloseReason reason, TimeSpan duration)
    {
        if (_duration.Enabled)
        {
            _duration.Record(duration.TotalSeconds, _closedTags[(int)reason]);
        }
    }

    /// <summary>Withdraws the instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
