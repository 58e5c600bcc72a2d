namespace Sockeye.Fanout;

/// <summary>What <see cref="Connection.TrySend(OutgoingMessage)"/> did with a message.</summary>
public enum SendResult
{
    /// <summary>Queued (or already sent): it goes out in order after what was queued before it.</summary>
    Queued,

    /// <summary>Not queued: the queue was full and its policy is <see cref="QueueOverflow.DropNewest"/>.</summary>
    Dropped,

    /// <summary>Not queued: the queue was full and the connection was disconnected as a slow consumer
    /// (<see cref="QueueOverflow.Disconnect"/>), now or because it stayed over the soft limit too long.</summary>
    Disconnected,

    /// <summary>Not queued: the connection is closed, closing or aborted.</summary>
    Closed,
}
