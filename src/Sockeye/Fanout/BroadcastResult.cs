namespace Sockeye.Fanout;

/// <summary>What one <see cref="ConnectionGroup.Broadcast(OutgoingMessage, Connection?)"/> did.</summary>
/// <param name="Queued">Members whose queue took the message.</param>
/// <param name="Dropped">Members that did not get it: their queue was full (dropped or disconnected) or
/// they were closing.</param>
public readonly record struct BroadcastResult(int Queued, int Dropped);
