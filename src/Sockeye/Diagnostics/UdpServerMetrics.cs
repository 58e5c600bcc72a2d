using System.Diagnostics.Metrics;
using Sockeye.Udp;

namespace Sockeye.Diagnostics;

/// <summary>
/// One <see cref="UdpServer"/>'s instruments on its own <see cref="Meter"/> (named
/// <see cref="SockeyeMetrics.MeterName"/>): observable counters that read the server's
/// <see cref="UdpCounters"/> when a listener collects, so nothing is recorded per datagram.
/// </summary>
internal sealed class UdpServerMetrics : IDisposable
{
    private readonly Meter _meter;

    public UdpServerMetrics(UdpServer server, System.Net.EndPoint endPoint)
    {
        var tags = MetricTags.ForServer(endPoint, "udp");
        var oversize = MetricTags.With(tags, SockeyeMetrics.DropReasonTag, "oversize");
        var overload = MetricTags.With(tags, SockeyeMetrics.DropReasonTag, "overload");
        var handler = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "handler");
        var receive = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "receive");
        var send = MetricTags.With(tags, SockeyeMetrics.ErrorKindTag, "send");
        _meter = new Meter(SockeyeMetrics.MeterName, typeof(UdpServer).Assembly.GetName().Version?.ToString(3));

        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsReceived, () => new Measurement<long>(server.DatagramsReceived, tags),
            "{datagram}", "UDP datagrams received.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsSent, () => new Measurement<long>(server.DatagramsSent, tags),
            "{datagram}", "UDP datagrams sent.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpBytesReceived, () => new Measurement<long>(server.BytesReceived, tags),
            "By", "UDP payload bytes received.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpBytesSent, () => new Measurement<long>(server.BytesSent, tags),
            "By", "UDP payload bytes sent.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpDatagramsDropped, () => new[]
            {
                new Measurement<long>(server.OversizeDrops, oversize),
                new Measurement<long>(server.OverloadDrops, overload),
            },
            "{datagram}", "UDP datagrams dropped: over MaxDatagramSize, or every handler busy.");
        _meter.CreateObservableCounter(SockeyeMetrics.UdpErrors, () => new[]
            {
                new Measurement<long>(server.HandlerErrors, handler),
                new Measurement<long>(server.ReceiveErrors, receive),
                new Measurement<long>(server.SendErrors, send),
            },
            "{error}", "UDP handler, receive and send errors.");
        _meter.CreateObservableUpDownCounter(SockeyeMetrics.UdpHandlersActive, () => new Measurement<long>(server.HandlersInFlight, tags),
            "{handler}", "UDP datagram handlers running now.");
    }

    public void Dispose() => _meter.Dispose();
}
