namespace Sockeye.Diagnostics;

/// <summary>A server's traffic counters, which its connections add to on every receive, flush and decoded frame.</summary>
/// <param name="Received">Bytes received from peers.</param>
/// <param name="Sent">Bytes the kernel took to send to peers.</param>
/// <param name="Frames">Frames decoded by the framing helpers.</param>
internal sealed record TrafficCounters(StripedCounter Received, StripedCounter Sent, StripedCounter Frames);
