namespace Sockeye.Fanout;

/// <summary>What a connection's send queue does with a message that would take it past its limit
/// (<see cref="SendQueueOptions.HardLimit"/>).</summary>
public enum QueueOverflow
{
    /// <summary>Disconnect the connection (a slow consumer, <see cref="ConnectionCloseReason.SlowConsumer"/>):
    /// everything it was sent arrives in order or it is told nothing more. Redis's pub/sub and NATS
    /// do this. The default.</summary>
    Disconnect,

    /// <summary>Drop the new message and keep the connection: it misses messages, counted as dropped.</summary>
    DropNewest,

    /// <summary>Drop the oldest queued messages (never one partly sent) until the new one fits, and keep
    /// the connection: for latest-value feeds (prices, positions), where only the newest matters. The
    /// newest message is always kept (unless it alone is larger than the limit): while a batch already
    /// handed to the socket is waiting for the peer, the queue may pass the limit by that one message.</summary>
    DropOldest,
}
