namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    // The server's instruments, from listening until stopped.
    private Diagnostics.UdpServerMetrics? _metrics;

    // One handler-error line per second at most: a handler that fails on every datagram must not flood the log.
    private Diagnostics.LogRateLimiter? _handlerErrorLog;

    private Diagnostics.LogRateLimiter HandlerErrorLog =>
        _handlerErrorLog ??= new Diagnostics.LogRateLimiter(_time, TimeSpan.FromSeconds(1));
}
