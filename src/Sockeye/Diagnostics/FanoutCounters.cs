namespace Sockeye.Diagnostics;

/// <summary>A server's counts of messages sent to its connections from other tasks
/// (<see cref="Connection.TrySend(Fanout.OutgoingMessage)"/>, group broadcasts): queued, handed to the
/// kernel, dropped by a queue's policy, and the bytes queued and not yet sent over all connections.
/// Striped: a broadcast adds to them from many threads at once.</summary>
internal sealed class FanoutCounters
{
    /// <summary>Messages a connection's queue took.</summary>
    public StripedCounter Queued { get; } = new();

    /// <summary>Queued messages the kernel took.</summary>
    public StripedCounter Sent { get; } = new();

    /// <summary>Messages not delivered: refused by a full queue, dropped from it (drop-oldest), or still
    /// queued when the connection was disconnected or closed.</summary>
    public StripedCounter Dropped { get; } = new();

    /// <summary>Bytes queued on every connection and not yet taken by the kernel.</summary>
    public StripedCounter PendingBytes { get; } = new();
}
