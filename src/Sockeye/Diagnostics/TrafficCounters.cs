namespace Sockeye.Diagnostics;

/// <summary>A server's byte counters, which its connections add to on every receive and flush.</summary>
/// <param name="Received">Bytes received from peers.</param>
/// <param name="Sent">Bytes the kernel took to send to peers.</param>
internal sealed record TrafficCounters(StripedCounter Received, StripedCounter Sent);
