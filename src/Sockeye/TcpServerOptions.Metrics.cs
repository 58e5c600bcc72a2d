namespace Sockeye;

public sealed partial class TcpServerOptions
{
    /// <summary>Whether the server publishes its metrics (<see cref="Diagnostics.SockeyeMetrics"/>) and
    /// counts the bytes it receives and sends.</summary>
    /// <remarks>Default: <see langword="true"/>. The cost while nothing listens is one interlocked add per
    /// receive and per flush (on a per-core cell, so cores do not contend) and one per connection at its
    /// end; with a listener such as the Prometheus exporter, a histogram record per connection end and a
    /// read of the counters per collection. Turn it off only to measure that cost: the connection counts
    /// on <see cref="TcpServer"/> are kept either way.</remarks>
    public bool EnableMetrics { get; set; } = true;
}
