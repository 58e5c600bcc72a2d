namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    // The server's instruments, from listening until stopped.
    private Diagnostics.UdpServerMetrics? _metrics;
}
