using System.Diagnostics.Metrics;
namespace Sockeye.Diagnostics;

/// <summary>
/// One UDP server's instruments on its own <see cref="Meter"/> (named
/// <see cref="SockeyeMetrics.MeterName"/>): observable counters that read the server's
/// <see cref="UdpServerCounters"/> when a listener collects, so nothing is recorded per datagram. It
/// knows the counters and one gauge, never the counters.
/// </summary>
internal sealed class UdpServerMetrics : IDisposable
{
    private readonly Meter _meter;

    /// <summary>Publishes <paramref name="counters"/> with the server's tags.</summary>
    /// <param name="counters">The counts the observable instruments read.</param>
    /// <param name="handlersActive">Reads the handler calls running now.</param>
    /// <param name="endPoint">The bound address, for the tags.</param>
    public UdpServerMetrics(UdpServerCounters counters, Func<int> handlersActive, System.Net.EndPoint endPoint)
    {
        var tags = MetricTags.ForServer(endPoint, "udp");
        var oversize = MetricTags.With(tags, SockeyeMetrics.DropReasonTag, "oversize");
        var overload = MetricTags.With(tags, SockeyeMetrics.DropReasonTag, "overload");
        var handler = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "handler");
        var receive = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "receive");
        var send = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "send");
        _meter = new Meter(SockeyeMetrics.MeterName, typeof(UdpServerMetrics).Assembly.GetName().Version?.ToString(3));

        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsReceived, () => new Measurement<long>(counters.DatagramsReceived, tags),
            "{datagram}", "UDP datagrams received.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsSent, () => new Measurement<long>(counters.DatagramsSent, tags),
            "{datagram}", "UDP datagrams sent.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpBytesReceived, () => new Measurement<long>(counters.BytesReceived, tags),
            "By", "UDP payload bytes received.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpBytesSent, () => new Measurement<long>(counters.BytesSent, tags),
            "By", "UDP payload bytes sent.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsDropped, () => new[]
            {
                new Measurement<long>(counters.OversizeDrops, oversize),
                new Measurement<long>(counters.OverloadDrops, overload),
            },
            "{datagram}", "UDP datagrams dropped: over MaxDatagramSize, or every handler busy.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpErrors, () => new[]
            {
                new Measurement<long>(counters.HandlerErrors, handler),
                new Measurement<long>(counters.ReceiveErrors, receive),
                new Measurement<long>(counters.SendErrors, send),
            },
            "{error}", "UDP handler, receive and send errors.");
        _meter.CreateObservableUpDownCounter(SockeyeMetrics.UdpHandlersActive, () => new Measurement<long>(handlersActive(), tags),
            "{handler}", "UDP datagram handlers running now.");
    }

    /// <summary>Withdraws the instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
